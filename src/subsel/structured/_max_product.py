"""Loopy max-product (max-sum) belief propagation with cardinality factors.

Maximizes :func:`~subsel.structured.inference.objective` with the Hamming-ball factors of
Prasad, Jegelka & Batra (Sec. 3.2), whose messages :func:`_card_messages` computes in
``O(n log n)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_bool, check_int, check_real
from ._cardinality import _card_messages
from ._objective import _check_cardinality, _check_crf
from ._tree import _CHUNK_ELEMS
from .crf import PairwiseCRF

__all__ = ["max_product"]


def _potts_form(t: np.ndarray) -> tuple[float, float] | None:
    """``(diagonal, off-diagonal)`` when a shared table is ``off + (diag - off) I``."""
    L = t.shape[0]
    diag = np.diag(t)
    off = t[~np.eye(L, dtype=bool)]
    if np.all(diag == diag[0]) and np.all(off == off[0]):
        return float(diag[0]), float(off[0])
    return None


class _EdgeMax:
    """``out[e, x_to] = max_{x_from} w_e theta_e(., .) + h[e, x_from]`` for all edges at once."""

    def __init__(self, crf: PairwiseCRF):
        self.crf = crf
        self.w = crf.weights()
        self.L = crf.n_labels
        self.potts = _potts_form(crf.pairwise) if crf.shared_table else None
        self.chunk = max(1, _CHUNK_ELEMS // (self.L * self.L))

    def __call__(self, h: np.ndarray, reverse: bool) -> np.ndarray:
        """Forward: ``h`` indexed by the label of ``edges[:, 0]``, output by ``edges[:, 1]``."""
        crf, L = self.crf, self.L
        m = h.shape[0]
        if self.potts is not None:
            t_d, t_o = self.potts
            top1 = h.max(axis=1)
            if L == 2:
                excl = h[:, ::-1]
            else:
                arg1 = np.argmax(h, axis=1)
                top2 = np.partition(h, L - 2, axis=1)[:, L - 2]
                excl = np.where(
                    np.arange(L)[None, :] == arg1[:, None], top2[:, None], top1[:, None]
                )
            w = self.w[:, None]
            return np.maximum(w * t_d + h, w * t_o + excl)
        out = np.empty((m, L))
        for s in range(0, m, self.chunk):
            sl = slice(s, min(s + self.chunk, m))
            w = self.w[sl, None, None]
            t = w * (crf.pairwise[None] if crf.shared_table else crf.pairwise[sl])
            if reverse:
                out[sl] = np.max(t + h[sl, None, :], axis=2)
            else:
                out[sl] = np.max(t + h[sl, :, None], axis=1)
        return out


def max_product(
    crf: PairwiseCRF,
    *,
    cardinality: Any = (),
    damping: float = 0.5,
    max_iter: int = 100,
    tol: float = 1e-6,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """Approximate MAP by loopy max-product (max-sum) belief propagation.

    Maximizes :func:`objective` ``= score(y) + sum_k phi_k[H(y, reference_k)]``: the pairwise
    CRF plus optional *cardinality factors* of the Hamming distance to earlier labellings (the
    Hamming-ball diversity of Prasad, Jegelka & Batra, Sec. 3.2, ``phi(H) = -lam exp(-gamma H)``).

    Parameters
    ----------
    crf : PairwiseCRF
    cardinality : sequence of (reference, phi) pairs
        ``reference`` a labelling ``(n,)``; ``phi`` finite scores ``(n + 1,)`` of the Hamming
        distance. The factor sees node ``i`` through ``b_i = [y_i != reference_i]``: it
        receives ``delta_i = max_{l != ref_i} mu_i(l) - mu_i(ref_i)`` (``mu_i`` the belief
        without the factor's own message) and sends :func:`cardinality_messages` ``out_i`` to
        every label ``l != ref_i``.
    damping : float in [0, 1)
        New messages are ``damping * old + (1 - damping) * update`` (synchronous schedule).
    max_iter : int >= 1
        Maximum number of message updates.
    tol : float >= 0
        Stop when no message changes by more than ``tol``.
    return_info : bool
        Also return a dict with ``objective`` (the objective of the labelling decoded after each
        iteration), ``best_objective``, ``n_iter`` and ``converged``.

    Returns
    -------
    y : ndarray of int64, shape (n,)
        The best labelling (by :func:`objective`) decoded from the max-marginals over all
        iterations.
    info : dict, only if ``return_info``

    Notes
    -----
    Exact on forests without cardinality factors (messages converge to the max-marginals);
    otherwise a heuristic without guarantees. One iteration costs ``O(m L^2)`` for general
    tables (chunked, ``O(chunk L^2)`` memory), ``O(m L)`` for shared Potts-form tables, plus
    ``O(n log n + n L)`` per cardinality factor; memory ``O((m + n) L)``.
    """
    import scipy.sparse as sp

    func = "max_product"
    _check_crf(crf, func)
    cards = _check_cardinality(cardinality, crf, func)
    damping = check_real(damping, "damping", func, low=0.0, high=1.0, high_open=True)
    max_iter = check_int(max_iter, "max_iter", func, low=1)
    tol = check_real(tol, "tol", func, low=0.0)
    return_info = check_bool(return_info, "return_info", func)

    n, L = crf.unary.shape
    m = crf.n_edges
    rows = np.arange(n)
    i, j = crf.edges[:, 0], crf.edges[:, 1]
    into_j = sp.csr_matrix((np.ones(m), (j, np.arange(m))), shape=(n, m))
    into_i = sp.csr_matrix((np.ones(m), (i, np.arange(m))), shape=(n, m))
    edge_max = _EdgeMax(crf)
    to_j = np.zeros((m, L))  # message edges[e, 0] -> edges[e, 1], by the label of edges[e, 1]
    to_i = np.zeros((m, L))  # message edges[e, 1] -> edges[e, 0], by the label of edges[e, 0]
    refs = [r for r, _ in cards]
    phis = [p for _, p in cards]
    card_out = np.zeros((len(cards), n))  # factor k -> node i: out on every label != ref_i

    def card_msg(k: int) -> np.ndarray:
        msg = np.repeat(card_out[k][:, None], L, axis=1)
        msg[rows, refs[k]] = 0.0
        return msg

    def beliefs() -> np.ndarray:
        b = crf.unary.copy()
        if m:
            b += into_j @ to_j
            b += into_i @ to_i
        for k in range(len(cards)):
            b += card_out[k][:, None]
            b[rows, refs[k]] -= card_out[k]
        return b

    def total(y: np.ndarray) -> float:
        s = float(crf.unary[rows, y].sum())
        if m:
            s += float(crf.edge_scores(y[i], y[j]).sum())
        for r, p in cards:
            s += float(p[int((y != r).sum())])
        return s

    history: list[float] = []
    best_y, best_val = None, -np.inf
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        b = beliefs()
        y = np.argmax(b, axis=1).astype(np.int64)
        val = total(y)
        history.append(val)
        if val > best_val:
            best_y, best_val = y, val
        n_iter += 1
        change = 0.0
        if m:
            new_j = edge_max(b[i] - to_i, reverse=False)
            new_i = edge_max(b[j] - to_j, reverse=True)
            new_j -= new_j.max(axis=1, keepdims=True)
            new_i -= new_i.max(axis=1, keepdims=True)
            new_j = damping * to_j + (1 - damping) * new_j
            new_i = damping * to_i + (1 - damping) * new_i
            change = max(float(np.abs(new_j - to_j).max()), float(np.abs(new_i - to_i).max()))
        else:
            new_j, new_i = to_j, to_i
        new_card = np.empty_like(card_out)
        for k in range(len(cards)):
            mu = b - card_msg(k)
            at_ref = mu[rows, refs[k]]
            mu[rows, refs[k]] = -np.inf
            new_card[k] = _card_messages(mu.max(axis=1) - at_ref, phis[k])
        if len(cards):
            new_card = damping * card_out + (1 - damping) * new_card
            change = max(change, float(np.abs(new_card - card_out).max()))
        to_j, to_i, card_out = new_j, new_i, new_card
        if change <= tol:
            converged = True
            break
    # decode once more from the final messages
    y = np.argmax(beliefs(), axis=1).astype(np.int64)
    val = total(y)
    history.append(val)
    if val > best_val:
        best_y, best_val = y, val
    if return_info:
        return best_y, {
            "objective": history,
            "best_objective": best_val,
            "n_iter": n_iter,
            "converged": converged,
        }
    return best_y
