"""Loss oracles for PyTorch models: what :class:`SensitivitySampling` queries at the centres.

An oracle is a callable ``oracle(indices) -> losses`` (non-negative, shape (len(indices),)).
These build one from a model and labelled data, evaluated in batches without gradients
(:func:`loss_oracle`) or as the squared norm of each example's own gradient
(:func:`gradient_norm_oracle`, batched with ``torch.func``). torch is imported on use only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._validation import check_int

__all__ = ["loss_oracle", "gradient_norm_oracle"]


def _as_tensor(a, torch, dtype=None):
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    return t.to(dtype) if dtype is not None else t


def _default_loss(torch):
    return lambda logits, target: torch.nn.functional.cross_entropy(
        logits, target, reduction="none"
    )


def _check_common(X, y, batch_size, func):
    import torch

    X = _as_tensor(X, torch)
    y = _as_tensor(y, torch)
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{func}: X and y must have the same number of rows; got {X.shape[0]} and {y.shape[0]}."
        )
    check_int(batch_size, "batch_size", func, low=1)
    return torch, X, y


def _index(indices, n, func):
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(
            f"{func}: indices must lie in [0, {n}); got min {idx.min()}, max {idx.max()}."
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
    y : array or Tensor, shape (n, ...)
    loss_fn : callable, optional
        ``loss_fn(outputs, targets) -> (b,)`` per-example losses; default cross-entropy.
    batch_size : int
    device : torch device, optional
        Where to run; default the model's device.

    Returns
    -------
    callable
        ``oracle(indices) -> ndarray (len(indices),)`` of float64. O(len(indices)) forward passes.
    """
    func = "loss_oracle"
    torch, X, y = _check_common(X, y, batch_size, func)
    loss_fn = loss_fn or _default_loss(torch)

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
                    out.append(loss_fn(model(X[b].to(dev)), y[b].to(dev)).reshape(-1).cpu())
        finally:
            model.train(was_training)
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    return oracle


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
    loss_fn : callable, optional
        ``loss_fn(outputs, targets) -> (b,)``; default cross-entropy.
    batch_size : int
    params : "all", "last" or list of parameter names
        Which parameters the gradient is taken with respect to; ``"last"`` is the last layer's
        (the parameters registered last, e.g. the output layer's weight and bias), the cheap
        proxy used in practice.

    Returns
    -------
    callable
        ``oracle(indices) -> ndarray (len(indices),)`` of float64. Memory O(batch_size * P) for P
        differentiated parameters.
    """
    func = "gradient_norm_oracle"
    torch, X, y = _check_common(X, y, batch_size, func)
    from torch.func import functional_call, grad, vmap

    loss_fn = loss_fn or _default_loss(torch)
    named = dict(model.named_parameters())
    if params == "all":
        names = list(named)
    elif params == "last":
        last_module = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
        prefix = (
            {id(p) for p in last_module[-1].parameters(recurse=False)} if last_module else set()
        )
        names = [n for n, p in named.items() if id(p) in prefix]
    else:
        names = list(params)
        missing = [n for n in names if n not in named]
        if missing:
            raise ValueError(
                f"{func}: unknown parameter names {missing}; choose from {list(named)}."
            )
    if not names:
        raise ValueError(f"{func}: the model has no parameters to differentiate.")

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
