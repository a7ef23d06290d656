"""Argument checks shared by the whole library, with one error format.

Every public function validates its user-facing arguments through the helpers here, so that a
user sees the same kind of message everywhere::

    The 'k' parameter of relaxed_topk must be an int in [1, n] (n=10). Got 12 instead.
    Input 'scores' contains NaN at 3 positions; remove or impute them.

Values that are wrong raise :class:`ValueError`; values of the wrong type raise :class:`TypeError`.
Nothing here uses ``assert`` (it vanishes under ``python -O``).
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np

__all__ = [
    "param_error",
    "check_int",
    "check_positive_float",
    "check_dim",
    "check_scores",
    "check_k",
    "check_mask",
    "check_generator",
    "check_seed",
    "check_embeddings",
    "check_values",
]


def _show(value: Any) -> str:
    """A short, readable rendering of a user value for error messages."""
    if _is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def param_error(
    func: str, name: str, constraint: str, value: Any, *, kind: type[Exception] = ValueError
) -> Exception:
    """Build the one-format error for parameter ``name`` of ``func``.

    Returns the exception (the caller raises it) so that tracebacks point at the caller.
    """
    return kind(
        f"The '{name}' parameter of {func} must be {constraint}. Got {_show(value)} instead."
    )


def check_int(
    value: Any,
    name: str,
    func: str,
    *,
    low: int | None = None,
    high: int | None = None,
    extra: str = "",
    high_label: str | None = None,
) -> int:
    """Check that ``value`` is an integer (not a bool) within ``[low, high]``; return it as ``int``.

    ``high_label`` names the upper bound in the message (e.g. ``"n"``), ``extra`` follows it.
    """
    lo = "-inf" if low is None else str(low)
    hi = high_label or ("inf" if high is None else str(high))
    constraint = f"an int in [{lo}, {hi}]{extra}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise param_error(func, name, constraint, value, kind=TypeError)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise param_error(func, name, constraint, value)
    return value


def check_positive_float(value: Any, name: str, func: str) -> float:
    """Check that ``value`` is a real number that is finite and > 0; return it as ``float``."""
    constraint = "a finite float > 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise param_error(func, name, constraint, value, kind=TypeError)
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise param_error(func, name, constraint, value)
    return value


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


def _count(mask) -> int:
    return int(mask.sum())


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


def check_seed(seed: Any, func: str) -> np.random.Generator:
    """Turn ``seed`` (None, an int >= 0, or a numpy Generator) into a ``numpy.random.Generator``."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise param_error(
            func,
            "seed",
            "None, an int >= 0 or a numpy.random.Generator",
            seed,
            kind=TypeError if not isinstance(seed, numbers.Integral) else ValueError,
        )
    return np.random.default_rng(int(seed))


def check_embeddings(X: Any, func: str, name: str = "X", *, dtype=np.float64) -> np.ndarray:
    """Check a 2-d array of embeddings (n, d): numeric, non-empty, finite. Returns a numpy array.

    Accepts numpy arrays, array-likes and CPU torch tensors (converted without copying where
    possible). ``dtype=None`` keeps float32 data in float32 (no copy) and makes anything else
    float64. Object arrays are refused (``allow_pickle`` is never needed for embeddings).
    """
    if _is_tensor(X):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(
            f"Input '{name}' of {func} must be a 2-d numeric array (n, d); got {type(X).__name__}."
        )
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"Input '{name}' of {func} must be numeric; got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(
            f"Input '{name}' of {func} must be 2-d (n, d); got shape {arr.shape}. "
            f"Reshape a single feature with X.reshape(-1, 1)."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"Input '{name}' of {func} is empty (shape {arr.shape}); pass at least "
            f"one row and one column."
        )
    if dtype is None:  # keep single or double precision; anything else becomes float64
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = arr.astype(dtype, copy=False)
    step = max(1, 1_048_576 // arr.shape[1])  # rows per check: O(1 MB) of flags, not O(n d)
    for lo in range(0, arr.shape[0], step):
        if not np.isfinite(arr[lo : lo + step]).all():
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            what = "NaN" if np.isnan(arr).any() else "infinite values"
            raise ValueError(
                f"Input '{name}' of {func} contains {what} at {bad} positions; "
                f"remove or impute them."
            )
    return arr


def _is_tensor(x: Any) -> bool:
    """``isinstance(x, torch.Tensor)`` without importing torch (200 MB) when nobody has."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def check_values(v: Any, n: int, func: str, name: str, *, nonnegative: bool = False) -> np.ndarray:
    """Check a 1-d array of ``n`` finite reals (``nonnegative`` also rejects values < 0)."""
    arr = np.asarray(v, dtype=np.float64) if not isinstance(v, np.ndarray) else v.astype(np.float64)
    arr = np.ravel(arr) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.shape != (n,):
        raise ValueError(f"'{name}' of {func} must have shape ({n},); got {np.shape(v)}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"'{name}' of {func} contains NaN or infinite values at {int(bad.sum())} positions."
        )
    if nonnegative and (arr < 0).any():
        raise ValueError(
            f"'{name}' of {func} must be >= 0; got {int((arr < 0).sum())} negative "
            f"values (min {arr.min():.4g}). Losses are non-negative by definition."
        )
    return arr
