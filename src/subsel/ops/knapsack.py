"""Exact, smoothed and stochastic knapsack and top-k operators by dynamic programming.

After Vivier-Ardisson, Sander, Parmentier and Blondel, "Differentiable Knapsack and Top-k
Operators via Dynamic Programming". Items ``i = 1..n`` have values ``theta_i`` (the input, maximized)
and integer weights ``w_i >= 0``; the table

    V[i, c] = max(V[i-1, c], theta_i + V[i-1, c - w_i])      (second branch only when w_i <= c)

holds the best value of items ``1..i`` within weight ``c`` (``V[0, .] = 0``), and top-k is the
same with ``w = 1`` (exactly k: ``V[0, 0] = 0``, ``V[0, c > 0] = -inf``; at most k: ``V[0, .] = 0``).
Smoothing each ``max`` by a regularized max (``regularizer="shannon" | "gini" | "tsallis"``,
temperature ``tau``) makes ``V_tau[n, C]`` smooth, and its gradient ``y = d V_tau / d theta`` is
the soft selection, computed by one reverse sweep over the table. With Shannon,

    V_tau = tau log sum_S exp(<theta, S> / tau)     and     y = E_p[S],  p(S) ~ exp(<theta, S> / tau)

over the feasible sets ``S`` (``<w, S> <= C``, or ``|S| = k``): the marginals of a Gibbs
distribution, which :func:`knapsack_sample` samples exactly by walking back through the table.
Gini and Tsallis give sparse selections (exact zeros and ones); only Shannon is
permutation-equivariant. Every output is a convex combination of feasible sets, so
``<w, y> <= C``, and ``tau -> 0`` gives the exact solution (where it is unique).

Cost: O(B n C) time for the forward pass and for the backward pass (a tangent sweep and one reverse
sweep, never autograd through n steps); memory O(B n C) with the whole table kept, or
O(B C sqrt n) with ``checkpoint=True`` (rows recomputed block by block, about 1.5x the time).
Backends: a fused Numba kernel on the CPU (parallel over rows), a Triton kernel on CUDA, and the
pure torch loop everywhere (``backend="torch"``), chosen by ``backend="auto"``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .._validation import (
    check_bool,
    check_generator,
    check_int,
)
from ._knapsack_setup import (
    _backend,
    _knapsack_problem,
    _Problem,
    _segment,
    _settings,
    _topk_problem,
)

__all__ = [
    "knapsack",
    "soft_knapsack",
    "soft_topk",
    "knapsack_sample",
    "topk_sample",
    "knapsack_value",
]


# ------------------------------------------------------------------------------------------------
# autograd
# ------------------------------------------------------------------------------------------------
class _SoftDP(torch.autograd.Function):
    """``(value, y, checkpoints)`` of the smoothed table; backward = one HVP sweep."""

    @staticmethod
    def forward(ctx, theta, w, cap, exact_k, reg, tau, seg, width, kernels):
        value, y, ck = kernels.forward(
            theta, w, cap, exact_k=exact_k, reg=reg, tau=tau, seg=seg, width=width
        )
        ctx.save_for_backward(theta, w, cap, ck, y)
        ctx.cfg = dict(exact_k=exact_k, reg=reg, tau=tau, seg=seg, width=width)
        ctx.kernels = kernels
        ctx.mark_non_differentiable(ck)
        ctx.set_materialize_grads(False)
        return value, y, ck

    @staticmethod
    @once_differentiable
    def backward(ctx, g_value, g_y, _g_ck):
        theta, w, cap, ck, y = ctx.saved_tensors
        grad = None
        if g_y is not None:
            grad = ctx.kernels.hvp(theta, w, cap, ck, g_y.to(theta.dtype).contiguous(), **ctx.cfg)
        if g_value is not None:
            term = g_value.to(theta.dtype)[:, None] * y
            grad = term if grad is None else grad + term
        return grad, None, None, None, None, None, None, None, None


def _soft(prob: _Problem, reg: int, tau: float, seg: int, kernels):
    return _SoftDP.apply(
        prob.theta, prob.w, prob.cap, prob.exact_k, reg, tau, seg, prob.width, kernels
    )


def _exact(prob: _Problem, seg: int, kernels) -> torch.Tensor:
    """Indicator (B, n) of the optimal set (ties broken towards skipping later items)."""
    theta = prob.theta.detach()
    if theta.dtype != torch.float64 and theta.device.type != "mps":
        theta = theta.double()  # sums of many values: decide ties in double precision
    _, y, _ = kernels.forward(
        theta, prob.w, prob.cap, exact_k=prob.exact_k, reg=0, tau=0.0, seg=seg, width=prob.width
    )
    return y.to(prob.theta.dtype)


def _finish(prob: _Problem, y: torch.Tensor) -> torch.Tensor:
    return y.reshape(*prob.batch_shape, -1).to(prob.out_dtype)


def _smooth(prob, tau, regularizer, hard, checkpoint, backend, func):
    tau, reg, seg, kernels = _settings(prob, tau, regularizer, checkpoint, backend, func)
    hard = check_bool(hard, "hard", func)
    if prob.theta.shape[1] == 0 or prob.theta.shape[0] == 0:
        return _finish(prob, prob.theta * 0)
    value, y, _ = _soft(prob, reg, tau, seg, kernels)
    if hard:
        y = _exact(prob, seg, kernels) + (y - y.detach())
    return _finish(prob, y)


# ------------------------------------------------------------------------------------------------
# public operators
# ------------------------------------------------------------------------------------------------
def knapsack(values, weights, capacity, *, resolution=None, checkpoint="auto", backend="auto"):
    """Exact 0/1 knapsack by dynamic programming: the best set with ``<weights, S> <= capacity``.

    Parameters
    ----------
    values : Tensor (..., n)
        Item values (maximized), finite. Every leading axis is a batch axis.
    weights : int tensor or array (n,) or (..., n)
        Non-negative integer weights (floats holding whole numbers are accepted). Real weights
        need ``resolution``.
    capacity : int or integer tensor (...)
        One capacity for all rows or one per row, ``>= 0``.
    resolution : float, optional
        Unit for real-valued weights and capacity: ``weights`` become ``ceil(w / resolution)`` and
        ``capacity`` becomes ``floor(C / resolution)``. Every set the rounded problem admits then
        satisfies ``<w, S> <= C`` exactly, and every set with ``<w, S> <= C - resolution (|S| + 1)``
        is admitted; so the answer's value is at least the best value over those sets. The table
        has ``floor(C / resolution) + 1`` columns: halving ``resolution`` doubles time and memory.
    checkpoint, backend : see :func:`soft_knapsack`.

    Returns
    -------
    Tensor (..., n)
        0/1 mask in ``values``' dtype, not differentiable (use :func:`soft_knapsack`, or its
        ``hard=True`` for a straight-through estimator). Ties are broken towards leaving later
        items out.

    Notes
    -----
    O(B n C) time and O(B n C) memory (O(B C sqrt n) with ``checkpoint=True``), for ``B`` rows
    and ``C = min(capacity, total weight)``. Values are summed in float64.
    """
    func = "knapsack"
    prob = _knapsack_problem(values, weights, capacity, resolution, func)
    seg = _segment(checkpoint, prob, func)
    kernels = _backend(backend, prob.theta.device, func)
    if prob.theta.numel() == 0:
        return _finish(prob, prob.theta.detach() * 0)
    return _finish(prob, _exact(prob, seg, kernels))


def soft_knapsack(
    values,
    weights,
    capacity,
    *,
    tau=1.0,
    regularizer="shannon",
    resolution=None,
    hard=False,
    checkpoint="auto",
    backend="auto",
):
    """Smoothed knapsack: the gradient of the regularized DP value, a soft selection in [0, 1]^n.

    With ``regularizer="shannon"`` the output is the marginals ``E[S]`` of
    ``p(S) ~ exp(<values, S> / tau)`` over all ``S`` with ``<weights, S> <= capacity``.

    Parameters
    ----------
    values : Tensor (..., n)
        Item values, finite (float16 / bfloat16 are computed in float32).
    weights, capacity, resolution : see :func:`knapsack`.
    tau : float > 0
        Temperature. ``tau -> 0`` gives the exact solution; large ``tau`` spreads the selection.
    regularizer : {"shannon", "gini", "tsallis"}
        Shannon: dense, permutation-equivariant, the Gibbs marginals. Gini (squared norm): sparse,
        exact 0 and 1 where one choice wins by more than ``tau``. Tsallis-1.5: in between.
    hard : bool
        Return the exact 0/1 solution in the forward pass and this operator's gradient in the
        backward pass (straight-through).
    checkpoint : "auto", bool or int
        Memory for the backward pass. ``False`` keeps the table, O(B n C); ``True`` keeps every
        ``ceil(sqrt n)``-th row and recomputes the rest, O(B C sqrt n); an int sets the block
        length. ``"auto"`` keeps the table while it is under 128 MiB.
    backend : {"auto", "torch", "numba", "triton"}
        ``"auto"``: Numba on the CPU and Triton on CUDA when installed, else the torch loop.

    Returns
    -------
    Tensor (..., n)
        In ``values``' dtype; ``<weights, y> <= capacity`` row by row.

    Notes
    -----
    Forward O(B n C); backward (a vector-Hessian product of the value, by one tangent and one
    reverse sweep) O(B n C). Differentiable once (no double backward).
    """
    func = "soft_knapsack"
    prob = _knapsack_problem(values, weights, capacity, resolution, func)
    return _smooth(prob, tau, regularizer, hard, checkpoint, backend, func)


def soft_topk(
    values,
    k,
    *,
    tau=1.0,
    regularizer="shannon",
    at_most=False,
    hard=False,
    checkpoint="auto",
    backend="auto",
):
    """Smoothed top-k by the DP over ``|S| = k`` (or ``|S| <= k`` with ``at_most=True``).

    With Shannon the output is the marginals of ``p(S) ~ exp(<values, S> / tau)`` over all sets of
    exactly ``k`` items; it sums to ``k`` in every row (to at most ``k`` with ``at_most``).

    Parameters
    ----------
    values : Tensor (..., n)
    k : int or integer tensor (...)
        Subset size in ``[1, n]``, one for all rows or one per row.
    tau, regularizer, hard, checkpoint, backend : see :func:`soft_knapsack`.
    at_most : bool
        Select at most ``k`` items (items with negative value are left out as ``tau -> 0``).

    Returns
    -------
    Tensor (..., n)

    Notes
    -----
    O(B n k) time and memory (O(B k sqrt n) memory with ``checkpoint=True``). Compare
    :func:`subsel.ops.relaxed_topk` (successive softmax, O(B n k) too, not a distribution's
    marginals).
    """
    func = "soft_topk"
    prob = _topk_problem(values, k, at_most, func)
    return _smooth(prob, tau, regularizer, hard, checkpoint, backend, func)


def knapsack_value(
    values,
    weights,
    capacity,
    *,
    tau=1.0,
    regularizer="shannon",
    resolution=None,
    checkpoint="auto",
    backend="auto",
):
    """The smoothed optimal value ``V_tau`` of the knapsack, shape ``(...)``.

    Its gradient with respect to ``values`` is :func:`soft_knapsack`; with Shannon it is the
    log-partition function ``tau log sum_S exp(<values, S> / tau)``. Useful for Fenchel-Young
    losses: ``knapsack_value(theta) - <theta, y_true>`` is convex in ``theta``, ``>= 0`` up to the
    regularizer's offset, with gradient ``soft_knapsack(theta) - y_true``.
    Parameters as in :func:`soft_knapsack`. O(B n C).
    """
    func = "knapsack_value"
    prob = _knapsack_problem(values, weights, capacity, resolution, func)
    tau, reg, seg, kernels = _settings(prob, tau, regularizer, checkpoint, backend, func)
    value, _, _ = _soft(prob, reg, tau, seg, kernels)
    return value.reshape(prob.batch_shape).to(prob.out_dtype)


def _sample(prob, tau, regularizer, num_samples, generator, checkpoint, backend, func):
    tau, reg, seg, kernels = _settings(prob, tau, regularizer, checkpoint, backend, func)
    num_samples = check_int(num_samples, "num_samples", func, low=1)
    check_generator(generator, func, device=prob.theta.device)
    B, n = prob.theta.shape
    u = torch.rand(
        (num_samples, B, n), generator=generator, dtype=prob.theta.dtype, device=prob.theta.device
    )
    _, y, ck = _soft(prob, reg, tau, seg, kernels)
    s = kernels.sample(
        prob.theta.detach(),
        prob.w,
        prob.cap,
        ck,
        u,
        exact_k=prob.exact_k,
        reg=reg,
        tau=tau,
        seg=seg,
        width=prob.width,
    )
    if y.requires_grad:
        s = s + (y - y.detach())[None]
    return s.reshape(num_samples, *prob.batch_shape, n).to(prob.out_dtype)


def knapsack_sample(
    values,
    weights,
    capacity,
    *,
    tau=1.0,
    regularizer="shannon",
    num_samples=1,
    generator=None,
    resolution=None,
    checkpoint="auto",
    backend="auto",
):
    """Exact samples of ``p(S) ~ exp(<values, S> / tau)`` over ``<weights, S> <= capacity``.

    Draws by walking back through the smoothed table (forward filtering, backward sampling): at
    item ``i`` and remaining capacity ``c`` take the item with the probability the regularized max
    assigns. With Shannon that is an exact sample of the Gibbs distribution; with Gini or Tsallis
    it samples the (sparse) distribution over paths whose mean is :func:`soft_knapsack`.

    Parameters
    ----------
    values, weights, capacity, tau, regularizer, resolution, checkpoint, backend :
        see :func:`soft_knapsack`.
    num_samples : int >= 1
    generator : torch.Generator, optional
        Source of the uniforms; the same generator state gives the same samples on every backend.

    Returns
    -------
    Tensor (num_samples, ..., n)
        0/1 samples in ``values``' dtype, every one feasible. When ``values`` requires grad the
        samples carry the gradient of :func:`soft_knapsack` (straight-through: the score of the
        mean).

    Notes
    -----
    O(B n C) for the table plus O(num_samples B n) for the walks.
    """
    func = "knapsack_sample"
    prob = _knapsack_problem(values, weights, capacity, resolution, func)
    return _sample(prob, tau, regularizer, num_samples, generator, checkpoint, backend, func)


def topk_sample(
    values,
    k,
    *,
    tau=1.0,
    regularizer="shannon",
    at_most=False,
    num_samples=1,
    generator=None,
    checkpoint="auto",
    backend="auto",
):
    """Exact samples of ``p(S) ~ exp(<values, S> / tau)`` over ``|S| = k`` (``<= k`` if at_most).

    Unlike :func:`subsel.ops.sample_subset` (sampling without replacement, Gumbel-top-k), this is
    the Gibbs distribution whose marginals are :func:`soft_topk`. Parameters as in
    :func:`soft_topk` and :func:`knapsack_sample`; returns ``(num_samples, ..., n)``. O(B n k).
    """
    func = "topk_sample"
    prob = _topk_problem(values, k, at_most, func)
    return _sample(prob, tau, regularizer, num_samples, generator, checkpoint, backend, func)
