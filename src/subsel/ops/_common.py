"""Small helpers shared by the operators (private)."""

from __future__ import annotations

import torch

from .._validation import check_dim, check_generator, check_k, check_scores


def prepare(
    scores,
    k,
    dim: int,
    func: str,
    *,
    name: str = "scores",
    allow_neg_inf: bool = True,
    allow_tensor_k: bool = True,
    generator=None,
):
    """Validate ``(scores, k, dim)`` and move the subset axis last.

    Returns ``(x, d, k_max, k_rows)``: ``x`` is ``scores`` with axis ``d`` moved to the end, ``k_max``
    an int and ``k_rows`` a long tensor of shape ``x.shape[:-1]`` (or ``None`` when ``k`` is an int).
    Rows must have at least ``k`` finite entries (``-inf`` marks an item that can never be chosen).
    """
    check_scores(scores, name, func, allow_neg_inf=allow_neg_inf)
    d = check_dim(dim, scores.ndim, func)
    x = scores.movedim(d, -1)
    n = x.shape[-1]
    k_max, k_rows = check_k(
        k, n, tuple(x.shape[:-1]), func, allow_tensor=allow_tensor_k, device=x.device
    )
    check_generator(generator, func, device=x.device)
    if allow_neg_inf:
        finite = torch.isfinite(x).sum(-1)
        need = k_rows if k_rows is not None else k_max
        short = finite < need
        if bool(short.any()):
            raise ValueError(
                f"Input '{name}' of {func} has {int(short.sum())} rows with fewer finite entries than "
                f"k; each row needs at least k items that can be chosen (-inf means 'never')."
            )
    return x, d, k_max, k_rows


def gumbel_like(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard Gumbel noise with the shape, dtype and device of ``x``.

    Drawn as ``-log(E)`` with ``E ~ Exponential(1)``, clamped away from 0 so it is always finite.
    """
    e = torch.empty_like(x, memory_format=torch.contiguous_format).exponential_(generator=generator)
    return -torch.log(e.clamp_min(torch.finfo(x.dtype).tiny))


def rank_mask(keys: torch.Tensor, k_max: int, k_rows) -> torch.Tensor:
    """Boolean k-hot mask of the top-k entries of ``keys`` along the last axis (k per row allowed)."""
    if k_rows is None:
        idx = keys.topk(k_max, dim=-1).indices
        return torch.zeros_like(keys, dtype=torch.bool).scatter_(-1, idx, True)
    order = keys.argsort(dim=-1, descending=True)
    ranks = torch.empty_like(order).scatter_(
        -1, order, torch.arange(keys.shape[-1], device=keys.device).expand_as(order).contiguous()
    )
    return ranks < k_rows.unsqueeze(-1)
