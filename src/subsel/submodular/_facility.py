"""Facility location, ``f(S) = sum_i max_{j in S} s_ij``, on a given or a computed similarity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import (
    Bool,
    NoneOr,
    check_choice,
    check_embeddings,
    check_int,
    check_matrix,
    check_param,
    check_real,
    check_seed,
    input_error,
)
from ._base import SetFunction
from ._similarity import BACKENDS, KERNELS, METRICS, dense_similarity, knn_similarity
from ._sparse import CHUNK_BYTES, compressed_row, float_dtype, is_run, segments

__all__ = ["FacilityLocation"]


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
        its rows, read in place. ``None`` checks exact symmetry (one pass over ``S``; facility
        location does not need symmetry, so ``S`` is never altered); ``False`` (or a failed
        check) stores a transposed copy (twice the memory while it is made). A
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
        func = "FacilityLocation"
        symmetric = check_param(symmetric, NoneOr(Bool()), "symmetric", func)
        S = check_matrix(
            similarity,
            "similarity",
            func,
            square=True,
            sparse_format="csc",
            hint="facility location needs similarities >= 0: shift them (S - S.min()) or build "
            "them with FacilityLocation.from_features(X)",
        )
        check_summable(S, "similarity", func)
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
        elif S.flags.c_contiguous and (symmetric or (symmetric is None and _exactly_symmetric(S))):
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

        Distances come from centred rows scaled by a power of two, so float32 data around a
        large offset lose nothing, and values near the top of the float range work (|x| near
        3e19 in float32, 1e155 in float64). Where float32 arithmetic would cancel (cancellation
        factor ``(|z_i|^2 + |z_j|^2) / d_ij^2 > 1000``, e.g. tight clusters far apart) blocks of
        rows, or kNN pairs, are recomputed in float64. A ``"shift"`` kernel whose largest
        distance ``dtype`` cannot hold raises ``ValueError`` (pass ``dtype=np.float64``).

        Cost: dense, one (n, d) x (d, n) product (BLAS syrk; float64 again only for blocks that
        would cancel) and a few passes over the n x n result; kNN, the search (brute force
        O(n^2 d), or IVF), O(n k) more, and O(d) per pair that would cancel.
        """
        func = "FacilityLocation.from_features"
        X = check_embeddings(X, func, dtype=None)
        n = X.shape[0]
        check_choice(metric, METRICS, "metric", func)
        check_choice(kernel, KERNELS, "kernel", func)
        check_choice(backend, BACKENDS, "backend", func)
        if gamma is not None:
            gamma = check_real(gamma, "gamma", func, low=0.0, low_open=True)
        dt = float_dtype(dtype, func)
        if n_neighbors is not None:
            n_neighbors = check_int(
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
        if n_neighbors is None:
            S = dense_similarity(X, metric=metric, kernel=kernel, gamma=gamma, dtype=dt, func=func)
            return cls._trusted(S, symmetric=True)
        S = knn_similarity(
            X,
            n_neighbors=n_neighbors,
            metric=metric,
            kernel=kernel,
            gamma=gamma,
            dtype=dt,
            backend=backend,
            ivf_nlist=ivf_nlist,
            ivf_nprobe=ivf_nprobe,
            seed=seed,
            func=func,
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
        chunk = max(1, CHUNK_BYTES // (self.n * cols.itemsize))
        for a in range(0, m, chunk):
            idx = c[a : a + chunk]
            if is_run(idx):
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
        pos, seg = segments(S.indptr, c)
        vals = S.data[pos]
        if not st["empty"]:
            vals = vals - cur[S.indices[pos]]
            np.maximum(vals, 0, out=vals)
        return np.bincount(seg, weights=vals, minlength=c.shape[0])

    def _add(self, st, i):
        cur = st["cur"]
        if self._csc is not None:
            rows, vals = compressed_row(self._csc, i)
            cur[rows] = np.maximum(cur[rows], vals)
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


def _exactly_symmetric(S: np.ndarray) -> bool:
    """Whether a dense square matrix equals its transpose bit for bit (blocks of rows, no copy).

    Facility location does not need symmetry; it only decides whether the rows of a C-ordered
    ``S`` can serve as its columns. Exact equality keeps ``f`` exactly the user's function.
    """
    n = S.shape[0]
    step = max(1, min(n, 256))
    return all(
        np.array_equal(S[lo : lo + step], S[:, lo : lo + step].T) for lo in range(0, n, step)
    )


def check_summable(S, name: str, func: str) -> None:
    """Refuse similarities so large that a sum over the n items overflows float64.

    Gains and values are sums of up to n entries (or of n differences); they need
    ``2 n max|s|`` to be finite. One pass over the stored values (blocks of rows).
    """
    data = S.data if sp.issparse(S) else S
    if data.size == 0:
        return
    if data.ndim == 2:
        step = max(1, 2**22 // max(1, data.shape[1]))
        big = max(float(np.abs(data[lo : lo + step]).max()) for lo in range(0, len(data), step))
    else:
        big = float(np.abs(data).max())
    limit = float(np.finfo(np.float64).max) / (4.0 * max(S.shape))
    if big > limit:
        raise input_error(
            func,
            name,
            f"holds values up to {big:.3g}; sums over its {max(S.shape)} rows overflow float64 "
            f"(limit about {limit:.3g})",
            f"rescale it (e.g. {name} / abs({name}).max())",
        )
