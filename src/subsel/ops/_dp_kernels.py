"""Inner loops of the smoothed knapsack / top-k dynamic programme: the pure torch reference.

Every backend (this module; ``_dp_numba`` on the CPU; ``_dp_triton`` on CUDA) implements the same
three functions on validated, contiguous ``(B, n)`` tensors; :mod:`.knapsack` validates, picks the
backend and wraps them in autograd. This one runs anywhere torch runs and is the fallback.

The table (1-based item ``i``, column ``c`` in ``[0, width)``)::

    V_0[c] = 0                        (knapsack and "at most k")
    V_0[0] = 0, V_0[c > 0] = -inf     (exactly k)
    V_i[c] = max_Omega(a, b),  a = V_{i-1}[c],  b = theta_i + V_{i-1}[c - w_i]  (b = -inf if c < w_i)

``max_Omega(a, b) = max_{p in [0, 1]} (1 - p) a + p b - tau * Omega(p)`` with ``Omega`` the
Shannon, Gini (squared norm) or Tsallis-1.5 negentropy, scaled so that ``Omega`` is 0 at the
vertices. ``p = p_i[c]`` is the probability of taking item ``i`` at that cell; with ``D = b - a``

    shannon  p = sigmoid(D / tau)                        V = max(a, b) + tau log1p(exp(-|D| / tau))
    gini     p = clip(1/2 + D / (2 tau), 0, 1)           V = a + p D + tau p (1 - p)
    tsallis  d = clip(D / (2 tau), -1, 1),
             p = (1 + d sqrt(2 - d^2)) / 2               V = a + p D + 4 tau / 3 (1 - p^1.5 - (1-p)^1.5)
    hard     (tau = 0) p = [D > 0]                       V = max(a, b)

and ``dp/dD`` is ``p (1 - p) / tau``, ``1 / (2 tau)`` inside ``(0, 1)``, and
``sqrt(p (1 - p)) / (tau (sqrt p + sqrt(1 - p)))`` inside ``(0, 1)`` respectively. A cell with one
branch at ``-inf`` takes the other branch with probability 1.

The operator's output ``y = d V_n[cap] / d theta`` comes from one reverse sweep of state marginals
``E`` (forward-backward). Its vector-Jacobian product (a Hessian-vector product of ``V_n[cap]``) is
a tangent forward sweep ``T`` followed by one reverse sweep with two adjoints. Each sweep is O(n)
steps of O(B width) work.

Memory: with ``seg == 1`` the rows ``V_0 .. V_{n-1}`` are kept, O(B n width). With ``seg > 1`` only
every ``seg``-th row is kept and each block of ``seg`` rows is recomputed from its checkpoint when a
reverse sweep reaches it: O(B width (n / seg + seg)) memory, which is O(B width sqrt n) for
``seg = ceil(sqrt n)``, for one more forward sweep of work.
"""

from __future__ import annotations

import math

import torch

__all__ = ["forward", "hvp", "sample", "SHANNON", "GINI", "TSALLIS", "n_checkpoints"]

SHANNON, GINI, TSALLIS = 0, 1, 2


def n_checkpoints(n: int, seg: int) -> int:
    """Number of stored rows, ``ceil(n / seg)``."""
    return -(-n // seg)


def _init_row(B: int, width: int, exact_k: bool, like: torch.Tensor) -> torch.Tensor:
    row = torch.zeros(B, width, dtype=like.dtype, device=like.device)
    if exact_k:
        row[:, 1:] = -math.inf
    return row


class _Shift:
    """Index maps for reading ``row[c - w]`` (take branch) and writing back to ``c - w``."""

    def __init__(self, w_i: torch.Tensor, width: int):
        cols = torch.arange(width, device=w_i.device)
        down = cols - w_i[:, None]
        self.valid = down >= 0  # (B, width): the take branch exists at column c
        self.down = down.clamp_min(0)
        up = cols + w_i[:, None]
        self.up_valid = up < width
        self.up = up.clamp_max(width - 1)

    def take(self, row: torch.Tensor, fill: float) -> torch.Tensor:
        """``row[c - w]`` where ``c >= w``, else ``fill``."""
        return torch.where(self.valid, row.gather(1, self.down), fill)

    def back(self, x: torch.Tensor) -> torch.Tensor:
        """``out[c] = x[c + w]`` where ``c + w < width``, else 0 (the adjoint of :meth:`take`)."""
        return torch.where(self.up_valid, x.gather(1, self.up), 0.0)


def _step(a, b, reg: int, tau: float, want_dp: bool = False):
    """Regularized max of two branches, cell by cell: ``(V, p, dp/dD or None)``."""
    a_ok = a > -math.inf
    b_ok = b > -math.inf
    both = a_ok & b_ok
    D = torch.where(both, b - a, 0.0)
    hi = torch.maximum(a, b)
    dp = None
    if tau == 0.0:
        p = (D > 0).to(a.dtype)
        v = hi
        if want_dp:
            dp = torch.zeros_like(a)
    elif reg == SHANNON:
        p = torch.sigmoid(D / tau)
        v = hi + tau * torch.log1p(torch.exp(-D.abs() / tau))
        if want_dp:
            dp = p * (1 - p) / tau
    elif reg == GINI:
        p = (0.5 + D / (2 * tau)).clamp(0.0, 1.0)
        v = a + p * D + tau * p * (1 - p)
        if want_dp:
            dp = ((p > 0) & (p < 1)).to(a.dtype) / (2 * tau)
    elif reg == TSALLIS:
        d = (D / (2 * tau)).clamp(-1.0, 1.0)
        p = 0.5 * (1 + d * torch.sqrt(2 - d * d))
        q = 1 - p
        v = a + p * D + (4 * tau / 3) * (1 - p * p.sqrt() - q * q.sqrt())
        if want_dp:
            inside = (p > 0) & (p < 1)
            sp, sq = p.clamp_min(0).sqrt(), q.clamp_min(0).sqrt()
            dp = torch.where(inside, sp * sq / (tau * (sp + sq)).clamp_min(1e-300), 0.0)
    else:  # pragma: no cover - validated upstream
        raise ValueError(f"unknown regularizer code {reg}")
    p = torch.where(both, p, b_ok.to(a.dtype))
    v = torch.where(both, v, hi)
    if want_dp:
        dp = torch.where(both, dp, 0.0)
    return v, p, dp


def _advance(V, theta, w, i, width, reg, tau, want_dp=False):
    """One step ``V_{i} -> V_{i+1}`` (0-based item ``i``): ``(V_next, p, dp, shift)``."""
    sh = _Shift(w[:, i], width)
    b = sh.take(V, -math.inf) + theta[:, i : i + 1]
    v, p, dp = _step(V, b, reg, tau, want_dp)
    return v, p, dp, sh


def forward(theta, w, cap, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Forward sweep and the reverse sweep of marginals.

    Parameters
    ----------
    theta : Tensor (B, n), float32 or float64
    w : LongTensor (B, n), >= 0
    cap : LongTensor (B,), in [0, width - 1]
    exact_k, reg, tau, seg, width : see the module docstring.

    Returns
    -------
    value : Tensor (B,)
        ``V_n[cap]``.
    y : Tensor (B, n)
        ``d value / d theta``, the soft selection.
    ck : Tensor (B, ceil(n / seg), width)
        Row ``V_{j seg}`` at index ``j``.
    """
    B, n = theta.shape
    ck = theta.new_empty(B, n_checkpoints(n, seg), width)
    V = _init_row(B, width, exact_k, theta)
    for i in range(n):
        if i % seg == 0:
            ck[:, i // seg] = V
        V = _advance(V, theta, w, i, width, reg, tau)[0]
    value = V.gather(1, cap[:, None])[:, 0]
    y = theta.new_zeros(B, n)
    E = torch.nn.functional.one_hot(cap, width).to(theta.dtype)
    for i, prev in _reverse_rows(ck, theta, w, seg, width, reg, tau):
        _, p, _, sh = _advance(prev, theta, w, i, width, reg, tau)
        Ep = E * p
        y[:, i] = Ep.sum(1)
        E = E - Ep + sh.back(Ep)
    return value, y, ck


def _reverse_rows(ck, theta, w, seg, width, reg, tau, tangent=None):
    """Yield ``(i, V_i)`` (or ``(i, V_i, T_i)``) for ``i = n-1 .. 0``, block by block."""
    n = theta.shape[1]
    for j in range(ck.shape[1] - 1, -1, -1):
        i0, i1 = j * seg, min(n, (j + 1) * seg)
        V = ck[:, j]
        rows = [V]
        if tangent is not None:
            T = tangent[1][:, j]
            trows = [T]
        for i in range(i0, i1 - 1):
            if tangent is None:
                V = _advance(V, theta, w, i, width, reg, tau)[0]
            else:
                V, T = _tangent_step(V, T, theta, w, tangent[0], i, width, reg, tau)
                trows.append(T)
            rows.append(V)
        for i in range(i1 - 1, i0 - 1, -1):
            if tangent is None:
                yield i, rows[i - i0]
            else:
                yield i, rows[i - i0], trows[i - i0]


def _tangent_step(V, T, theta, w, g, i, width, reg, tau):
    v, p, _, sh = _advance(V, theta, w, i, width, reg, tau)
    tb = sh.take(T, 0.0) + g[:, i : i + 1]
    return v, T + p * (tb - T)


def hvp(theta, w, cap, ck, g, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Vector-Jacobian product ``J^T g`` of ``y = forward(...)[1]`` (``J`` is symmetric).

    Parameters
    ----------
    g : Tensor (B, n)
        Upstream gradient with respect to ``y``.
    ck : the checkpoints returned by :func:`forward`.

    Returns
    -------
    Tensor (B, n)
    """
    B, n = theta.shape
    if tau == 0.0:
        return torch.zeros_like(theta)
    # Tangent forward sweep: T_i = d V_i along g; keep T at the checkpoints of V.
    ckT = torch.empty_like(ck)
    V = ck[:, 0]
    T = torch.zeros_like(V)
    for i in range(n):
        if i % seg == 0:
            ckT[:, i // seg] = T
            V = ck[:, i // seg]
        V, T = _tangent_step(V, T, theta, w, g, i, width, reg, tau)
    out = theta.new_zeros(B, n)
    A = torch.zeros(B, width, dtype=theta.dtype, device=theta.device)
    Bt = torch.nn.functional.one_hot(cap, width).to(theta.dtype)
    for i, prevV, prevT in _reverse_rows(ck, theta, w, seg, width, reg, tau, tangent=(g, ckT)):
        _, p, dp, sh = _advance(prevV, theta, w, i, width, reg, tau, want_dp=True)
        tb = sh.take(prevT, 0.0) + g[:, i : i + 1]
        Dbar = Bt * dp * (tb - prevT)
        tk = A * p + Dbar
        out[:, i] = tk.sum(1)
        Btp = Bt * p
        A = A - A * p - Dbar + sh.back(tk)
        Bt = Bt - Btp + sh.back(Btp)
    return out


def sample(theta, w, cap, ck, u, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Ancestral samples: walk back from ``(n, cap)``, taking item ``i`` with probability ``p_i[c]``.

    Parameters
    ----------
    u : Tensor (S, B, n)
        Uniforms in [0, 1).

    Returns
    -------
    Tensor (S, B, n) of 0/1 in ``theta``'s dtype.
    """
    S = u.shape[0]
    B, n = theta.shape
    out = theta.new_zeros(S, B, n)
    c = cap[None, :].expand(S, B).clone()
    for i, prev in _reverse_rows(ck, theta, w, seg, width, reg, tau):
        _, p, _, _ = _advance(prev, theta, w, i, width, reg, tau)
        pc = p[None].expand(S, B, width).gather(2, c[..., None])[..., 0]
        take = (u[:, :, i] < pc) & (c >= w[None, :, i])
        out[:, :, i] = take.to(theta.dtype)
        c = c - take.long() * w[None, :, i]
    return out
