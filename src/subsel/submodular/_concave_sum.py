"""Concave over modular: feature-based functions, weighted coverage, group coverage.

All three are ``f(S) = sum_u w_u [phi(m_u(S)) - phi(0)]`` with ``m_u(S) = sum_{i in S} x_iu``
for a nonnegative (n, d) matrix ``x`` and a nondecreasing concave ``phi`` (:mod:`._concave`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import check_int, check_matrix, check_vector, input_error, param_error
from ._base import SetFunction
from ._concave import CONCAVE, concave_function
from ._sparse import CHUNK_BYTES, compressed_row, segments

__all__ = ["FeatureBased", "Coverage", "GroupCoverage"]


class _ConcaveSum(SetFunction):
    r"""``f(S) = sum_u w_u [phi(m_u(S)) - phi(0)]`` with ``m_u(S) = sum_{i in S} x_iu``.

    The engine of :class:`FeatureBased`, :class:`Coverage` and :class:`GroupCoverage`.
    """

    def _setup(self, features, label: str, phi: Callable, weights: np.ndarray) -> None:
        self.n, self.n_features = (int(s) for s in features.shape)
        self.features = features
        self.concave = label
        self._phi = phi
        self.weights = weights
        self._phi0 = float(np.asarray(phi(np.zeros(1)), dtype=np.float64)[0])

    def _empty_stats(self):
        return np.zeros(self.n_features, dtype=np.float64)

    def _gains(self, m, c):
        phi, w, F = self._phi, self.weights, self.features
        if sp.issparse(F):
            pos, seg = segments(F.indptr, c)
            cols = F.indices[pos]
            base = m[cols]
            delta = np.asarray(phi(base + F.data[pos]), dtype=np.float64) - phi(base)
            delta *= w[cols]
            return np.bincount(seg, weights=delta, minlength=c.shape[0])
        out = np.empty(c.shape[0], dtype=np.float64)
        phim = np.asarray(phi(m), dtype=np.float64)
        chunk = max(1, CHUNK_BYTES // (8 * self.n_features))
        for a in range(0, c.shape[0], chunk):
            rows = F[c[a : a + chunk]].astype(np.float64)
            rows += m
            delta = np.asarray(phi(rows), dtype=np.float64) - phim
            delta *= w
            out[a : a + rows.shape[0]] = delta.sum(axis=1)
        return out

    def _add(self, m, i):
        F = self.features
        if sp.issparse(F):
            cols, vals = compressed_row(F, i)
            m[cols] += vals
        else:
            m += F[i]

    def _evaluate(self, items):
        F = self.features
        m = np.asarray(F[items].sum(axis=0), dtype=np.float64).ravel()
        vals = np.asarray(self._phi(m), dtype=np.float64) - self._phi0
        return float(np.dot(self.weights, vals))


class FeatureBased(_ConcaveSum):
    r"""Feature based (concave over modular): diminishing returns per feature.

    .. math:: f(S) = \sum_{u=1}^{d} w_u \left[\phi\Big(\sum_{i \in S} x_{iu}\Big) - \phi(0)\right]

    monotone submodular for nonnegative features and weights and a nondecreasing concave
    ``phi``.

    Parameters
    ----------
    features : ndarray or scipy.sparse matrix, shape (n, d)
        ``x_iu >= 0``, finite (counts, TF-IDF, probabilities, ...).
    concave : {"sqrt", "log1p", "min1"} or callable, default "sqrt"
        ``phi``: ``sqrt``, ``log(1 + .)``, ``min(1, .)``, or a vectorized function (ndarray ->
        ndarray of the same shape). A callable's concavity is not checked: a non-concave ``phi``
        makes ``f`` non-submodular and voids greedy's guarantee (and lazy greedy's equivalence
        with naive greedy).
    weights : array-like, shape (d,), optional
        Feature weights ``w_u >= 0`` (default 1).

    Notes
    -----
    State: ``m`` of shape (d,), the feature sums of ``S``. ``gains``: O(d) per candidate dense,
    O(nnz of the row) sparse; ``update``: the same.
    """

    _name = "FeatureBased"

    def __init__(self, features, *, concave="sqrt", weights=None):
        func = "FeatureBased"
        F = check_matrix(
            features,
            "features",
            func,
            hint="feature-based functions need nonnegative features: shift or clip them "
            "(e.g. np.maximum(X, 0))",
        )
        label, phi = concave_function(concave, "concave", func)
        w = _weights(weights, F.shape[1], func)
        self._setup(F, label, phi, w)

    def __repr__(self) -> str:
        return f"FeatureBased(n={self.n}, d={self.n_features}, concave={self.concave!r})"


class Coverage(_ConcaveSum):
    r"""Weighted coverage (set cover): the total weight of the concepts the chosen items cover.

    .. math:: f(S) = \sum_{c=1}^{m} w_c \, [\exists i \in S: a_{ic} = 1]

    monotone submodular for ``w >= 0``. ``GroupCoverage(incidence, h="min1", weights=w)`` is the
    same function.

    Parameters
    ----------
    incidence : ndarray or scipy.sparse matrix, shape (n, m)
        ``a_ic`` in {0, 1} (or bool): item ``i`` covers concept ``c``. Stored as CSR.
    weights : array-like, shape (m,), optional
        Concept weights ``w_c >= 0`` (default 1).

    Notes
    -----
    ``gains`` and ``update``: O(number of concepts of the item) each.
    """

    _name = "Coverage"

    def __init__(self, incidence, *, weights=None):
        A = check_matrix(
            incidence,
            "incidence",
            "Coverage",
            binary=True,
            hint="for real-valued features use FeatureBased",
        )
        A = sp.csr_matrix(A, dtype=np.float64)
        w = _weights(weights, A.shape[1], "Coverage")
        self._setup(A, "min1", CONCAVE["min1"], w)

    def __repr__(self) -> str:
        return f"Coverage(n={self.n}, concepts={self.n_features})"


def _weights(weights: Any, size: int, func: str) -> np.ndarray:
    """Per-feature (per-concept, per-group) weights ``>= 0`` of shape (size,), default 1."""
    if weights is None:
        return np.ones(size)
    return check_vector(
        weights, size, "weights", func, nonnegative=True, hint="weights of a sum are >= 0"
    )


def _membership(groups: Any, n_groups: int | None, func: str) -> sp.csr_matrix:
    """Membership matrix (n_items, n_groups) from a matrix or from group ids per item.

    ``n_groups`` is already checked (None or an int >= 1).
    """
    if sp.issparse(groups) or (isinstance(groups, np.ndarray) and groups.ndim == 2):
        G = check_matrix(
            groups,
            "groups",
            func,
            binary=True,
            hint="a membership matrix holds 1 where item i is in group g; or pass a list of "
            "group ids per item",
        )
        G = sp.csr_matrix(G, dtype=np.float64)
        if n_groups is not None and n_groups != G.shape[1]:
            raise param_error(
                func,
                "n_groups",
                f"None or the membership matrix's number of columns ({G.shape[1]})",
                n_groups,
            )
        return G
    if isinstance(groups, np.ndarray) and groups.ndim > 2:
        raise input_error(
            func,
            "groups",
            f"must be a 2-d membership matrix (n_items, n_groups) or 1-d group ids; got shape "
            f"{groups.shape}",
        )
    if isinstance(groups, np.ndarray) and groups.ndim == 1:
        if groups.dtype.kind not in "iuO":
            raise input_error(
                func,
                "groups",
                f"given as ids must hold ints >= 0 (group ids); got dtype {groups.dtype}",
                kind=TypeError,
            )
    elif isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, np.ndarray)):
        raise input_error(
            func,
            "groups",
            f"must be a membership matrix (n_items, n_groups), dense or sparse, or a list with "
            f"the group id(s) of each item; got {type(groups).__name__}",
            kind=TypeError,
        )
    rows, cols = [], []
    for i, entry in enumerate(groups):
        ids = [entry] if _is_id(entry) else entry
        if isinstance(ids, (str, bytes)) or not isinstance(
            ids, (Sequence, np.ndarray, set, frozenset)
        ):
            raise input_error(
                func,
                "groups",
                f"must hold a group id (int) or a list of ids per item; entry {i} is a "
                f"{type(entry).__name__}",
                kind=TypeError,
            )
        for g in ids:
            if not _is_id(g) or g < 0:
                raise input_error(
                    func,
                    "groups",
                    f"holds {g!r} at entry {i}; group ids must be ints >= 0",
                    kind=ValueError if _is_id(g) else TypeError,
                )
            rows.append(i)
            cols.append(int(g))
    n_items = len(groups)
    if n_items == 0:
        raise input_error(func, "groups", "is empty", "pass one entry per item")
    if not rows and n_groups is None:
        raise input_error(func, "groups", "holds no group ids", "pass n_groups")
    top = max(cols) + 1 if cols else 0
    if n_groups is None:
        n_groups = top
    if top > n_groups:
        raise input_error(
            func,
            "groups",
            f"holds group id {top - 1}, out of range for n_groups={n_groups}",
            "ids must be in [0, n_groups - 1]",
        )
    G = sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(n_items, n_groups),
    )
    G.sum_duplicates()
    G.data[:] = 1.0  # an id listed twice for one item is one membership
    return G


def _is_id(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class GroupCoverage(_ConcaveSum):
    r"""Group coverage diversity (eq. 6 of Prasad, Jegelka and Batra, NIPS 2014).

    .. math:: D(S) = \sum_{g} w_g \, h(|G_g \cap S|)

    with ``h`` nondecreasing, concave and ``h(0) = 0``: monotone submodular. The gain of item
    ``a`` is ``sum_{g ni a} w_g [h(1 + |G_g cap S|) - h(|G_g cap S|)]`` (eq. 7): a group counts
    less the more of its items ``S`` has. ``h = "min1"`` counts the groups hit (eq. 4).

    Parameters
    ----------
    groups : membership matrix (n_items, n_groups), dense or sparse 0/1; or a sequence of length n_items
        In the sequence form, entry ``i`` is the group id (int) of item ``i`` or a list of its
        group ids (possibly empty).
    h : {"min1", "sqrt", "log1p"} or callable, default "min1"
        The concave function (a callable must be vectorized; concavity is not checked).
    weights : array-like, shape (n_groups,), optional
        Group weights ``w_g >= 0`` (default 1; the paper's eq. 6 has none).
    n_groups : int, optional
        Number of groups for the sequence form (default: largest id + 1).

    Notes
    -----
    State: the counts ``|G_g cap S|``. ``gains`` and ``update``: O(number of groups of the item).
    """

    _name = "GroupCoverage"

    def __init__(self, groups, *, h="min1", weights=None, n_groups: int | None = None):
        func = "GroupCoverage"
        if n_groups is not None:
            n_groups = check_int(n_groups, "n_groups", func, low=1)
        G = _membership(groups, n_groups, func)
        label, phi = concave_function(h, "h", func)
        w = _weights(weights, G.shape[1], func)
        self._setup(G, label, phi, w)

    @property
    def n_groups(self) -> int:
        return self.n_features

    def __repr__(self) -> str:
        return f"GroupCoverage(n={self.n}, groups={self.n_features}, h={self.concave!r})"
