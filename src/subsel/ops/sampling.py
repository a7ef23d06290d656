"""Exact subset sampling with the Gumbel-top-k trick, and exact subset log-probabilities.

Notation (Xie & Ermon, 2019): weights ``w = exp(logits)``, ``Z = sum(w)``. Weighted reservoir
sampling draws an *ordered* sample ``S_wrs = [i_1, ..., i_k]`` with probability (eq. 1)

    p(S_wrs | w) = prod_j  w_{i_j} / (Z - w_{i_1} - ... - w_{i_{j-1}}),

i.e. sampling without replacement proportionally to the weights. Forgetting the order gives the
distribution over *unordered* k-subsets (eq. 2), ``p(S | w) = sum over the k! orderings of S``.
Perturbing the logits with i.i.d. Gumbel(0, 1) noise and taking the top-k (Prop. 1, the Gumbel-max
extension) draws exactly from both.
"""

from __future__ import annotations

import torch

from .._validation import (
    check_bool,
    check_choice,
    check_dim,
    check_int,
    check_mask,
    check_positive_float,
    check_scores,
    param_error,
)
from ._common import gumbel_like, prepare, rank_mask
from ._subset_prob import log_prob_dp, log_prob_quadrature

__all__ = ["gumbel_topk", "sample_subset", "subset_log_prob", "relaxed_subset_sample"]


def gumbel_topk(logits: torch.Tensor, k: int, *, dim: int = -1, generator=None) -> torch.Tensor:
    """Draw an ordered sample without replacement, ``S_wrs ~ p(S_wrs | w)`` (eq. 1).

    Parameters
    ----------
    logits : Tensor, shape (..., n, ...)
        Log-weights ``log w``; every axis but ``dim`` is a batch axis. ``-inf`` means weight zero.
    k : int in [1, n]
        Sample size.
    dim : int
        The item axis.
    generator : torch.Generator, optional
        Source of randomness (same seed, same sample).

    Returns
    -------
    LongTensor, shape of ``logits`` with axis ``dim`` of size ``k``
        The chosen item indices, in the order drawn (first = first draw).

    Notes
    -----
    Adds Gumbel noise and takes ``torch.topk`` (Prop. 1 of Xie & Ermon): O(n) noise plus
    O(n log k) selection per row. Exact, not an approximation.
    """
    x, d, k_max, _ = prepare(
        logits, k, dim, "gumbel_topk", name="logits", allow_tensor_k=False, generator=generator
    )
    keys = x.detach() + gumbel_like(x, generator)
    return keys.topk(k_max, dim=-1).indices.movedim(-1, d)


def sample_subset(logits: torch.Tensor, k, *, dim: int = -1, generator=None) -> torch.Tensor:
    """Draw an unordered k-subset ``S ~ p(S | w)`` (eq. 2) as a k-hot mask.

    Parameters
    ----------
    logits : Tensor, shape (..., n)
        Log-weights; ``-inf`` means weight zero.
    k : int or LongTensor of shape ``logits.shape`` without ``dim``
        Subset size, one for all rows or one per row.
    dim : int
        The item axis.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, same shape and dtype as ``logits``
        Exactly ``k`` ones per row, zeros elsewhere. Not differentiable (use
        :func:`relaxed_subset_sample` for a reparameterized relaxation).

    Notes
    -----
    Gumbel-top-k (Prop. 1): O(n log n) per row (O(n log k) when ``k`` is an int).
    """
    x, d, k_max, k_rows = prepare(
        logits, k, dim, "sample_subset", name="logits", generator=generator
    )
    keys = x.detach() + gumbel_like(x, generator)
    return rank_mask(keys, k_max, k_rows).to(x.dtype).movedim(-1, d)


def subset_log_prob(
    logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    dim: int = -1,
    method: str = "auto",
    num_nodes: int | None = None,
) -> torch.Tensor:
    """Exact log-probability ``log p(S | w)`` of an *unordered* subset (eq. 2).

    ``p(S | w)`` is the sum of eq. (1) over the k! orderings of ``S``; this computes it in far less
    than k! time, in log space, differentiably in ``logits``.

    Parameters
    ----------
    logits : Tensor, shape (..., n)
        Log-weights; ``-inf`` means weight zero (a subset containing such an item has log-prob
        ``-inf``).
    mask : Tensor, shape of ``logits``
        The subset, 0/1 or bool. Rows may have different sizes ``|S|`` (0 and n included).
    dim : int
        The item axis.
    method : {"auto", "dp", "quadrature"}
        ``"dp"``: dynamic programming over the subsets of S: ``q(T) = sum_{i in T} q(T - i) w_i /
        (Z - w(T - i))`` with ``q(S) = p(S | w)``, every term positive and summed with logsumexp, so
        it is exact to rounding. O(2^k k) time and memory per row; serves k <= 20.
        ``"quadrature"``: the integral representation of Kool et al. (2020),
        ``p(S) = int_0^1 prod_{i in S} (1 - u^{w_i / W})  du`` with ``W`` the weight outside ``S``,
        written as ``int exp(phi(s)) ds`` over the real line with ``u = exp(-e^s)``. ``phi`` is
        concave, so the integrand is a smooth bell; the trapezoid rule on an adaptive window (the
        mode found by bisection, the ends where ``phi`` has dropped by 46 nats, i.e. 1e-20) converges
        geometrically. O(N k) per row with N nodes (``num_nodes``, by default chosen from the window
        width and k, 256 to 16384); serves any k; agrees with ``"dp"`` to ~1e-10 relative in float64.
        ``"auto"``: ``"dp"`` when the largest ``|S|`` is at most 10, else ``"quadrature"``.
    num_nodes : int, optional
        Quadrature nodes per row (``"quadrature"`` only).

    Returns
    -------
    Tensor, shape ``logits.shape`` without ``dim``
        Computed in float64 and returned in the dtype of ``logits``.
    """
    func = "subset_log_prob"
    check_scores(logits, "logits", func, allow_neg_inf=True)
    d = check_dim(dim, logits.ndim, func)
    m = check_mask(mask, tuple(logits.shape), "mask", func).to(logits.device)
    method = check_choice(method, ("auto", "dp", "quadrature"), "method", func)
    if num_nodes is not None:
        num_nodes = check_int(num_nodes, "num_nodes", func, low=16, high=1_000_000)
    x = logits.movedim(d, -1)
    m = m.movedim(d, -1)
    batch_shape = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]).to(torch.float64)
    m2 = m.reshape(-1, m.shape[-1])
    sizes = m2.sum(-1)
    k_max = int(sizes.max()) if sizes.numel() else 0
    if method == "auto":
        method = "dp" if k_max <= 10 else "quadrature"
    if method == "dp" and k_max > 20:
        raise param_error(
            func,
            "method",
            f"'quadrature' or 'auto' for subsets of size {k_max} > 20 ('dp' costs O(2^k k))",
            method,
        )
    if method == "dp":
        out = log_prob_dp(x2, m2)
    else:
        out = log_prob_quadrature(x2, m2, num_nodes=num_nodes)
    return out.to(logits.dtype).reshape(batch_shape)


def relaxed_subset_sample(
    logits: torch.Tensor, k, *, tau: float = 1.0, dim: int = -1, hard: bool = False, generator=None
) -> torch.Tensor:
    """Reparameterized relaxed sample of ``S ~ p(S | w)`` (Algorithm 2).

    Perturbs the logits with Gumbel noise, ``r_i = log w_i + g_i``, and returns
    ``relaxed_topk(r, k, tau=tau)``. As ``tau -> 0`` the output tends to an exact sample of
    ``p(S | w)`` (Prop. 1); for ``tau >= 1`` the top-k entries of the output are exactly that sample
    (Theorem 1), at any ``tau`` with ``hard=True``.

    Parameters
    ----------
    logits : Tensor, shape (..., n)
        Log-weights (differentiable); ``-inf`` means weight zero.
    k : int or LongTensor of shape ``logits.shape`` without ``dim``
    tau : float > 0
    dim : int
    hard : bool
        Straight-through: forward is the exact k-hot sample, backward the relaxation's gradient.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape of ``logits``
        Relaxed k-hot vector (sums to k per row), differentiable in ``logits``, in the dtype of
        ``logits`` (half precision is computed in float32, see :func:`relaxed_topk`).

    Notes
    -----
    O(n) noise plus the O(k n) cost of :func:`relaxed_topk`.
    """
    from .topk import compute_dtype, relaxed_topk

    x, d, _, _ = prepare(
        logits, k, dim, "relaxed_subset_sample", name="logits", generator=generator
    )
    hard = check_bool(hard, "hard", "relaxed_subset_sample")
    tau = check_positive_float(tau, "tau", "relaxed_subset_sample")
    work = x.to(compute_dtype(x.dtype))  # noise and recursion in float32 for half input
    keys = work + gumbel_like(work, generator)
    return relaxed_topk(keys, k, tau=tau, dim=-1, hard=hard).to(x.dtype).movedim(-1, d)
