"""Checks for torch inputs of the operators: scores, k, masks, axes, generators."""

from __future__ import annotations

import numbers
from typing import Any

from ._core import check_int, param_error

__all__ = [
    "check_dim",
    "check_scores",
    "check_k",
    "check_mask",
    "check_generator",
    "check_integers",
]


def _count(mask) -> int:
    return int(mask.sum())


def check_dim(dim: Any, ndim: int, func: str, name: str = "dim") -> int:
    """Normalize a possibly negative axis ``dim`` for a tensor with ``ndim`` axes."""
    if ndim == 0:
        raise ValueError(f"{func} needs at least one axis to choose from; got a 0-d input.")
    constraint = f"an int in [{-ndim}, {ndim - 1}] (the input has {ndim} axes)"
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise param_error(func, name, constraint, dim, kind=TypeError)
    if not -ndim <= int(dim) < ndim:
        raise param_error(func, name, constraint, dim)
    return int(dim) % ndim


def check_scores(x: Any, name: str, func: str, *, allow_neg_inf: bool = False):
    """Check a floating-point torch tensor of scores / logits.

    Rejects non-tensors (``TypeError``), non-floating dtypes (``TypeError``), empty tensors, NaN and
    ``+inf`` (``ValueError``). ``-inf`` is rejected too unless ``allow_neg_inf`` (then it means
    "weight zero": the item can never be chosen).
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"Input '{name}' of {func} must be a torch.Tensor; got {type(x).__name__}. "
            f"Convert it with torch.as_tensor(..., dtype=torch.float32)."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"Input '{name}' of {func} must have a floating dtype; got {x.dtype}. "
            f"Convert it with .float() or .double()."
        )
    if x.numel() == 0:
        raise ValueError(
            f"Input '{name}' of {func} is empty (shape {tuple(x.shape)}); pass at least one item."
        )
    nan = torch.isnan(x)
    if bool(nan.any()):
        raise ValueError(
            f"Input '{name}' of {func} contains NaN at {_count(nan)} positions; remove or impute them."
        )
    bad = torch.isinf(x) if not allow_neg_inf else torch.isposinf(x)
    if bool(bad.any()):
        what = "infinite values" if not allow_neg_inf else "+inf"
        hint = (
            "" if not allow_neg_inf else " (-inf is allowed and means the item can never be chosen)"
        )
        raise ValueError(
            f"Input '{name}' of {func} contains {what} at {_count(bad)} positions{hint}; "
            f"clip or remove them."
        )
    return x


def check_k(
    k: Any,
    n: int,
    batch_shape: tuple[int, ...],
    func: str,
    *,
    allow_tensor: bool = True,
    device=None,
):
    """Check subset size ``k``: an int in [1, n], or an integer tensor of shape ``batch_shape``.

    Returns ``(k_max, k_tensor_or_None)``: ``k_max`` is a Python int; ``k_tensor`` is a long tensor
    of shape ``batch_shape`` when ``k`` was given per row, else ``None``.
    """
    import torch

    if (
        isinstance(k, torch.Tensor)
        and k.ndim == 0
        and not k.is_floating_point()
        and k.dtype != torch.bool
    ):
        k = int(k)
    if isinstance(k, torch.Tensor):
        if not allow_tensor:
            raise param_error(func, "k", f"an int in [1, n] (n={n})", k, kind=TypeError)
        if k.is_floating_point() or k.is_complex() or k.dtype == torch.bool:
            raise param_error(func, "k", "an int or an integer tensor", k, kind=TypeError)
        if tuple(k.shape) != tuple(batch_shape):
            raise ValueError(
                f"The 'k' parameter of {func} must be an int or a tensor with one k per row, of shape "
                f"{tuple(batch_shape)}. Got a tensor of shape {tuple(k.shape)} instead."
            )
        if k.numel() and (int(k.min()) < 1 or int(k.max()) > n):
            bad = int(((k < 1) | (k > n)).sum())
            raise ValueError(
                f"The 'k' parameter of {func} must hold ints in [1, n] (n={n}). Got {bad} entries "
                f"outside that range (min {int(k.min())}, max {int(k.max())}) instead."
            )
        k = k.to(device=device, dtype=torch.long)
        return (int(k.max()) if k.numel() else 1), k
    return check_int(k, "k", func, low=1, high=n, high_label="n", extra=f" (n={n})"), None


def check_mask(mask: Any, shape: tuple[int, ...], name: str, func: str):
    """Check a 0/1 subset mask of exactly ``shape``; return it as a bool tensor."""
    import torch

    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"Input '{name}' of {func} must be a torch.Tensor of 0/1 values; got {type(mask).__name__}."
        )
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"Input '{name}' of {func} must have the shape of the logits, {tuple(shape)}. "
            f"Got shape {tuple(mask.shape)} instead; broadcast or reshape it first."
        )
    if mask.is_complex():
        raise TypeError(
            f"Input '{name}' of {func} must be a real 0/1 or bool tensor; got dtype {mask.dtype}."
        )
    if mask.dtype == torch.bool:
        return mask
    bad = (mask != 0) & (mask != 1)
    if bool(bad.any()):
        raise ValueError(
            f"Input '{name}' of {func} must hold only 0 and 1; found {_count(bad)} other values. "
            f"Threshold a relaxed mask (e.g. mask > 0.5) first."
        )
    return mask != 0


def check_generator(generator: Any, func: str, device=None):
    """Check that ``generator`` is ``None`` or a ``torch.Generator`` on ``device``'s type."""
    import torch

    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise param_error(func, "generator", "None or a torch.Generator", generator, kind=TypeError)
    if device is not None and torch.device(generator.device).type != torch.device(device).type:
        raise ValueError(
            f"The 'generator' parameter of {func} must live on the input's device ({device}). Got a "
            f"generator on {generator.device} instead; create it with torch.Generator(device=...)."
        )
    return generator


def check_integers(
    x: Any,
    name: str,
    func: str,
    *,
    device=None,
    resolution: float | None = None,
    rounding: str = "ceil",
    what: str = "non-negative integers",
):
    """Check non-negative whole numbers (weights, capacities) given as a tensor, array or scalar.

    Returns a long tensor on ``device``. Floats are accepted when they hold whole numbers. With
    ``resolution`` (a positive float) real values are scaled by ``1 / resolution`` and rounded
    (``rounding="ceil"`` for weights, ``"floor"`` for capacities), so that a set feasible for the
    rounded integers is feasible for the real values (up to the 1e-9 of a unit by which the
    quotient is rounded before, so that float noise such as ``0.3 / 0.1`` does not cost a unit).
    """
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        if isinstance(x, (str, bytes, dict, set)) or x is None:
            raise TypeError(
                f"Input '{name}' of {func} must be {what} (an int, a tensor or an array); "
                f"got {type(x).__name__}."
            )
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(
                f"Input '{name}' of {func} must be {what} (an int, a tensor or an array); "
                f"could not read it as an array ({exc})."
            ) from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Input '{name}' of {func} must hold real numbers; got dtype {arr.dtype}."
            )
        t = torch.from_numpy(np.array(arr, copy=True))  # (ascontiguousarray makes 0-d 1-d)
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"Input '{name}' of {func} must hold {what}; got dtype {t.dtype}.")
    t = t.to(device=device if device is not None else t.device)
    if t.is_floating_point() or resolution is not None:
        f = t.double()
        bad = ~torch.isfinite(f)
        if bool(bad.any()):
            raise ValueError(
                f"Input '{name}' of {func} contains NaN or infinite values at {_count(bad)} "
                f"positions; {what} must be finite."
            )
        if bool((f < 0).any()):
            raise ValueError(
                f"Input '{name}' of {func} contains {_count(f < 0)} negative values (min "
                f"{float(f.min()):g}); it must hold {what}."
            )
        if resolution is not None:
            # Round the quotient to 9 decimals first, so that 0.3 / 0.1 = 2.9999999999999996 and
            # 0.1 * 3 / 0.1 = 3.0000000000000004 both count as 3 units.
            f = torch.round(f / resolution, decimals=9)
            f = torch.ceil(f) if rounding == "ceil" else torch.floor(f)
        elif bool((f != torch.round(f)).any()):
            raise ValueError(
                f"Input '{name}' of {func} holds {_count(f != torch.round(f))} non-integer values; "
                f"it must hold {what}. Pass resolution=<unit> to scale and round real values."
            )
        if bool((f > 2**62).any()):
            raise ValueError(f"Input '{name}' of {func} holds values too large for int64.")
        return f.long()
    t = t.long()
    if bool((t < 0).any()):
        raise ValueError(
            f"Input '{name}' of {func} contains {_count(t < 0)} negative values (min "
            f"{int(t.min())}); it must hold {what}."
        )
    return t
