"""Kernels for the successive-softmax recursion of :func:`subsel.ops.relaxed_topk` (private).

All work on the last axis of ``x`` (..., n) and return ``(total, steps or None)``.

- :func:`autograd_kernel`: the recursion in differentiable torch ops; autograd records every
  intermediate (about eight (..., n) tensors a step) and supports higher-order derivatives.
- :class:`LeanKernel`: the same recursion as a custom ``autograd.Function`` with a hand-written
  backward. It keeps one (..., n) tensor a step (``log a^j``) and works in place, so memory is
  ~k n instead of ~8 k n. Backward only (no double backward).

The recursion, with ``z_j = (alpha_j - max alpha_j) / tau``:

    a_j = softmax(z_j),  alpha_{j+1} = alpha_j + l_j,  l_j = log(1 - a_j),  total = sum_j a_j.

For every entry but the row's top, ``a <= 1/2`` and ``log1p(-a)`` is accurate. For the top entry
``1 - a = r / (1 + r)`` with ``log r`` the logsumexp of the other (shifted) entries, so ``l`` is
exact even when ``a`` rounds to 1.

Backward of one step, given ``v = dL/dl_j`` and ``G = dL/da_j``: the softmax part is
``a (G - <a, G>)``; for ``l``, with ``rho_i = a_i / (1 - a_i)`` over the non-top entries,
``s = sum_i v_i rho_i`` and ``q_m = a_m / (1 - a_top) <= 1`` (computed as
``exp(log a_m - log(1 - a_top))``, finite even when both factors underflow),

    dL/dz_m   = -v_m rho_m + a_m s + v_top a_top q_m     (m not the top)
    dL/dz_top = -v_top a_top + a_top s

which avoids the 1 / (1 - a_top) that overflows when the top entry holds all the mass.
"""

from __future__ import annotations

import torch


def _step_mask(k_rows, j, like):
    return (j < k_rows).unsqueeze(-1).to(like.dtype)


def autograd_kernel(x, k_max: int, k_rows, tau: float, return_steps: bool):
    """The recursion in plain differentiable torch ops (higher-order derivatives work)."""
    neg_big = torch.finfo(x.dtype).min
    alpha = x
    total = torch.zeros_like(x)
    steps = []
    for j in range(k_max):
        top, top_idx = alpha.detach().max(-1, keepdim=True)
        z = (alpha - top) / tau
        lse = torch.logsumexp(z, -1, keepdim=True)
        log_a = z - lse
        a = torch.exp(log_a)
        if k_rows is not None:
            a = a * _step_mask(k_rows, j, a)
        total = total + a
        if return_steps:
            steps.append(a)
        if j == k_max - 1:
            break
        log_r = torch.logsumexp(z.scatter(-1, top_idx, neg_big), -1, keepdim=True)
        log1m = torch.log1p(-torch.exp(log_a.scatter(-1, top_idx, -1.0)))
        alpha = alpha + log1m.scatter(-1, top_idx, log_r - lse)
    return total, (torch.stack(steps, -2) if return_steps else None)


def _lean_forward(x, k_max: int, k_rows, tau: float, return_steps: bool, keep: bool):
    """Forward without autograd, in place where possible; ``keep`` saves what backward needs."""
    neg_big = torch.finfo(x.dtype).min
    alpha = x.detach().clone()
    total = torch.zeros_like(alpha)
    steps, saved = [], []
    for j in range(k_max):
        top, top_idx = alpha.max(-1, keepdim=True)
        z = alpha.sub(top).div_(tau)
        lse = torch.logsumexp(z, -1, keepdim=True)
        log_a = z.sub(lse)
        a = log_a.exp()
        if k_rows is not None:
            a.mul_(_step_mask(k_rows, j, a))
        total.add_(a)
        if return_steps:
            steps.append(a)
        last = j == k_max - 1
        log1m_top = None
        if not last:
            log_r = torch.logsumexp(z.scatter_(-1, top_idx, neg_big), -1, keepdim=True)
            log1m_top = log_r - lse
            ell = log_a.scatter(-1, top_idx, -1.0).exp_().neg_().log1p_()
            alpha.add_(ell.scatter_(-1, top_idx, log1m_top))
        if keep:
            saved.append((log_a, top_idx, log1m_top))
    return total, (torch.stack(steps, -2) if return_steps else None), saved


class LeanKernel(torch.autograd.Function):
    """Memory-lean recursion with a hand-written backward (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, k_max, k_rows, tau, return_steps):
        total, steps, saved = _lean_forward(
            x, k_max, k_rows, tau, return_steps, keep=ctx.needs_input_grad[0]
        )
        ctx.k_max, ctx.tau, ctx.k_rows, ctx.saved = k_max, tau, k_rows, saved
        ctx.set_materialize_grads(False)
        return (total, steps) if return_steps else total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_total, g_steps=None):
        saved, tau, k_rows = ctx.saved, ctx.tau, ctx.k_rows
        if g_total is None and g_steps is None:
            return None, None, None, None, None
        ref = saved[0][0]
        carry = None  # dL/dalpha_{j+1}
        for j in reversed(range(ctx.k_max)):
            log_a, top_idx, log1m_top = saved[j]
            a = log_a.exp()
            g = torch.zeros_like(a) if g_total is None else g_total.expand_as(a).clone()
            if g_steps is not None:
                g.add_(g_steps[..., j, :])
            if k_rows is not None:
                g.mul_(_step_mask(k_rows, j, g))
            dz = a * (g - (a * g).sum(-1, keepdim=True))
            if carry is not None:
                v = carry
                a_top = a.gather(-1, top_idx)
                v_top = v.gather(-1, top_idx)
                a_rest = a.scatter(-1, top_idx, 0.0)
                rho = a_rest / (1.0 - a_rest)
                s = (v * rho).sum(-1, keepdim=True)
                q = (log_a - log1m_top).exp_().scatter_(-1, top_idx, 0.0)
                d_ell = a * s - v * rho + (v_top * a_top) * q
                d_ell.scatter_(-1, top_idx, a_top * (s - v_top))
                dz.add_(d_ell)
            dz.div_(tau)
            carry = dz if carry is None else carry.add_(dz)
        return carry.to(ref.dtype), None, None, None, None
