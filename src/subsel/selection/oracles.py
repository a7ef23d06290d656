"""Loss oracles for PyTorch models: what :class:`SensitivitySampling` queries at the centres.

An oracle is a callable ``oracle(indices) -> losses`` (non-negative, shape (len(indices),)).
These build one from a model and labelled data, evaluated in batches without gradients
(:func:`loss_oracle`) or as the squared norm of each example's own gradient
(:func:`gradient_norm_oracle`, batched with ``torch.func``). torch is imported on use only.

Floating-point data are cast to the model's dtype (float64 arrays with a float32 model are
the common case); integer data (token ids, class labels) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._validation import (
    as_real_array,
    check_callable,
    check_index_array,
    check_int,
    input_error,
    param_error,
)

__all__ = ["loss_oracle", "gradient_norm_oracle"]


def _default_loss(torch):
    return lambda logits, target: torch.nn.functional.cross_entropy(
        logits, target, reduction="none"
    )


def _as_tensor(value, name: str, func: str, torch, dtype):
    """A real tensor with at least one row and finite floating values; floating values are
    cast to ``dtype`` (the model's)."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise input_error(
                func, name, f"must be real; got complex dtype {value.dtype}", kind=TypeError
            )
        t = value.detach()
    else:
        t = torch.as_tensor(as_real_array(value, name, func, what="an array with n rows"))
    if t.ndim == 0 or t.shape[0] == 0:
        raise input_error(func, name, f"must have at least one row; got shape {tuple(t.shape)}")
    if t.is_floating_point():
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise input_error(
                func, name, f"contains NaN or infinite values at {bad} positions",
                "remove or impute them",
            )  # fmt: skip
        t = t.to(dtype)
    return t


def _check_common(model, X, y, loss_fn, batch_size, func):
    import torch

    if not isinstance(model, torch.nn.Module):
        raise param_error(func, "model", "a torch.nn.Module", model, kind=TypeError)
    floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
    dtype = floats[0] if floats else torch.get_default_dtype()
    X = _as_tensor(X, "X", func, torch, dtype)
    y = _as_tensor(y, "y", func, torch, dtype)
    if X.shape[0] != y.shape[0]:
        raise input_error(
            func,
            "y",
            f"must have one row per row of X ({X.shape[0]}); got {y.shape[0]}",
            "X and y must have the same number of rows",
        )
    loss_fn = _default_loss(torch) if loss_fn is None else check_callable(loss_fn, "loss_fn", func)
    check_int(batch_size, "batch_size", func, low=1)
    return torch, X, y, loss_fn


def _index(indices, n: int, func: str) -> np.ndarray:
    """Integer indices in [0, n) (repeats allowed); floats with fractions are refused."""
    idx = check_index_array(indices, "indices", func, ndim=None).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise input_error(
            func,
            "indices",
            f"must lie in [0, {n - 1}] (n={n}); got min {idx.min()}, max {idx.max()}",
        )
    return idx


def loss_oracle(
    model, X, y, *, loss_fn: Callable | None = None, batch_size: int = 1024, device=None
) -> Callable[[np.ndarray], np.ndarray]:
    """Per-example loss of ``model`` on ``(X[indices], y[indices])``.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in ``eval`` mode under ``torch.no_grad`` (its mode is restored afterwards).
    X : array or Tensor, shape (n, ...)
        Finite; floating values are cast to the model's dtype.
    y : array or Tensor, shape (n, ...)
    loss_fn : callable, optional
        ``loss_fn(outputs, targets) -> (b,)`` per-example losses (``reduction="none"``); default
        cross-entropy. A loss that returns anything else (e.g. one mean for the batch) is refused.
    batch_size : int >= 1
    device : torch device, optional
        Where to run; default the model's device.

    Returns
    -------
    callable
        ``oracle(indices) -> ndarray (len(indices),)`` of float64 for integer ``indices`` in
        [0, n). O(len(indices)) forward passes.
    """
    func = "loss_oracle"
    torch, X, y, loss_fn = _check_common(model, X, y, loss_fn, batch_size, func)

    def oracle(indices):
        idx = _index(indices, X.shape[0], func)
        dev = device or next(model.parameters()).device
        was_training = model.training
        model.eval()
        out = []
        try:
            with torch.no_grad():
                for lo in range(0, idx.size, batch_size):
                    b = torch.as_tensor(idx[lo : lo + batch_size])
                    loss = loss_fn(model(X[b].to(dev)), y[b].to(dev))
                    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != (len(b),):
                        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else loss
                        raise input_error(
                            func,
                            "loss_fn",
                            f"returned {shape!r} for a batch of {len(b)} examples, not one loss "
                            f"per example of shape ({len(b)},)",
                            "use a per-example loss (reduction='none')",
                        )
                    out.append(loss.cpu())
        finally:
            model.train(was_training)
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    return oracle


def _parameter_names(model, params, func: str) -> list[str]:
    named = dict(model.named_parameters())
    if isinstance(params, str):
        if params == "all":
            return list(named)
        if params != "last":
            raise param_error(func, "params", "'all', 'last' or a list of parameter names", params)
        owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
        last = {id(p) for p in owners[-1].parameters(recurse=False)} if owners else set()
        return [n for n, p in named.items() if id(p) in last]
    if not isinstance(params, (list, tuple)) or not all(isinstance(n, str) for n in params):
        raise param_error(
            func, "params", "'all', 'last' or a list of parameter names", params, kind=TypeError
        )
    missing = [n for n in params if n not in named]
    if missing:
        raise param_error(
            func, "params", f"'all', 'last' or a list of names among {list(named)}", params
        )
    return list(params)


def gradient_norm_oracle(
    model,
    X,
    y,
    *,
    loss_fn: Callable | None = None,
    batch_size: int = 256,
    params: str | Sequence[str] = "all",
    device=None,
):
    """Squared norm of each example's own loss gradient, ``||grad_theta l(x_i, y_i)||^2``.

    Batched with ``torch.func.vmap(grad(...))`` over ``functional_call``, so each batch costs one
    vectorized backward instead of one backward per example.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in ``eval`` mode (so batch statistics do not mix examples).
    X, y : arrays or Tensors with n rows
        Finite; floating values are cast to the model's dtype.
    loss_fn : callable, optional
        ``loss_fn(outputs, targets)`` for one example (a batch of 1); its sum is differentiated;
        default cross-entropy.
    batch_size : int >= 1
    params : "all", "last" or list of parameter names
        Which parameters the gradient is taken with respect to; ``"last"`` is the last layer's
        (the parameters registered last, e.g. the output layer's weight and bias), the cheap
        proxy used in practice. Any other string is refused.

    Returns
    -------
    callable
        ``oracle(indices) -> ndarray (len(indices),)`` of float64. Memory O(batch_size * P) for P
        differentiated parameters.
    """
    func = "gradient_norm_oracle"
    torch, X, y, loss_fn = _check_common(model, X, y, loss_fn, batch_size, func)
    from torch.func import functional_call, grad, vmap

    names = _parameter_names(model, params, func)
    if not names:
        raise param_error(func, "model", "a torch.nn.Module with parameters", model)
    named = dict(model.named_parameters())

    def single_loss(diff, fixed, xi, yi):
        out = functional_call(model, {**fixed, **diff}, (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0)).sum()

    per_example = vmap(grad(single_loss), in_dims=(None, None, 0, 0))

    def oracle(indices):
        idx = _index(indices, X.shape[0], func)
        dev = device or next(model.parameters()).device
        diff = {n: named[n].detach() for n in names}
        fixed = {n: p.detach() for n, p in named.items() if n not in diff}
        was_training = model.training
        model.eval()
        out = []
        try:
            for lo in range(0, idx.size, batch_size):
                b = torch.as_tensor(idx[lo : lo + batch_size])
                grads = per_example(diff, fixed, X[b].to(dev), y[b].to(dev))
                sq = sum(g.reshape(g.shape[0], -1).pow(2).sum(1) for g in grads.values())
                out.append(sq.detach().cpu())
        finally:
            model.train(was_training)
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    return oracle
