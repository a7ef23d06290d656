"""A straightforward Numba reference of the smoothed DP knapsack / top-k (benchmark peer only).

This is the approach of the paper's official code (Numba, full tables), written independently from
the maths in the issue-11 kernel contract: every table is a dense float64 array of shape
(B, n + 1, C + 1), one capacity C for the whole batch, ``numba.njit(parallel=True)`` with
``prange`` over the batch rows (so a batch of 1 runs on one thread), and the three steps are three
separate functions:

- :func:`forward`: the value table V and the choice-probability table P (item i taken at cell
  (i, c));
- :func:`layer`: the marginal table E (probability that the path passes through cell (i, c)) and
  the marginals ``y = d value / d theta``;
- :func:`vjp`: ``J^T g`` for ``J = dy / dtheta`` (symmetric, the Hessian of the value), computed
  as the directional derivative of ``y`` along ``g``: a tangent table of V (forward) and a tangent
  table of E (reverse), both full, then one reduction.

So a forward (``value`` + ``y``) holds three tables, a forward + backward five, i.e.
``B * (n + 1) * (C + 1) * 8 * {3, 5}`` bytes (:func:`table_bytes`). Time O(B n C) per step.

Regularizers (``reg``): 0 = shannon, 1 = gini, 2 = tsallis; ``tau > 0``. ``exact_k`` selects the
top-k init row (only V_0[0] = 0, others -inf: exactly C items of weight 1 are chosen) instead of
the knapsack one (V_0 = 0: total weight at most C).

Set the environment variable ``KNAPSACK_REF_NUMBA_CACHE`` to a folder before importing this module
to cache its compiled functions there (the benchmark does, in a temporary folder); otherwise
nothing is written (``numba.config.CACHE_DIR`` is set only while these functions are decorated,
so the library's own kernels keep their cache location).
"""

from __future__ import annotations

import math
import os
import time

import numba
import numpy as np
from numba import prange

__all__ = [
    "REGULARIZERS",
    "compile_all",
    "forward",
    "layer",
    "soft_select",
    "table_bytes",
    "vjp",
]

REGULARIZERS = {"shannon": 0, "gini": 1, "tsallis": 2}
_CACHE_DIR = os.environ.get("KNAPSACK_REF_NUMBA_CACHE") or None
_NEG_INF = -np.inf


def _jit(**options):
    """``numba.njit(**options)``, cached in ``KNAPSACK_REF_NUMBA_CACHE`` when that is set."""

    def decorate(func):
        if _CACHE_DIR is None:
            return numba.njit(**options)(func)
        saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = _CACHE_DIR  # read when the cache locator is made (now)
        try:
            return numba.njit(cache=True, **options)(func)
        finally:
            numba.config.CACHE_DIR = saved

    return decorate


@_jit(inline="always")
def _combine(a, b, reg, tau):
    """Smoothed max of the skip value ``a`` and the take value ``b``: (value, take probability)."""
    if a == _NEG_INF and b == _NEG_INF:
        return _NEG_INF, 0.0
    if b == _NEG_INF:
        return a, 0.0
    if a == _NEG_INF:
        return b, 1.0
    d = b - a
    if reg == 0:
        z = d / tau
        if z >= 0.0:
            p = 1.0 / (1.0 + math.exp(-z))
        else:
            e = math.exp(z)
            p = e / (1.0 + e)
        return max(a, b) + tau * math.log1p(math.exp(-abs(d) / tau)), p
    if reg == 1:
        p = min(max(0.5 + d / (2.0 * tau), 0.0), 1.0)
        return a + p * d + tau * p * (1.0 - p), p
    x = min(max(d / (2.0 * tau), -1.0), 1.0)
    p = 0.5 * (1.0 + x * math.sqrt(2.0 - x * x))
    q = 1.0 - p
    return a + p * d + (4.0 * tau / 3.0) * (1.0 - p * math.sqrt(p) - q * math.sqrt(q)), p


@_jit(inline="always")
def _dprob(p, reg, tau):
    """dp/dD as a function of p (zero at p in {0, 1}, which covers the one-branch cells)."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    if reg == 0:
        return p * (1.0 - p) / tau
    if reg == 1:
        return 0.5 / tau
    sp = math.sqrt(p)
    sq = math.sqrt(1.0 - p)
    return sp * sq / (tau * (sp + sq))


@_jit(parallel=True)
def forward(theta, w, cap, exact_k, reg, tau):
    """Value and choice-probability tables.

    Parameters
    ----------
    theta : float64 array, shape (B, n)
    w : int64 array, shape (B, n), entries >= 0
    cap : int, the capacity C (top-k: k) shared by all rows
    exact_k : bool
    reg : int (0 shannon, 1 gini, 2 tsallis)
    tau : float > 0

    Returns
    -------
    value : float64 array, shape (B,)
        ``V[:, n, C]``.
    V, P : float64 arrays, shape (B, n + 1, C + 1)
        Row 0 of P is unused (zero).

    Time O(B n C), memory two tables.
    """
    nb, n = theta.shape
    width = cap + 1
    V = np.empty((nb, n + 1, width))
    P = np.zeros((nb, n + 1, width))
    value = np.empty(nb)
    for r in prange(nb):
        V[r, 0, 0] = 0.0
        for c in range(1, width):
            V[r, 0, c] = _NEG_INF if exact_k else 0.0
        for i in range(1, n + 1):
            t = theta[r, i - 1]
            wi = w[r, i - 1]
            for c in range(width):
                a = V[r, i - 1, c]
                b = _NEG_INF
                if c >= wi:
                    prev = V[r, i - 1, c - wi]
                    if prev != _NEG_INF:
                        b = t + prev
                v, p = _combine(a, b, reg, tau)
                V[r, i, c] = v
                P[r, i, c] = p
        value[r] = V[r, n, cap]
    return value, V, P


@_jit(parallel=True)
def layer(P, w):
    """Marginal table and the marginals ``y`` (the soft selection).

    Parameters
    ----------
    P : float64 array, shape (B, n + 1, C + 1), from :func:`forward`
    w : int64 array, shape (B, n)

    Returns
    -------
    y : float64 array, shape (B, n)
    E : float64 array, shape (B, n + 1, C + 1)
        ``E[:, n]`` is one-hot at C.

    Time O(B n C), memory one more table.
    """
    nb, n1, width = P.shape
    n = n1 - 1
    E = np.zeros((nb, n1, width))
    y = np.empty((nb, n))
    for r in prange(nb):
        E[r, n, width - 1] = 1.0
        for i in range(n, 0, -1):
            wi = w[r, i - 1]
            s = 0.0
            for c in range(width):
                s += E[r, i, c] * P[r, i, c]
            y[r, i - 1] = s
            for c in range(width):
                val = E[r, i, c] * (1.0 - P[r, i, c])
                if c + wi < width:
                    val += E[r, i, c + wi] * P[r, i, c + wi]
                E[r, i - 1, c] = val
    return y, E


@_jit(parallel=True)
def vjp(g, P, E, w, reg, tau):
    """``J^T g`` for ``J = dy/dtheta`` (symmetric): the derivative of ``y`` along ``g``.

    Parameters
    ----------
    g : float64 array, shape (B, n), the upstream gradient w.r.t. ``y``
    P, E : float64 arrays, shape (B, n + 1, C + 1), from :func:`forward` and :func:`layer`
    w : int64 array, shape (B, n)
    reg : int
    tau : float

    Returns
    -------
    out : float64 array, shape (B, n)

    Tangent tables Vd (of V, forward in i) and Ed (of E, reverse in i), both full
    (B, n + 1, C + 1): time O(B n C), memory two more tables.
    """
    nb, n1, width = P.shape
    n = n1 - 1
    Vd = np.zeros((nb, n1, width))
    Ed = np.zeros((nb, n1, width))
    out = np.empty((nb, n))
    for r in prange(nb):
        for i in range(1, n + 1):
            gi = g[r, i - 1]
            wi = w[r, i - 1]
            for c in range(width):
                p = P[r, i, c]
                a = Vd[r, i - 1, c]
                if p > 0.0:
                    Vd[r, i, c] = a + p * (gi + Vd[r, i - 1, c - wi] - a)
                else:
                    Vd[r, i, c] = a
        for i in range(n, 0, -1):
            gi = g[r, i - 1]
            wi = w[r, i - 1]
            s = 0.0
            for c in range(width):
                p = P[r, i, c]
                e = E[r, i, c]
                ed = Ed[r, i, c]
                pd = 0.0
                if c >= wi:
                    dp = _dprob(p, reg, tau)
                    if dp != 0.0:
                        pd = dp * (gi + Vd[r, i - 1, c - wi] - Vd[r, i - 1, c])
                s += ed * p + e * pd
                Ed[r, i - 1, c] += ed * (1.0 - p) - e * pd
                if c >= wi:
                    Ed[r, i - 1, c - wi] += ed * p + e * pd
            out[r, i - 1] = s
    return out


def soft_select(theta, w, cap, *, exact_k, reg="shannon", tau=1.0, g=None):
    """Soft selection ``y`` (and ``J^T g`` when ``g`` is given) with the full-table reference.

    Parameters
    ----------
    theta : float64 array, shape (B, n)
    w : int64 array, shape (B, n) (top-k: all ones)
    cap : int, capacity (top-k: k), one for the batch
    exact_k : bool, True for top-k (exactly ``cap`` items), False for the knapsack (weight <= cap)
    reg : {"shannon", "gini", "tsallis"}
    tau : float > 0
    g : float64 array, shape (B, n), optional

    Returns
    -------
    y : float64 array, shape (B, n)
    grad : float64 array, shape (B, n), or None without ``g``

    Memory ``table_bytes(B, n, cap, g is not None)``; time O(B n C).
    """
    code = REGULARIZERS[reg]
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.int64)
    _, _, P = forward(theta, w, int(cap), bool(exact_k), code, float(tau))
    y, E = layer(P, w)
    if g is None:
        return y, None
    grad = vjp(np.ascontiguousarray(g, dtype=np.float64), P, E, w, code, float(tau))
    return y, grad


def table_bytes(batch: int, n: int, cap: int, backward: bool) -> int:
    """Bytes of the reference's float64 tables: 3 for a forward (V, P, E), 5 with the backward."""
    return batch * (n + 1) * (cap + 1) * 8 * (5 if backward else 3)


def compile_all() -> float:
    """Compile (or load from the cache) every function on tiny inputs; the seconds it took."""
    t0 = time.perf_counter()
    theta = np.zeros((1, 2))
    w = np.ones((1, 2), dtype=np.int64)
    soft_select(theta, w, 1, exact_k=True, g=np.ones((1, 2)))
    return time.perf_counter() - t0
