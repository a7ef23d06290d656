"""Cardinality factors ``phi(sum_i b_i)`` over binary variables: max-product messages in
``O(n log n)`` (Tarlow, Givoni & Zemel, AISTATS 2010) and the exact MAP of one factor plus unary
gains. They carry the Hamming-ball diversity (Sec. 3.2 of Prasad, Jegelka & Batra) in
:func:`~subsel.structured.inference.max_product`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._objective import _check_delta, _check_phi

__all__ = ["cardinality_messages", "cardinality_map"]


def cardinality_messages(delta: Any, phi: Any) -> np.ndarray:
    """Max-product messages of a cardinality factor ``phi(sum_i b_i)`` over binary ``b``.

    Given incoming message differences ``delta_i = m_i(1) - m_i(0)``, returns for every ``i``

    .. math::  out_i = \\max_{b_{-i}} [\\phi(1 + |b_{-i}|) + \\sum_{j \\ne i} b_j \\delta_j]
                     - \\max_{b_{-i}} [\\phi(|b_{-i}|) + \\sum_{j \\ne i} b_j \\delta_j].

    Parameters
    ----------
    delta : array_like, shape (n,)
        Finite incoming differences.
    phi : array_like, shape (n + 1,)
        Finite scores of the count ``0..n``.

    Returns
    -------
    out : ndarray of float64, shape (n,)

    Notes
    -----
    ``O(n log n)`` time, ``O(n)`` memory (Tarlow, Givoni & Zemel, AISTATS 2010): sort ``delta``
    in decreasing order with prefix sums ``P``; for ``i`` at sorted rank ``r`` the best ``c``
    others sum to ``P[c]`` if ``c <= r`` and ``P[c + 1] - delta_i`` otherwise, so both maxima
    are a prefix maximum over ``c <= r`` and a suffix maximum over ``c > r``.
    """
    func = "cardinality_messages"
    d = _check_delta(delta, func, "delta")
    n = d.size
    ph = _check_phi(phi, n, func, "phi")
    return _card_messages(d, ph)


def _card_messages(d: np.ndarray, ph: np.ndarray) -> np.ndarray:
    n = d.size
    if n == 0:
        return np.empty(0)
    perm = np.argsort(-d, kind="stable")
    ds = d[perm]
    pre = np.zeros(n + 1)
    np.cumsum(ds, out=pre[1:])
    c = np.arange(n)  # count of the others, 0..n-1
    neg_inf = np.full(1, -np.inf)

    def best(shift: int) -> np.ndarray:
        # max over c of phi[c + shift] + S_i(c), for the i at each sorted rank r
        low = np.maximum.accumulate(ph[c + shift] + pre[c])  # c <= r
        high = ph[c + shift] + pre[c + 1]  # c > r, before subtracting delta_i
        suf = np.concatenate([np.maximum.accumulate(high[::-1])[::-1][1:], neg_inf])
        return np.maximum(low, suf - ds)

    out_sorted = best(1) - best(0)
    out = np.empty(n)
    out[perm] = out_sorted
    return out


def cardinality_map(delta0: Any, phi: Any) -> np.ndarray:
    """Exact ``argmax_b sum_i b_i delta0_i + phi(sum_i b_i)`` over binary ``b``.

    Parameters
    ----------
    delta0 : array_like, shape (n,)
        Gain of setting ``b_i = 1``.
    phi : array_like, shape (n + 1,)
        Finite scores of the count.

    Returns
    -------
    b : ndarray of int64 (0/1), shape (n,)
        The ``c*`` largest entries of ``delta0`` set, ``c* = argmax_c phi[c] + P[c]``
        (``P`` the prefix sums of ``delta0`` sorted in decreasing order; the smallest best
        ``c`` on ties).

    Notes
    -----
    ``O(n log n)`` time (one sort).
    """
    func = "cardinality_map"
    d = _check_delta(delta0, func, "delta0")
    n = d.size
    ph = _check_phi(phi, n, func, "phi")
    perm = np.argsort(-d, kind="stable")
    pre = np.zeros(n + 1)
    np.cumsum(d[perm], out=pre[1:])
    c_best = int(np.argmax(ph + pre))
    b = np.zeros(n, dtype=np.int64)
    b[perm[:c_best]] = 1
    return b
