"""Graph cut (similarity to everything minus mutual similarity) and modular functions.

:class:`~subsel.submodular._base.Mixture`, the weighted sum of set functions, lives with the
protocol in :mod:`._base` (``f + g`` builds one).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_matrix, check_real, check_symmetric, check_vector
from ._base import SetFunction
from ._facility import check_summable
from ._sparse import compressed_row

__all__ = ["GraphCut", "Modular"]


class GraphCut(SetFunction):
    r"""Graph cut: similarity of the chosen items to everything, minus their mutual similarity.

    .. math:: f(S) = \sum_{i \in V} \sum_{j \in S} s_{ij}
                     - \lambda \sum_{i \in S} \sum_{j \in S} s_{ij}

    (the second sum runs over ordered pairs, ``i = j`` included). Submodular for ``s >= 0`` and
    ``lam >= 0``: the gain of ``a``, ``c_a - lam (2 r_a(S) + s_aa)`` with ``c_a = sum_i s_ia`` and
    ``r_a(S) = sum_{j in S} s_aj``, falls as ``S`` grows.

    **Monotone** exactly when every gain stays >= 0 up to ``S = V - a``, i.e.
    ``lam <= c_a / (2 c_a - s_aa)`` for every ``a``; ``lam <= 1/2`` always suffices. For
    ``lam > 1/2`` it is in general not monotone (greedy's (1 - 1/e) guarantee then does not apply;
    late gains can be negative). For ``lam <= 1``, ``f >= 0``.

    Parameters
    ----------
    similarity : ndarray or scipy.sparse matrix, shape (n, n)
        Symmetric, ``s_ij >= 0``, finite. A matrix symmetric up to rounding (``|s_ij - s_ji| <=
        1e-10 max|s|``, as ``sklearn.metrics.pairwise_distances`` and friends leave) is replaced
        by ``(S + S.T) / 2``; a larger asymmetry raises ``ValueError``.
    lam : float, default 1.0
        ``lambda >= 0``, the weight of the redundancy penalty.

    Notes
    -----
    State: ``r`` of shape (n,). ``gains``: O(1) per candidate; ``update``: O(n) dense, O(nnz of
    the column) sparse. Memory: the matrix plus O(n).
    """

    _name = "GraphCut"

    def __init__(self, similarity, *, lam: float = 1.0):
        func = "GraphCut"
        S = check_matrix(
            similarity,
            "similarity",
            func,
            square=True,
            sparse_format="csc",
            hint="graph cut needs similarities >= 0: shift them (S - S.min())",
        )
        check_summable(S, "similarity", func)
        # rounding-level asymmetry (e.g. 1e-12 from pairwise_distances) is averaged away
        _, S = check_symmetric(S, "similarity", func, raise_error=True)
        if sp.issparse(S) and not sp.isspmatrix_csc(S):
            S = sp.csc_matrix(S)
            S.sum_duplicates()
        self.lam = check_real(lam, "lam", func, low=0.0)
        self.n = int(S.shape[0])
        self._S = S
        if sp.issparse(S):
            self._colsum = np.asarray(S.sum(axis=0, dtype=np.float64)).ravel()
        else:
            self._colsum = S.sum(axis=0, dtype=np.float64)
        self._diag = np.asarray(S.diagonal(), dtype=np.float64)

    def _empty_stats(self):
        return np.zeros(self.n, dtype=np.float64)

    def _gains(self, r, c):
        return self._colsum[c] - self.lam * (2.0 * r[c] + self._diag[c])

    def _add(self, r, i):
        S = self._S
        if sp.issparse(S):
            rows, vals = compressed_row(S, i)  # column i = row i (symmetric)
            r[rows] += vals
        else:
            r += S[i]  # row i = column i (symmetric)

    def _evaluate(self, items):
        S = self._S
        inner = S[items][:, items].sum(dtype=np.float64)
        return float(self._colsum[items].sum() - self.lam * float(inner))

    def __repr__(self) -> str:
        return f"GraphCut(n={self.n}, lam={self.lam:g})"


class Modular(SetFunction):
    r"""Modular: ``f(S) = sum_{i in S} w_i`` (e.g. relevance scores).

    Parameters
    ----------
    weights : array-like, shape (n,)
        Finite; negative weights make ``f`` non-monotone (still modular, hence submodular).

    Notes
    -----
    ``gains``: O(1) per candidate; ``update``: O(1). No statistics.
    """

    _name = "Modular"

    def __init__(self, weights):
        self.weights = check_vector(weights, None, "weights", "Modular")
        check_summable(self.weights, "weights", "Modular")
        self.n = int(self.weights.shape[0])

    def _empty_stats(self):
        return None

    def _gains(self, stats, c):
        return self.weights[c]  # fancy indexing: a copy

    def _add(self, stats, i):
        pass

    def _evaluate(self, items):
        return float(self.weights[items].sum())
