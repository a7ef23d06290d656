"""Submodular set functions with an incremental state: the public API every optimizer uses.

All functions here are normalized (``f(empty set) = 0``) and submodular; all but
:class:`GraphCut` (for ``lam > 1/2``) and :class:`Modular` (with negative weights) are monotone.
Each one documents the cost of ``gains`` (per candidate) and ``update`` (per added item); ``n``
is the ground-set size. See :mod:`subsel.submodular._base` for the protocol.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import check_embeddings, check_int, check_seed, param_error
from ._base import Mixture, SetFunction, SetState
from ._checks import (
    CONCAVE,
    as_matrix,
    as_real,
    as_weights,
    check_choice,
    check_symmetric,
    concave_function,
)
from ._similarity import BACKENDS, KERNELS, METRICS, dense_similarity, knn_similarity

__all__ = [
    "SetFunction",
    "SetState",
    "FacilityLocation",
    "FeatureBased",
    "Coverage",
    "GroupCoverage",
    "GraphCut",
    "Modular",
    "Mixture",
]

_CHUNK_BYTES = 4 * 2**20  # scratch per chunk of candidates in the dense gain kernels


def _segments(indptr: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR/CSC ``data`` array of the rows/columns ``c``, and the segment id of each.

    For ``c = [c_0, c_1, ...]`` the positions are those of ``c_0``'s entries, then ``c_1``'s, ...,
    each in storage order; ``seg[t]`` is the index into ``c`` that position ``t`` belongs to.
    """
    starts = indptr[c]
    lens = indptr[c + 1] - starts
    if c.shape[0] == 1:
        pos = np.arange(starts[0], starts[0] + lens[0])
        return pos, np.zeros(pos.shape[0], dtype=np.intp)
    seg = np.repeat(np.arange(c.shape[0], dtype=np.intp), lens)
    first = np.cumsum(lens) - lens  # where each segment starts in the output
    pos = np.arange(seg.shape[0], dtype=np.int64) + (starts - first)[seg]
    return pos, seg


def _is_run(idx: np.ndarray) -> bool:
    """Whether ``idx`` is ``lo, lo + 1, ..., lo + m - 1``."""
    m = idx.shape[0]
    if int(idx[-1]) - int(idx[0]) != m - 1:
        return False
    return m <= 2 or bool(np.all(np.diff(idx) == 1))


def _float_dtype(value: Any, func: str):
    try:
        dt = np.dtype(value)
    except TypeError as exc:
        raise param_error(func, "dtype", "np.float32 or np.float64", value, kind=TypeError) from exc
    if dt not in (np.float32, np.float64):
        raise param_error(func, "dtype", "np.float32 or np.float64", value)
    return dt.type


# ==================================================================================================
# facility location
# ==================================================================================================


class FacilityLocation(SetFunction):
    r"""Facility location: how well the chosen items represent every item.

    .. math:: f(S) = \sum_{i=1}^{n} \max_{j \in S} s_{ij}, \qquad f(\emptyset) = 0,

    monotone submodular for ``s >= 0``. Greedy maximization is a (1 - 1/e)-approximation.

    Parameters
    ----------
    similarity : ndarray or scipy.sparse matrix, shape (n, n)
        ``s_ij >= 0``, finite: how well item ``j`` represents item ``i`` (row ``i``: the item
        represented; column ``j``: the candidate). float32 stays float32 (half the memory of
        float64; gains are still summed in float64); other dtypes become float64. A sparse matrix
        (e.g. a kNN graph) is stored in CSC; missing entries are similarity 0.
    symmetric : bool or None, default None
        Dense input only. Gains read columns of ``S``; for a C-ordered symmetric matrix these are
        its rows, read in place. ``None`` checks symmetry (one pass over ``S``); ``False`` (or a
        failed check) stores a transposed copy (twice the memory while it is made). A
        Fortran-ordered matrix is always used in place.

    Notes
    -----
    The state holds ``cur`` of shape (n,), ``cur_i = max_{j in S} s_ij``.

    - dense: ``gains`` O(n) per candidate (``sum_i max(0, s_ij - cur_i)``, vectorized over
      candidates in chunks of about 4 MB); ``update`` O(n).
    - sparse: ``gains`` O(nnz of column j) per candidate; ``update`` O(nnz of column j).

    Memory: the matrix (n^2 floats dense, or its nonzeros) plus O(n).

    Examples
    --------
    >>> import numpy as np
    >>> from subsel.submodular import FacilityLocation, maximize
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> f = FacilityLocation.from_features(X)
    >>> sel = maximize(f, 10)
    >>> len(sel.indices)
    10
    """

    _name = "FacilityLocation"

    def __init__(self, similarity, *, symmetric: bool | None = None):
        if symmetric is not None and not isinstance(symmetric, bool):
            raise param_error(
                "FacilityLocation", "symmetric", "None, True or False", symmetric, kind=TypeError
            )
        S = as_matrix(
            similarity,
            "similarity",
            "FacilityLocation",
            square=True,
            sparse_format="csc",
            hint="Facility location needs similarities >= 0: shift them (S - S.min()) or build "
            "them with FacilityLocation.from_features(X).",
        )
        self._setup(S, symmetric)

    def _setup(self, S, symmetric: bool | None) -> None:
        self.n = int(S.shape[0])
        self.dtype = S.dtype.type
        if sp.issparse(S):
            self._csc = S
            self._cols = None
            return
        self._csc = None
        if S.flags.f_contiguous:
            self._cols = S.T  # row j of the C-ordered view is column j of S
        elif S.flags.c_contiguous and (
            symmetric
            or (
                symmetric is None
                and check_symmetric(S, "similarity", "FacilityLocation", raise_error=False)
            )
        ):
            self._cols = S
        else:
            self._cols = np.ascontiguousarray(S.T)

    @classmethod
    def _trusted(cls, S, symmetric: bool) -> FacilityLocation:
        """Wrap a similarity built here (already checked: finite, >= 0, square)."""
        self = cls.__new__(cls)
        self._setup(S, symmetric)
        return self

    @classmethod
    def from_features(
        cls,
        X,
        *,
        metric: str = "euclidean",
        n_neighbors: int | None = None,
        kernel: str = "shift",
        gamma: float | None = None,
        dtype=np.float32,
        backend: str = "auto",
        ivf_nlist: int | None = None,
        ivf_nprobe: int | None = None,
        seed=None,
    ) -> FacilityLocation:
        r"""Facility location on similarities computed from the rows of ``X``.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Finite features, one row per item.
        metric : {"euclidean", "sqeuclidean", "cosine"}, default "euclidean"
            The distance ``d_ij``: ``||x_i - x_j||``, its square, or ``1 - cos(x_i, x_j)``.
        n_neighbors : int or None, default None
            None: the dense (n, n) matrix (memory n^2 floats). An int k: the sparse kNN graph,
            ``s_ij`` stored only when ``j`` is one of the k nearest points of ``i`` (``i``
            included), memory O(n k).
        kernel : {"shift", "exp"}, default "shift"
            ``"shift"``: ``s_ij = c - d_ij``, ``c`` the largest distance stored (greedy's choices do
            not depend on ``c``; it maximizes ``-sum_i min_{j in S} d_ij``, the k-medoids
            objective). ``"exp"``: ``s_ij = exp(-gamma d_ij)``.
        gamma : float, optional
            For ``kernel="exp"``; default ``1 / d``.
        dtype : np.float32 or np.float64, default np.float32
            Of the stored similarities.
        backend : {"auto", "sklearn", "faiss", "faiss-ivf"}, default "auto"
            kNN search (with ``n_neighbors``): scikit-learn brute force, faiss exact
            (``IndexFlatL2``), or faiss approximate (``IndexIVFFlat`` with ``ivf_nlist`` lists,
            default ``sqrt(n)``, trained by 10 k-means iterations on ``50 ivf_nlist`` points, and
            ``ivf_nprobe`` probes, default 16; recall < 1). ``"auto"``: faiss
            exact from 20,000 points when faiss is installed, else scikit-learn.
        ivf_nlist, ivf_nprobe : int, optional
            For ``backend="faiss-ivf"``.
        seed : None, int or numpy.random.Generator
            For the training sample of ``backend="faiss-ivf"``.

        Notes
        -----
        The peers' euclidean similarities, for comparison: apricot's ``metric="euclidean"`` is
        ``metric="sqeuclidean", kernel="shift"``; submodlib's ``metric="euclidean"`` is
        ``metric="euclidean", kernel="exp"`` (``gamma = 1 / d``).

        Cost: dense, one (n, d) x (d, n) product (BLAS syrk) and a few passes over the n x n
        result; kNN, the search (brute force O(n^2 d), or IVF) and O(n k) more.
        """
        func = "FacilityLocation.from_features"
        X = check_embeddings(X, func, dtype=None)
        n = X.shape[0]
        check_choice(metric, METRICS, "metric", func)
        check_choice(kernel, KERNELS, "kernel", func)
        check_choice(backend, BACKENDS, "backend", func)
        if gamma is not None:
            gamma = as_real(gamma, "gamma", func, low=0.0, low_open=True)
        dt = _float_dtype(dtype, func)
        if n_neighbors is None:
            S = dense_similarity(X, metric=metric, kernel=kernel, gamma=gamma, dtype=dt)
            return cls._trusted(S, symmetric=True)
        k = check_int(
            n_neighbors,
            "n_neighbors",
            func,
            low=1,
            high=n,
            high_label="n",
            extra=f" (n={n}) or None",
        )
        for name, value in (("ivf_nlist", ivf_nlist), ("ivf_nprobe", ivf_nprobe)):
            if value is not None:
                check_int(value, name, func, low=1)
        if seed is not None:
            seed = check_seed(seed, func)
        S = knn_similarity(
            X,
            n_neighbors=k,
            metric=metric,
            kernel=kernel,
            gamma=gamma,
            dtype=dt,
            backend=backend,
            ivf_nlist=ivf_nlist,
            ivf_nprobe=ivf_nprobe,
            seed=seed,
        )
        return cls._trusted(S, symmetric=False)

    # ------------------------------------------------------------------ properties
    @property
    def is_sparse(self) -> bool:
        """Whether the similarities are stored sparse (CSC)."""
        return self._csc is not None

    @property
    def similarity(self):
        """The (n, n) similarity matrix (a view of the stored one; do not modify)."""
        return self._csc if self._csc is not None else self._cols.T

    # ------------------------------------------------------------------ kernels
    def _empty_stats(self):
        return {"cur": np.zeros(self.n, dtype=self.dtype), "empty": True}

    def _gains(self, st, c):
        if self._csc is not None:
            return self._gains_sparse(st, c)
        cols, cur, empty = self._cols, st["cur"], st["empty"]
        m = c.shape[0]
        out = np.empty(m, dtype=np.float64)
        if m == 0:
            return out
        chunk = max(1, _CHUNK_BYTES // (self.n * cols.itemsize))
        for a in range(0, m, chunk):
            idx = c[a : a + chunk]
            if _is_run(idx):
                rows = cols[idx[0] : idx[0] + idx.shape[0]]  # a view: do not write into it
                if not empty:
                    rows = np.maximum(rows, cur)
            else:
                rows = cols[idx]  # a copy
                if not empty:
                    np.maximum(rows, cur, out=rows)
            if not empty:
                # max(s, cur) - cur is max(s - cur, 0) bit for bit, and cheaper; every term is
                # nonincreasing in cur, and so is the sum: stale gains stay upper bounds
                np.subtract(rows, cur, out=rows)
            out[a : a + idx.shape[0]] = np.einsum("ij->i", rows, dtype=np.float64)
        return out

    def _gains_sparse(self, st, c):
        S, cur = self._csc, st["cur"]
        pos, seg = _segments(S.indptr, c)
        vals = S.data[pos]
        if not st["empty"]:
            vals = vals - cur[S.indices[pos]]
            np.maximum(vals, 0, out=vals)
        return np.bincount(seg, weights=vals, minlength=c.shape[0])

    def _add(self, st, i):
        cur = st["cur"]
        if self._csc is not None:
            S = self._csc
            lo, hi = S.indptr[i], S.indptr[i + 1]
            rows = S.indices[lo:hi]
            cur[rows] = np.maximum(cur[rows], S.data[lo:hi])
        else:
            np.maximum(cur, self._cols[i], out=cur)
        st["empty"] = False

    def _evaluate(self, items):
        if self._csc is not None:
            sub = self._csc[:, items]
            return float(np.asarray(sub.max(axis=1).todense(), dtype=np.float64).sum())
        best = np.zeros(self.n, dtype=self.dtype)
        for a in range(0, items.shape[0], 64):
            np.maximum(best, self._cols[items[a : a + 64]].max(axis=0), out=best)
        return float(best.sum(dtype=np.float64))

    def __repr__(self) -> str:
        kind = f"sparse, nnz={self._csc.nnz}" if self._csc is not None else "dense"
        return f"FacilityLocation(n={self.n}, {kind}, dtype={np.dtype(self.dtype).name})"


# ==================================================================================================
# concave over modular: feature-based, coverage, group coverage
# ==================================================================================================


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
            pos, seg = _segments(F.indptr, c)
            cols = F.indices[pos]
            base = m[cols]
            delta = np.asarray(phi(base + F.data[pos]), dtype=np.float64) - phi(base)
            delta *= w[cols]
            return np.bincount(seg, weights=delta, minlength=c.shape[0])
        out = np.empty(c.shape[0], dtype=np.float64)
        phim = np.asarray(phi(m), dtype=np.float64)
        chunk = max(1, _CHUNK_BYTES // (8 * self.n_features))
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
            lo, hi = F.indptr[i], F.indptr[i + 1]
            m[F.indices[lo:hi]] += F.data[lo:hi]
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
        F = as_matrix(
            features,
            "features",
            "FeatureBased",
            hint="Feature-based functions need nonnegative features: shift or clip them "
            "(e.g. np.maximum(X, 0)).",
        )
        label, phi = concave_function(concave, "concave", "FeatureBased")
        w = np.ones(F.shape[1]) if weights is None else weights
        w = as_weights(w, F.shape[1], "weights", "FeatureBased", nonnegative=True)
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
        A = as_matrix(
            incidence,
            "incidence",
            "Coverage",
            binary=True,
            hint="For real-valued features use FeatureBased.",
        )
        A = sp.csr_matrix(A, dtype=np.float64)
        w = np.ones(A.shape[1]) if weights is None else weights
        w = as_weights(w, A.shape[1], "weights", "Coverage", nonnegative=True)
        self._setup(A, "min1", CONCAVE["min1"], w)

    def __repr__(self) -> str:
        return f"Coverage(n={self.n}, concepts={self.n_features})"


def _membership(groups: Any, n_groups: int | None, func: str) -> sp.csr_matrix:
    """Membership matrix (n_items, n_groups) from a matrix or from group ids per item."""
    if sp.issparse(groups) or (isinstance(groups, np.ndarray) and groups.ndim == 2):
        G = as_matrix(
            groups,
            "groups",
            func,
            binary=True,
            hint="A membership matrix holds 1 where item i is in group g; or pass a list of "
            "group ids per item.",
        )
        G = sp.csr_matrix(G, dtype=np.float64)
        if n_groups is not None and n_groups != G.shape[1]:
            raise ValueError(
                f"The 'n_groups' parameter of {func} must match the membership matrix's "
                f"{G.shape[1]} columns. Got {n_groups} instead."
            )
        return G
    if isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, np.ndarray)):
        raise TypeError(
            f"Input 'groups' of {func} must be a membership matrix (n_items, n_groups), dense "
            f"or sparse, or a list with the group id(s) of each item; got "
            f"{type(groups).__name__}."
        )
    rows, cols = [], []
    for i, entry in enumerate(groups):
        ids = [entry] if isinstance(entry, numbers.Integral) else entry
        if isinstance(ids, (str, bytes)) or not isinstance(
            ids, (Sequence, np.ndarray, set, frozenset)
        ):
            raise TypeError(
                f"Input 'groups' of {func}: entry {i} must be a group id (int) or a list of ids; "
                f"got {type(entry).__name__}."
            )
        for g in ids:
            if isinstance(g, bool) or not isinstance(g, numbers.Integral) or g < 0:
                raise ValueError(
                    f"Input 'groups' of {func}: entry {i} holds {g!r}; group ids must be ints >= 0."
                )
            rows.append(i)
            cols.append(int(g))
    if not rows and n_groups is None:
        raise ValueError(f"Input 'groups' of {func} holds no group ids; pass n_groups.")
    n_items = len(groups)
    if n_items == 0:
        raise ValueError(f"Input 'groups' of {func} is empty; pass one entry per item.")
    top = max(cols) + 1 if cols else 0
    if n_groups is None:
        n_groups = top
    n_groups = check_int(n_groups, "n_groups", func, low=1)
    if top > n_groups:
        raise ValueError(
            f"Input 'groups' of {func} holds group id {top - 1}, out of range for "
            f"n_groups={n_groups}; ids must be in [0, n_groups - 1]."
        )
    G = sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(n_items, n_groups),
    )
    G.sum_duplicates()
    G.data[:] = 1.0  # an id listed twice for one item is one membership
    return G


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
        G = _membership(groups, n_groups, "GroupCoverage")
        label, phi = concave_function(h, "h", "GroupCoverage")
        w = np.ones(G.shape[1]) if weights is None else weights
        w = as_weights(w, G.shape[1], "weights", "GroupCoverage", nonnegative=True)
        self._setup(G, label, phi, w)

    @property
    def n_groups(self) -> int:
        return self.n_features

    def __repr__(self) -> str:
        return f"GroupCoverage(n={self.n}, groups={self.n_features}, h={self.concave!r})"


# ==================================================================================================
# graph cut, modular
# ==================================================================================================


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
        Symmetric, ``s_ij >= 0``, finite.
    lam : float, default 1.0
        ``lambda >= 0``, the weight of the redundancy penalty.

    Notes
    -----
    State: ``r`` of shape (n,). ``gains``: O(1) per candidate; ``update``: O(n) dense, O(nnz of
    the column) sparse. Memory: the matrix plus O(n).
    """

    _name = "GraphCut"

    def __init__(self, similarity, *, lam: float = 1.0):
        S = as_matrix(
            similarity,
            "similarity",
            "GraphCut",
            square=True,
            sparse_format="csc",
            hint="Graph cut needs similarities >= 0: shift them (S - S.min()).",
        )
        check_symmetric(S, "similarity", "GraphCut", raise_error=True)
        self.lam = as_real(lam, "lam", "GraphCut", low=0.0)
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
            lo, hi = S.indptr[i], S.indptr[i + 1]
            r[S.indices[lo:hi]] += S.data[lo:hi]
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
        arr = np.asarray(weights) if not isinstance(weights, (str, bytes)) else weights
        if isinstance(arr, np.ndarray) and arr.ndim != 1:
            raise ValueError(f"Input 'weights' of Modular must be 1-d (n,); got shape {arr.shape}.")
        size = int(arr.shape[0]) if isinstance(arr, np.ndarray) else -1
        if size == 0:
            raise ValueError("Input 'weights' of Modular is empty; pass one weight per item.")
        self.weights = as_weights(weights, size, "weights", "Modular", nonnegative=False)
        self.n = size

    def _empty_stats(self):
        return None

    def _gains(self, stats, c):
        return self.weights[c]  # fancy indexing: a copy

    def _add(self, stats, i):
        pass

    def _evaluate(self, items):
        return float(self.weights[items].sum())
