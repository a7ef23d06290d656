"""Decision-focused learning (DFL) of knapsack item values through the DP knapsack layer.

The task (predict-then-optimize): from features ``x`` (p,) predict the values ``c_hat`` (n,) of n
items, then choose the items by the exact 0/1 knapsack

    x*(c) = argmax_{S in {0,1}^n, <w, S> <= capacity} <c, S>,      z*(c) = <c, x*(c)>,

and pay the regret ``z*(c) - <c, x*(c_hat)>`` under the true values ``c``. Training the predictor
on the regret itself is hopeless (``x*`` is piecewise constant), so we train through the smoothed
DP of :func:`subsel.ops.soft_knapsack`, whose value

    V_tau(theta) = smoothed max over the knapsack DP table,   grad V_tau(theta) = y_tau(theta)
                 = soft_knapsack(theta)   (for "shannon": tau * log sum_S exp(<theta, S> / tau))

is convex in theta, with three losses:

- ``"fy"`` (Fenchel-Young): ``L(theta; y) = V_tau(theta) - <theta, y>`` with ``y = x*(c)`` the
  exact solution for the true values. ``L >= 0`` (``V_tau(theta) >= max_S <theta, S> >= <theta, y>``
  for every regularizer here, as the regularizer vanishes at a vertex), it is convex in theta and
  its gradient is ``soft_knapsack(theta) - y``: one forward DP and one reverse sweep, no Hessian.
- ``"spo"`` (smoothed SPO+): the same Fenchel-Young loss at the cost-augmented point
  ``2 theta - c``, ``L = V_tau(2 theta - c) - <2 theta - c, x*(c)>``; as ``tau -> 0`` it is exactly
  the SPO+ loss of Elmachtoub & Grigas (``max_S <2 theta - c, S> - 2 <theta, x*(c)> + z*(c)``),
  so it puts the true values' margin into the smoothed loss. Gradient
  ``2 (soft_knapsack(2 theta - c) - x*(c))``, one DP per instance.
- ``"regret"``: the smoothed normalised regret ``sum_i (z*(c_i) - <c_i, y_tau(theta_i)>) /
  sum_i z*(c_i)`` of a batch; its gradient goes through the backward of ``soft_knapsack``
  (a Hessian-vector product of V_tau, one more DP sweep).

Besides: :func:`normalized_regret` (the test metric), :func:`train_knapsack_predictor` (a linear
model, ``torch.nn.Linear``, trained with either loss, the two-stage ``"mse"`` baseline, or any
callable loss) and ``KnapsackDP``, an adapter to PyEPO's ``optModel`` that solves with our exact
:func:`subsel.ops.knapsack`, so PyEPO's SPO+ and perturbed Fenchel-Young losses need no commercial
solver. PyEPO is imported only when ``KnapsackDP`` is first used (the ``bench`` extra).

Weights are non-negative integers (or reals with ``resolution``, rounded up to it); the DP costs
O(n * capacity) per instance (capacity in units of ``resolution``), vectorised over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import ops as _ops
from .._validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_int,
    check_integers,
    check_positive_float,
    check_seed,
    input_error,
    param_error,
)

__all__ = [
    "fy_loss",
    "spo_loss",
    "normalized_regret",
    "regret_loss",
    "train_knapsack_predictor",
    "KnapsackDP",  # noqa: F822  (module __getattr__: imports PyEPO on first use)
]

REGULARIZERS = ("shannon", "gini", "tsallis")
LOSSES = ("fy", "spo", "regret", "mse")
BACKENDS = ("auto", "torch", "numba", "triton")


# ----------------------------------------------------------------------------- validation
def _as_values(value: Any, name: str, func: str, *, ndim: int | None = 2) -> torch.Tensor:
    """A finite real array / tensor as a float tensor (float32 stays float32, else float64)."""
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
            raise input_error(func, name, f"must be real; got dtype {value.dtype}", kind=TypeError)
        t = value if value.is_floating_point() else value.double()
    else:
        arr = as_real_array(value, name, func)
        t = torch.as_tensor(arr if arr.dtype == np.float32 else arr.astype(np.float64))
    if ndim is not None and t.ndim != ndim:
        want = "(m, n), one row per instance" if ndim == 2 else f"{ndim}-d"
        raise input_error(func, name, f"must have shape {want}; got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise input_error(func, name, f"is empty (shape {tuple(t.shape)})", "pass at least one row")
    bad = ~torch.isfinite(t.detach())
    if bool(bad.any()):
        raise input_error(
            func, name, f"contains NaN or inf at {int(bad.sum())} positions", "remove them"
        )
    return t


def _check_problem(
    weights: Any, capacity: Any, m: int, n: int, func: str, resolution: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer weights ``(n,)`` or ``(m, n)`` and capacities ``(m,)`` as int64 tensors.

    With ``resolution`` (as in :func:`subsel.ops.knapsack`) the weights become
    ``ceil(w / resolution)`` and the capacity ``floor(capacity / resolution)``: every set feasible
    for the rounded problem is feasible for the real one.
    """
    if resolution is not None:
        resolution = check_positive_float(resolution, "resolution", func)
    w = check_integers(weights, "weights", func, resolution=resolution, rounding="ceil")
    if w.ndim not in (1, 2) or w.shape[-1] != n or (w.ndim == 2 and w.shape[0] not in (1, m)):
        raise input_error(
            func,
            "weights",
            f"must have shape ({n},) or ({m}, {n}) (one weight per item, n={n} items, m={m} "
            f"instances); got shape {tuple(w.shape)}",
        )
    cap = check_integers(capacity, "capacity", func, resolution=resolution, rounding="floor")
    if cap.ndim > 1 or (cap.ndim == 1 and cap.shape[0] not in (1, m)):
        raise input_error(
            func, "capacity", f"must be a number or have shape ({m},); got shape {tuple(cap.shape)}"
        )
    return w.cpu(), cap.cpu().expand(m).clone()


def _check_regularizer(regularizer: Any, func: str) -> str:
    return check_choice(regularizer, REGULARIZERS, "regularizer", func)


# ----------------------------------------------------------------------------- exact solutions
def _solve(values: torch.Tensor, w: torch.Tensor, cap: torch.Tensor, backend="auto"):
    """Exact 0/1 solutions ``(m, n)`` (values' dtype) for ``values`` (m, n), one DP per row."""
    with torch.no_grad():
        return _ops.knapsack(values.detach(), w, cap, backend=backend)


def normalized_regret(
    pred_values: Any,
    true_values: Any,
    weights: Any,
    capacity: Any,
    *,
    resolution: float | None = None,
    backend: str = "auto",
    reduction: str = "normalized",
) -> float | np.ndarray:
    """Normalised regret of the decisions taken on predicted item values (maximisation).

    With ``x*(c)`` the exact knapsack solution for values ``c`` (:func:`subsel.ops.knapsack`) and
    ``z*(c) = <c, x*(c)>``::

        regret = sum_i (z*(c_i) - <c_i, x*(c_hat_i)>) / sum_i z*(c_i)

    0 for perfect predictions (or any prediction with the same optimal decisions), in [0, 1]
    when the values are non-negative. Ties in ``c_hat`` are broken by the solver (it skips an item
    when taking and skipping are worth the same).

    Parameters
    ----------
    pred_values : array or tensor, shape (m, n)
        Predicted item values ``c_hat``, one row per instance (an (n,) vector is one instance).
    true_values : array or tensor, shape (m, n)
        True item values ``c``; ``sum_i z*(c_i)`` must be > 0.
    weights : array, shape (n,) or (m, n)
        Non-negative integer item weights (reals with ``resolution``, rounded up to it).
    capacity : int or array of shape (m,)
        Knapsack capacity (>= 0), one for all instances or one per instance.
    resolution : float, optional
        Unit of the weights and capacity when they are not integers (e.g. 0.01): weights are
        rounded up to it and the capacity down, as in :func:`subsel.ops.knapsack`.
    backend : {"auto", "torch", "numba", "triton"}
        DP backend of :func:`subsel.ops.knapsack` ("auto": numba on CPU, triton on CUDA).
    reduction : {"normalized", "none"}
        ``"none"`` returns the per-instance regrets ``z*(c_i) - <c_i, x*(c_hat_i)>`` (m,).

    Returns
    -------
    float, or ndarray of shape (m,) for ``reduction="none"``.

    Complexity: two exact DPs per instance, O(m * n * capacity) time, O(n * capacity) memory per
    instance.
    """
    func = "normalized_regret"
    pred = _as_values(pred_values, "pred_values", func, ndim=None)
    true = _as_values(true_values, "true_values", func, ndim=None)
    if pred.ndim == 1:
        pred = pred[None]
    if true.ndim == 1:
        true = true[None]
    if pred.ndim != 2 or pred.shape != true.shape:
        raise input_error(
            func,
            "pred_values",
            f"must have the shape of 'true_values' {tuple(true.shape)}, (m, n) with one row per "
            f"instance; got shape {tuple(pred.shape)}",
        )
    reduction = check_choice(reduction, ("normalized", "none"), "reduction", func)
    backend = check_choice(backend, BACKENDS, "backend", func)
    m, n = true.shape
    w, cap = _check_problem(weights, capacity, m, n, func, resolution)
    true64 = true.detach().double()
    x_true = _solve(true64, w, cap, backend)
    x_pred = _solve(pred.detach().double(), w, cap, backend)
    z_true = (true64 * x_true).sum(-1)
    per = z_true - (true64 * x_pred).sum(-1)
    if reduction == "none":
        return per.numpy()
    total = float(z_true.sum())
    if not total > 0:
        raise input_error(
            func,
            "true_values",
            f"give a total optimal value sum_i z*(c_i) = {total:.4g}, but the normalisation "
            "needs it > 0",
            "use reduction='none' for the raw regrets",
        )
    return float(per.sum()) / total


# ----------------------------------------------------------------------------- losses
def _loss_inputs(
    func, theta, target, name, weights, capacity, tau, regularizer, resolution, backend
):
    """The checked inputs of the three losses: ``theta`` (m, n), the ``target`` of the same
    shape (as ``name``), the problem and the smoothing settings."""
    th = _as_values(theta, "theta", func)
    t = _as_values(target, name, func).to(th.dtype)
    if t.shape != th.shape:
        raise input_error(
            func, name, f"must have the shape of 'theta' {tuple(th.shape)}; got {tuple(t.shape)}"
        )
    tau = check_positive_float(tau, "tau", func)
    backend = check_choice(backend, BACKENDS, "backend", func)
    reg = _check_regularizer(regularizer, func)
    w, cap = _check_problem(weights, capacity, th.shape[0], th.shape[1], func, resolution)
    return th, t, w, cap, tau, reg, backend


def fy_loss(
    theta: torch.Tensor,
    y_true: Any,
    weights: Any,
    capacity: Any,
    *,
    tau: float = 1.0,
    regularizer: str = "shannon",
    resolution: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Fenchel-Young loss of the smoothed DP knapsack, per instance.

    ``L(theta; y) = V_tau(theta) - <theta, y>`` with ``V_tau`` = :func:`subsel.ops.knapsack_value`
    (for Shannon ``tau * log sum_{S feasible} exp(<theta, S> / tau)``). Convex in theta, ``>= 0``
    when ``y`` is a feasible 0/1 solution (the regularizer vanishes at a vertex, so
    ``V_tau(theta) >= max_S <theta, S> >= <theta, y>``). Its gradient is
    ``soft_knapsack(theta) - y``: the forward DP returns the value and the soft solution together,
    and the backward multiplies the saved soft solution (no Hessian-vector product).

    Parameters
    ----------
    theta : tensor, shape (m, n)
        Predicted values (the output of the model).
    y_true : tensor or array, shape (m, n)
        Target solutions, usually the exact ``knapsack`` of the true values.
    weights, capacity, resolution, backend : as in :func:`normalized_regret`.
    tau : float > 0
    regularizer : {"shannon", "gini", "tsallis"}

    Returns
    -------
    tensor, shape (m,)

    Complexity: O(m * n * capacity) time and memory (one DP forward and reverse sweep); the
    backward is O(m * n).
    """
    func = "fy_loss"
    th, y, w, cap, tau, reg, backend = _loss_inputs(
        func, theta, y_true, "y_true", weights, capacity, tau, regularizer, resolution, backend
    )
    return _fy(th, y.detach(), w, cap, tau, reg, backend)


def _fy(theta, y_true, w, cap, tau, reg, backend):
    value = _ops.knapsack_value(theta, w, cap, tau=tau, regularizer=reg, backend=backend)
    return value - (theta * y_true).sum(-1)


def spo_loss(
    theta: torch.Tensor,
    true_values: Any,
    weights: Any,
    capacity: Any,
    *,
    tau: float = 1.0,
    regularizer: str = "shannon",
    resolution: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Smoothed SPO+ loss through the DP knapsack, per instance.

    ``L(theta; c) = V_tau(2 theta - c) - <2 theta - c, x*(c)>`` with ``V_tau`` =
    :func:`subsel.ops.knapsack_value` and ``x*(c)`` the exact solution of the true values: the
    Fenchel-Young loss of :func:`fy_loss` taken at the cost-augmented point ``2 theta - c``.
    Convex in theta, ``>= 0``; as ``tau -> 0`` it tends to the SPO+ loss (Elmachtoub & Grigas,
    2022) ``max_S <2 theta - c, S> - 2 <theta, x*(c)> + z*(c)``, an upper bound of the regret.
    Gradient ``2 (soft_knapsack(2 theta - c) - x*(c))``.

    Parameters
    ----------
    theta : tensor, shape (m, n)
    true_values : tensor or array, shape (m, n)
    weights, capacity, resolution, backend, tau, regularizer : as in :func:`fy_loss`.

    Returns
    -------
    tensor, shape (m,)

    Complexity: O(m * n * capacity) time and memory (one exact DP for ``x*(c)`` and one
    smoothed DP with its reverse sweep); the backward is O(m * n).
    """
    func = "spo_loss"
    th, c, w, cap, tau, reg, backend = _loss_inputs(
        func,
        theta,
        true_values,
        "true_values",
        weights,
        capacity,
        tau,
        regularizer,
        resolution,
        backend,
    )
    y = _solve(c, w, cap, backend).to(th.dtype)
    return _fy(2 * th - c, y, w, cap, tau, reg, backend)


def regret_loss(
    theta: torch.Tensor,
    true_values: Any,
    weights: Any,
    capacity: Any,
    *,
    tau: float = 1.0,
    regularizer: str = "shannon",
    resolution: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Smoothed normalised regret of a batch: ``sum_i (z*_i - <c_i, y_i>) / sum_i z*_i``.

    ``y_i = soft_knapsack(theta_i)`` (differentiable; its backward is one more DP sweep) and
    ``z*_i = z*(c_i)`` the exact optimum of the true values. In ``[0, 1]`` for non-negative
    values, it tends to the true normalised regret as ``tau -> 0``.

    Parameters
    ----------
    theta : tensor, shape (m, n)
    true_values : tensor or array, shape (m, n); ``sum_i z*(c_i) > 0``.
    weights, capacity, resolution, backend, tau, regularizer : as in :func:`fy_loss`.

    Returns
    -------
    scalar tensor

    Complexity: O(m * n * capacity) forward and backward.
    """
    func = "regret_loss"
    th, c, w, cap, tau, reg, backend = _loss_inputs(
        func,
        theta,
        true_values,
        "true_values",
        weights,
        capacity,
        tau,
        regularizer,
        resolution,
        backend,
    )
    z = (c * _solve(c, w, cap, backend)).sum()
    return _regret(th, c, z, w, cap, tau, reg, backend)


def _regret(theta, c, z_total, w, cap, tau, reg, backend):
    y = _ops.soft_knapsack(theta, w, cap, tau=tau, regularizer=reg, backend=backend)
    return (z_total - (c * y).sum()) / z_total.clamp(min=1e-12)


# ----------------------------------------------------------------------------- training
def _linear(p: int, n: int, gen: torch.Generator, dtype) -> torch.nn.Linear:
    """``nn.Linear(p, n)`` with PyTorch's default init U(-1/sqrt(p), 1/sqrt(p)), from ``gen``."""
    model = torch.nn.Linear(p, n, dtype=dtype)
    bound = 1.0 / math.sqrt(p)
    with torch.no_grad():
        model.weight.copy_((torch.rand(n, p, generator=gen, dtype=dtype) * 2 - 1) * bound)
        model.bias.copy_((torch.rand(n, generator=gen, dtype=dtype) * 2 - 1) * bound)
    return model


def train_knapsack_predictor(
    X: Any,
    C: Any,
    weights: Any,
    capacity: Any,
    *,
    loss: str | Callable = "fy",
    tau: float = 1.0,
    regularizer: str = "shannon",
    epochs: int = 10,
    lr: float = 1e-2,
    batch_size: int = 32,
    seed: int | np.random.Generator | None = None,
    resolution: float | None = None,
    backend: str = "auto",
    progress: bool = False,
    callback: Callable | None = None,
) -> torch.nn.Linear:
    """Train a linear predictor of item values ``c_hat = W x + b`` for the 0/1 knapsack.

    Adam on mini-batches (reshuffled every epoch) of one of the losses

    - ``"fy"``: :func:`fy_loss` against the exact solutions ``x*(c)`` of the true values,
      averaged over the batch (decision-focused, through :func:`subsel.ops.soft_knapsack`);
    - ``"spo"``: :func:`spo_loss`, the smoothed SPO+ loss (the Fenchel-Young loss at
      ``2 pred - c``), averaged over the batch;
    - ``"regret"``: :func:`regret_loss`, the smoothed normalised regret of the batch (through the
      backward of ``soft_knapsack``);
    - ``"mse"``: mean squared error to the true values (the two-stage baseline);
    - a callable ``loss(pred, C_batch, Y_batch) -> scalar tensor`` with ``pred`` (b, n) the model
      output, ``C_batch`` (b, n) the true values and ``Y_batch`` (b, n) their exact solutions
      (how the benchmark plugs in PyEPO's SPO+ and perturbed Fenchel-Young losses).

    Parameters
    ----------
    X : array or tensor, shape (m, p)
        Features, one row per training instance.
    C : array or tensor, shape (m, n)
        True item values (maximised).
    weights : array, shape (n,) or (m, n)
        Non-negative integer item weights (reals with ``resolution``, rounded up to it).
    capacity : int or array of shape (m,)
    loss : {"fy", "spo", "regret", "mse"} or callable
    tau : float > 0
        Temperature of the smoothed DP (``"fy"``, ``"spo"`` and ``"regret"``).
    regularizer : {"shannon", "gini", "tsallis"}
    epochs, batch_size : int >= 1
    lr : float > 0
        Adam learning rate.
    seed : None, int or numpy Generator
        Seeds the initialisation and the shuffling; same seed, same model.
    resolution : float, optional
    backend : {"auto", "torch", "numba", "triton"}
        DP backend of the knapsack operators.
    progress : bool
        Show a progress bar over the epochs.
    callback : callable, optional
        Called after every epoch as ``callback(epoch, model, mean_loss)``.

    Returns
    -------
    torch.nn.Linear
        In the dtype of ``X`` (float32 stays float32, else float64), with ``model.history``:
        the mean training loss of every epoch (list of float).

    Complexity: per epoch O(m * n * capacity) for "fy" / "regret" (a few DP sweeps per
    instance), O(m * n * p) for "mse".
    """
    func = "train_knapsack_predictor"
    Xt = _as_values(X, "X", func)
    Ct = _as_values(C, "C", func).to(Xt.dtype)
    if Ct.shape[0] != Xt.shape[0]:
        raise input_error(
            func,
            "C",
            f"must have one row per row of 'X' ({Xt.shape[0]}); got shape {tuple(Ct.shape)}",
        )
    m, p = Xt.shape
    n = Ct.shape[1]
    if callable(loss):
        loss_name = "callable"
    elif isinstance(loss, str) and loss in LOSSES:
        loss_name = loss
    else:
        raise param_error(
            func, "loss", "one of 'fy', 'spo', 'regret', 'mse' or a callable loss(pred, C, Y)", loss
        )
    tau = check_positive_float(tau, "tau", func)
    backend = check_choice(backend, BACKENDS, "backend", func)
    reg = _check_regularizer(regularizer, func)
    epochs = check_int(epochs, "epochs", func, low=1)
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    lr = check_positive_float(lr, "lr", func)
    progress = check_bool(progress, "progress", func)
    rng = check_seed(seed, func)
    w, cap = _check_problem(weights, capacity, m, n, func, resolution)
    if callback is not None and not callable(callback):
        raise param_error(func, "callback", "a callable or None", callback, kind=TypeError)

    gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    model = _linear(p, n, gen, Xt.dtype).to(Xt.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Y = _solve(Ct, w, cap, backend).to(Xt.dtype)
    per_row_w = w.ndim == 2 and w.shape[0] == m
    history: list[float] = []
    for epoch in _epochs(epochs, progress):
        perm = torch.randperm(m, generator=gen)
        total, count = 0.0, 0
        for start in range(0, m, batch_size):
            idx = perm[start : start + batch_size]
            wb = w[idx] if per_row_w else w
            xb, cb, yb, capb = Xt[idx], Ct[idx], Y[idx], cap[idx]
            pred = model(xb)
            if loss_name == "fy":
                value = _fy(pred, yb, wb, capb, tau, reg, backend).mean()
            elif loss_name == "spo":
                value = _fy(2 * pred - cb, yb, wb, capb, tau, reg, backend).mean()
            elif loss_name == "regret":
                value = _regret(pred, cb, (cb * yb).sum(), wb, capb, tau, reg, backend)
            elif loss_name == "mse":
                value = torch.mean((pred - cb) ** 2)
            else:
                value = loss(pred, cb, yb)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            total += float(value.detach()) * len(idx)
            count += len(idx)
        history.append(total / count)
        if callback is not None:
            callback(epoch, model, history[-1])
    model.history = history
    return model


def _epochs(epochs: int, show: bool):
    if not show:
        return range(epochs)
    from rich.progress import track

    return track(range(epochs), description="training", total=epochs, transient=True)


def __getattr__(name: str):
    if name == "KnapsackDP":  # imports PyEPO: only on first use
        from ._dfl_pyepo import _knapsack_dp_class

        return _knapsack_dp_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
