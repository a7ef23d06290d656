"""Kernels for the exact log-probability of an unordered subset under p(S | w) (private).

Both take ``x`` (B, n) float64 logits and ``m`` (B, n) bool masks and return (B,) float64.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

_NEG_INF = float("-inf")


def _special_rows(x: torch.Tensor, m: torch.Tensor):
    """Split off the rows whose answer is known in closed form.

    Returns ``(x_safe, sizes, log_w_out, zero_prob, certain)``: ``zero_prob`` rows pick an item of
    weight 0 (log p = -inf); ``certain`` rows have no weight outside S, or S empty (log p = 0).
    ``x_safe`` has the -inf logits inside S replaced by 0 so that the kernels stay finite.
    """
    inside_neg_inf = m & torch.isneginf(x)
    zero_prob = inside_neg_inf.any(-1)
    x_safe = torch.where(inside_neg_inf, torch.zeros_like(x), x)
    log_w_out = torch.logsumexp(x_safe.masked_fill(m, _NEG_INF), -1)
    sizes = m.sum(-1)
    certain = torch.isneginf(log_w_out) | (sizes == 0)
    log_w_out = torch.where(certain, torch.zeros_like(log_w_out), log_w_out)
    return x_safe, sizes, log_w_out, zero_prob, certain


def _finish(out, zero_prob, certain):
    out = torch.where(certain, torch.zeros_like(out), out)
    return torch.where(zero_prob, torch.full_like(out, _NEG_INF), out)


def _gather_subset(x, m, k):
    """The k chosen logits of each row, (B, k), plus a validity mask for rows with |S| < k."""
    order = torch.argsort(m.to(torch.int8), dim=-1, descending=True, stable=True)[:, :k]
    valid = torch.arange(k, device=x.device) < m.sum(-1, keepdim=True)
    return x.gather(-1, order), valid


@functools.lru_cache(maxsize=32)
def _levels(k: int):
    """Index tables for the subset lattice of {0..k-1}, grouped by size (popcount).

    For each size c = 1..k (list entry c-1): ``bits`` (M_c, c) the members of each subset in
    ascending order, ``pred`` (M_c, c) the position in level c-1 of the subset minus each member,
    and ``comp`` (M_c,) the position in level k-c of the complement.
    """
    masks = np.arange(1 << k, dtype=np.int64)
    bit_table = (masks[:, None] >> np.arange(k)) & 1
    pop = bit_table.sum(1)
    by_level = [masks[pop == c] for c in range(k + 1)]
    position = np.empty(1 << k, dtype=np.int64)
    for level in by_level:
        position[level] = np.arange(level.size)
    full = (1 << k) - 1
    out = []
    for c in range(1, k + 1):
        level = by_level[c]
        bits = np.nonzero(bit_table[level])[1].reshape(level.size, c)
        pred = position[level[:, None] ^ (1 << bits)]
        comp = position[full ^ level]
        out.append((torch.from_numpy(bits), torch.from_numpy(pred), torch.from_numpy(comp)))
    return out


def _dp_same_size(logw: torch.Tensor, log_w_out: torch.Tensor, k: int) -> torch.Tensor:
    """DP over subsets for rows that all have |S| = k >= 1: logw (B, k), log_w_out (B,)."""
    dev = logw.device
    levels = [(b.to(dev), p.to(dev), c.to(dev)) for b, p, c in _levels(k)]
    # log w(T) for every subset T, level by level (add the lowest member to T minus it).
    lw = [logw.new_full((logw.shape[0], 1), _NEG_INF)]
    for c, (bits, pred, _) in enumerate(levels, start=1):
        lw.append(torch.logaddexp(lw[c - 1][:, pred[:, 0]], logw[:, bits[:, 0]]))

    # Denominator for a drawn prefix R: Z - w(R) = w_out + w(S - R), a sum of positive terms.
    def log_den(c):
        comp = levels[c - 1][2] if c > 0 else torch.zeros(1, dtype=torch.long, device=dev)
        return torch.logaddexp(log_w_out[:, None], lw[k - c][:, comp])

    log_q = logw.new_zeros((logw.shape[0], 1))
    den = log_den(0)
    for c, (bits, pred, _) in enumerate(levels, start=1):
        terms = log_q[:, pred] - den[:, pred] + logw[:, bits]
        log_q = torch.logsumexp(terms, -1)
        if c < k:
            den = log_den(c)
    return log_q[:, 0]


def log_prob_dp(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """O(2^k k) dynamic program; rows are grouped by subset size."""
    x_safe, sizes, log_w_out, zero_prob, certain = _special_rows(x, m)
    out = x.new_zeros(x.shape[0])
    for k in torch.unique(sizes).tolist():
        if k == 0:
            continue
        rows = (sizes == k).nonzero().squeeze(-1)
        logw, _ = _gather_subset(x_safe[rows], m[rows], k)
        out = out.index_put((rows,), _dp_same_size(logw, log_w_out[rows], k))
    return _finish(out, zero_prob, certain)


# ----------------------------------------------------------------------------- quadrature
_DROP = 46.0  # nats below the peak at the window ends (e^-46 ~ 1e-20)


def _log1m_exp_exp(y):
    """log(1 - exp(-e^y)), stable for all real y."""
    small = y < -30.0
    y_big = torch.where(small, torch.zeros_like(y), y).clamp(max=700.0)
    return torch.where(small, y, torch.log(-torch.expm1(-torch.exp(y_big))))


def _phi(s, la, valid):
    """log integrand: s - e^s + sum_i log(1 - exp(-a_i e^s)); s (B, N), la/valid (B, k)."""
    terms = _log1m_exp_exp(s[..., None] + la[:, None, :]) * valid[:, None, :]
    return s - torch.exp(s) + terms.sum(-1)


def _dphi(s, la, valid):
    """phi'(s) = 1 - e^s + sum_i x_i / expm1(x_i), x_i = a_i e^s; decreasing in s."""
    y = s[..., None] + la[:, None, :]
    xx = torch.exp(y.clamp(-30.0, 6.5))
    g = torch.where(
        y < -30.0,
        torch.ones_like(y),
        torch.where(y > 6.5, torch.zeros_like(y), xx / torch.expm1(xx)),
    )
    return 1.0 - torch.exp(s) + (g * valid[:, None, :]).sum(-1)


def log_prob_quadrature(x: torch.Tensor, m: torch.Tensor, *, num_nodes: int | None = None):
    """Trapezoid rule for log int exp(phi(s)) ds on an adaptive window; O(N k) per row."""
    x_safe, sizes, log_w_out, zero_prob, certain = _special_rows(x, m)
    k = int(sizes.max()) if sizes.numel() else 0
    if k == 0:
        return _finish(x.new_zeros(x.shape[0]), zero_prob, certain)
    logw, valid = _gather_subset(x_safe, m, k)
    la = logw - log_w_out[:, None]
    valid = valid.to(la.dtype)
    with torch.no_grad():
        la_d = la.detach()
        kk = sizes.to(la.dtype)
        log_a_sum = torch.logsumexp(la_d.masked_fill(valid == 0, _NEG_INF), -1)
        hi = torch.log1p(kk)
        lo = hi - torch.nn.functional.softplus(log_a_sum - math.log(2.0)) - 1.0
        for _ in range(64):  # bisection for the mode of the concave phi
            mid = 0.5 * (lo + hi)
            up = _dphi(mid[:, None], la_d, valid)[:, 0] > 0
            lo = torch.where(up, mid, lo)
            hi = torch.where(up, hi, mid)
        mode = 0.5 * (lo + hi)
        peak = _phi(mode[:, None], la_d, valid)[:, 0]
        steps = 2.0 ** torch.arange(-4, 14, dtype=la.dtype, device=la.device)

        def reach(sign):
            s = mode[:, None] + sign * steps[None, :]
            ok = (peak[:, None] - _phi(s, la_d, valid)) >= _DROP
            first = torch.where(
                ok.any(-1), ok.float().argmax(-1), torch.full_like(mode, len(steps) - 1).long()
            )
            return steps[first]

        left, right = mode - reach(-1.0), mode + reach(1.0)
        width = right - left
        if num_nodes is None:
            h_target = min(0.25, math.pi**2 / (2.0 * (0.3 * k + 40.0)))
            num_nodes = int(min(16384, max(256, math.ceil(float(width.max()) / h_target) + 1)))
        t = torch.linspace(0.0, 1.0, num_nodes, dtype=la.dtype, device=la.device)
        nodes = left[:, None] + width[:, None] * t[None, :]
        log_h = torch.log(width / (num_nodes - 1))
    out = log_h + torch.logsumexp(_phi(nodes, la, valid), -1)
    return _finish(out, zero_prob, certain)
