"""Similarities from features: dense (n, n) matrices and sparse k-nearest-neighbour graphs.

A distance ``d`` comes from ``metric``:

- ``"euclidean"``: ``d_ij = ||x_i - x_j||``;
- ``"sqeuclidean"``: ``d_ij = ||x_i - x_j||^2``;
- ``"cosine"``: ``d_ij = 1 - cos(x_i, x_j)`` (rows of zeros count as orthogonal to everything).

and becomes a nonnegative similarity through ``kernel``:

- ``"shift"``: ``s_ij = c - d_ij`` with ``c = max d`` over the stored pairs (all pairs for a dense
  matrix, the kNN pairs for a graph). For facility location, greedy's choices do not depend on
  ``c`` (as long as ``c >= max d``): the objective is ``n c - sum_i min_{j in S} d_ij``, the
  k-medoids objective. ``metric="sqeuclidean", kernel="shift"`` is apricot's
  ``metric="euclidean"``.
- ``"exp"``: ``s_ij = exp(-gamma d_ij)``, ``gamma = 1 / n_features`` unless given.
  ``metric="euclidean", kernel="exp"`` is submodlib's ``metric="euclidean"``.

Precision and range: distances come from centred rows scaled by a power of two (exact), with
float64 accumulation, whatever the dtype of ``X`` or of the stored similarities; so float32 data
around a large offset, or in clusters far from the mean, lose only the rounding of the stored
value, and values near the top of the float range (1e155 in float64, 3e19 in float32) work. A
shift kernel whose largest distance the storage dtype cannot hold raises a ``ValueError`` that
names ``X`` and the fix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import input_error

__all__ = ["METRICS", "KERNELS", "BACKENDS", "dense_similarity", "knn_similarity"]

METRICS = ("euclidean", "sqeuclidean", "cosine")
KERNELS = ("shift", "exp")
BACKENDS = ("auto", "sklearn", "faiss", "faiss-ivf")
FAISS_AUTO_N = 20_000  # from this many points backend="auto" uses faiss (exact) when installed
_BLOCK_BYTES = 16 * 2**20  # scratch per block of rows in the elementwise passes
_MIRROR_TILE = 512
# float32 distances are recomputed with float64 accumulation where the cancellation factor
# (|z_i|^2 + |z_j|^2) / d_ij^2 exceeds this (float32 would keep fewer than 4 of its 7 digits)
_CANCELLATION = 1e3


def _abs_max(X: np.ndarray, step: int) -> float:
    return max(float(np.abs(X[lo : lo + step]).max()) for lo in range(0, X.shape[0], step))


def _exponent(m: float) -> int:
    """``e`` with ``m / 2^e`` in [0.5, 1) (0 for ``m = 0``): scaling by ``2^-e`` is exact."""
    return int(np.frexp(m)[1]) if m > 0 else 0


def _prepared(X: np.ndarray, metric: str, dtype=np.float64) -> tuple[np.ndarray, int]:
    """The rows in ``dtype``, ready for distances, and the power of two that was divided out.

    euclidean / sqeuclidean: ``Z = (X - mean(X)) / 2^e`` with ``max |Z|`` in [0.5, 1), so that
    ``||x_i - x_j|| = 2^e ||z_i - z_j||``. Centring removes a common offset (points around 1e4
    in float32 lose nothing), and the power of two keeps squares finite however large ``X`` is
    (|x| near 1e155 in float64, 3e19 in float32) and exact. cosine: unit rows, ``e = 0`` (each
    row is first divided by its largest entry so that its norm cannot overflow or underflow).
    Computed in float64 block by block; memory O(n d) in ``dtype``; a few passes over ``X``.
    """
    n, d = X.shape
    step = max(1, 2**22 // d)  # rows per block: O(32 MB) of float64 temporaries
    out = np.empty((n, d), dtype=dtype)
    if metric == "cosine":
        for lo in range(0, n, step):
            block = np.asarray(X[lo : lo + step], dtype=np.float64)
            big = np.abs(block).max(axis=1)
            big[big == 0] = 1.0  # rows of zeros stay zero: orthogonal to everything
            block = block / big[:, None]
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            out[lo : lo + step] = block / norms[:, None]
        return out, 0
    e1 = _exponent(_abs_max(X, step))
    total = np.zeros(d, dtype=np.float64)
    for lo in range(0, n, step):
        total += np.ldexp(np.asarray(X[lo : lo + step], dtype=np.float64), -e1).sum(axis=0)
    mean = total / n
    for lo in range(0, n, step):
        block = np.ldexp(np.asarray(X[lo : lo + step], dtype=np.float64), -e1)
        out[lo : lo + step] = block - mean
    e2 = _exponent(_abs_max(out, step))
    if e2:
        np.ldexp(out, -e2, out=out)
    return out, e1 + e2


def _power(metric: str) -> int:
    return 2 if metric == "sqeuclidean" else 1


def _shift_scale(dmax: float, pe: int, n: int, dtype, metric: str, func: str) -> None:
    """Refuse ``c = 2^pe dmax`` (the largest distance, in X's units) that ``dtype`` cannot hold,
    or whose sum over ``n`` items overflows float64."""
    with np.errstate(over="ignore"):
        c = float(np.ldexp(dmax, pe))
    limit = min(float(np.finfo(dtype).max), float(np.finfo(np.float64).max) / (4.0 * n))
    if not c <= limit:
        raise input_error(
            func,
            "X",
            f"spans {metric} distances up to {c:.3g}, too large for similarities c - d in "
            f"{np.dtype(dtype).name} (limit about {limit:.3g})",
            "rescale it (e.g. X / np.abs(X).max()), or pass dtype=np.float64 or kernel='exp'",
        )


def _exp_rate(gamma: float | None, d: int, pe: int) -> float:
    """``gamma 2^pe``: the rate of ``exp(-rate d_z)`` in the scaled units (may be inf or 0)."""
    g = 1.0 / d if gamma is None else gamma
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(g, pe))


def _exp_kernel(dist: np.ndarray, rate: float) -> np.ndarray:
    """``exp(-rate dist)`` in place (a rate beyond the dtype's range: 1 at distance 0, else 0)."""
    if rate > float(np.finfo(dist.dtype).max):
        dist[...] = dist == 0
        return dist
    dist *= -rate
    return np.exp(dist, out=dist)


def _mirror_upper(G: np.ndarray) -> None:
    """Copy the upper triangle of a square matrix onto its lower one, tile by tile."""
    n, m = G.shape[0], _MIRROR_TILE
    for a in range(0, n, m):
        tile = G[a : a + m, a : a + m]
        il = np.tril_indices(tile.shape[0], -1)
        tile[il] = tile.T[il]
        for b in range(a + m, n, m):
            G[b : b + m, a : a + m] = G[a : a + m, b : b + m].T


_NUMPY_GRAM_MAX = 2**31 - 1  # OpenBLAS's syrk crashes beyond this many output entries


def _gram(Z: np.ndarray) -> np.ndarray:
    """``Z Z^T`` (C-ordered, exactly symmetric).

    Up to 2^31 entries: numpy's ``Z @ Z.T`` (BLAS syrk, half the flops of a product, then a
    mirror). Beyond that, OpenBLAS 0.3.31's syrk segfaults (seen at n = 50,000, d = 1024, through
    numpy and through scipy), so blocks of rows of the upper triangle come from gemm calls with
    outputs under 2^31 entries, and the lower triangle is mirrored tile by tile.
    """
    n = Z.shape[0]
    if n * n <= _NUMPY_GRAM_MAX:
        return Z @ Z.T
    G = np.empty((n, n), dtype=Z.dtype)
    rows = 4096
    for a in range(0, n, rows):
        G[a : a + rows, a:] = Z[a : a + rows] @ Z[a:].T
    m = 512
    for a in range(0, n, m):
        d = G[a : a + m, a : a + m]  # diagonal tile: copy its upper part down
        il = np.tril_indices(d.shape[0], -1)
        d[il] = d.T[il]
        for b in range(a + m, n, m):
            G[b : b + m, a : a + m] = G[a : a + m, b : b + m].T
    return G


def _rows_per_block(n: int, itemsize: int) -> int:
    return max(1, min(n, _BLOCK_BYTES // max(1, n * itemsize)))


def _squared_distances(Z: np.ndarray, dtype) -> tuple[np.ndarray, bool]:
    """``||z_i - z_j||^2`` (n, n) in ``dtype``, exactly symmetric with a zero diagonal.

    ``||z_i||^2 + ||z_j||^2 - 2 z_i . z_j`` from one Gram matrix in ``dtype`` (BLAS syrk). In
    float32 this loses about ``log10(c_ij)`` of float32's 7 digits, ``c_ij = (||z_i||^2 +
    ||z_j||^2) / d_ij^2`` the cancellation factor; a block of rows holding a pair with
    ``c_ij > 1000`` (clusters far apart relative to their spread, near-duplicates) is computed
    again with float64 accumulation (its upper triangle; the lower one is then mirrored).
    Returns the matrix and whether a block was recomputed.
    """
    n = Z.shape[0]
    D = _gram(Z.astype(dtype, copy=False))
    sq = np.einsum("ij,ij->i", Z, Z)
    sqc = sq.astype(dtype)
    step = _rows_per_block(n, D.itemsize)
    scratch = np.empty((step, n), dtype=dtype)
    zero = np.zeros(n, dtype=dtype)  # np.maximum with an array is faster than with a scalar
    check = dtype != np.float64
    redone = False
    for lo in range(0, n, step):
        blk = D[lo : lo + step]
        m = blk.shape[0]
        rows = np.arange(m)
        pair = np.add(sqc[lo : lo + m, None], sqc[None, :], out=scratch[:m])
        blk *= -2.0
        blk += pair  # (sq_i + sq_j) - 2 g_ij: exactly symmetric, as g is
        np.maximum(blk, zero, out=blk)
        blk[rows, lo + rows] = 0.0  # d_ii = 0 exactly
        if not check:
            continue
        pair *= dtype(1.0 / _CANCELLATION)
        pair[rows, lo + rows] = 0.0
        if np.count_nonzero(blk < pair):
            g = Z[lo : lo + m] @ Z[lo:].T  # float64, the upper part of these rows
            g *= -2.0
            g += sq[lo : lo + m, None]
            g += sq[None, lo:]
            np.maximum(g, 0.0, out=g)
            g[rows, rows] = 0.0
            blk[:, lo:] = g
            redone = True
    if redone:
        _mirror_upper(D)
    return D, redone


def dense_similarity(
    X, *, metric: str, kernel: str, gamma: float | None, dtype, func: str
) -> np.ndarray:
    """The (n, n) similarity matrix of the rows of ``X`` (exactly symmetric), in ``dtype``.

    Distances come from centred, power-of-two-scaled rows (:func:`_prepared`) through one Gram
    matrix (BLAS syrk, :func:`_gram`), with float64 recomputation of the blocks of rows where
    float32 would cancel (:func:`_squared_distances`).

    Memory: the output plus O(n d) float64 and two scratch blocks of 16 MB. Time: one (n, d) x
    (d, n) product (n^2 d / 2 multiply-adds, more only where float32 cancels) and three or four
    elementwise passes over the output, block by block.
    """
    n, d = X.shape
    Z, e = _prepared(X, metric)
    pe = _power(metric) * e
    if metric == "cosine":
        D, redone = _gram(Z.astype(dtype, copy=False)), False
    else:
        D, redone = _squared_distances(Z, dtype)
    step = _rows_per_block(n, D.itemsize)
    zero = np.zeros(n, dtype=dtype)
    rate = _exp_rate(gamma, d, pe) if kernel == "exp" else 0.0
    dmax = 0.0
    for lo in range(0, n, step):
        blk = D[lo : lo + step]
        rows = np.arange(blk.shape[0])
        if metric == "cosine":
            np.subtract(1.0, blk, out=blk)  # 1 - cos
            np.maximum(blk, zero, out=blk)
            blk[rows, lo + rows] = 0.0
        elif metric == "euclidean":
            np.sqrt(blk, out=blk)
        if kernel == "exp":
            _exp_kernel(blk, rate)
        else:
            dmax = max(dmax, float(blk.max()))
    if kernel == "shift":
        _shift_scale(dmax, pe, n, dtype, metric, func)
        c = dtype(dmax)
        for lo in range(0, n, step):
            blk = D[lo : lo + step]
            np.subtract(c, blk, out=blk)
            if pe:
                np.ldexp(blk, pe, out=blk)
    return D


def _import_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ValueError(
            "backend='faiss' of FacilityLocation.from_features needs faiss, which is not "
            "installed; install it with pip install 'subsel[faiss]' (or pip install faiss-cpu), "
            "or pass backend='sklearn'."
        ) from exc
    return faiss


def _knn_sklearn(Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean")
    dist, ind = nn.fit(Z).kneighbors(Z)
    return np.square(dist, dtype=np.float64), ind


def _knn_faiss(Z: np.ndarray, k: int, ivf: bool, nlist: int | None, nprobe: int | None, seed):
    faiss = _import_faiss()
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    n, d = Z.shape
    if ivf:
        nlist = min(n, nlist or max(1, round(np.sqrt(n))))
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        m = min(n, 50 * nlist)  # faiss wants >= 39 training points per list
        rng = np.random.default_rng(seed)
        train = Z[np.sort(rng.choice(n, size=m, replace=False))] if m < n else Z
        index.cp.seed = int(rng.integers(2**31 - 1))
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 50
        index.train(train)
        index.add(Z)
        index.nprobe = nprobe or max(1, min(nlist, 16))
    else:
        index = faiss.IndexFlatL2(d)
        index.add(Z)
    sqd = np.empty((n, k), dtype=np.float32)
    ind = np.empty((n, k), dtype=np.int64)
    step = 16_384
    for lo in range(0, n, step):
        sqd[lo : lo + step], ind[lo : lo + step] = index.search(Z[lo : lo + step], k)
    return np.maximum(sqd.astype(np.float64), 0.0), ind


def _refined(X, Z, e: int, rows, cols, sqd: np.ndarray) -> np.ndarray:
    """The searches' squared distances, recomputed exactly where they may have cancelled.

    A search returns ``||z_i||^2 + ||z_j||^2 - 2 z_i . z_j`` (faiss in float32); pairs with a
    cancellation factor ``(||z_i||^2 + ||z_j||^2) / d_ij^2`` above 1000 (self pairs, near
    duplicates, tight clusters far from the mean) get ``||x_i - x_j||^2 / 4^e`` from float64
    differences of the rows of ``X``. O(d) per such pair, in blocks; ``sqd`` is updated in place.
    """
    norms = np.einsum("ij,ij->i", Z, Z, dtype=np.float64)
    bad = np.flatnonzero(sqd * _CANCELLATION < norms[rows] + norms[cols])
    step = max(1, 2**20 // X.shape[1])
    for lo in range(0, bad.size, step):
        t = bad[lo : lo + step]
        diff = np.ldexp(np.asarray(X[rows[t]], dtype=np.float64), -e)
        diff -= np.ldexp(np.asarray(X[cols[t]], dtype=np.float64), -e)
        sqd[t] = np.einsum("ij,ij->i", diff, diff)
    return sqd


def knn_similarity(
    X,
    *,
    n_neighbors: int,
    metric: str,
    kernel: str,
    gamma: float | None,
    dtype,
    backend: str,
    ivf_nlist: int | None = None,
    ivf_nprobe: int | None = None,
    seed=None,
    func: str = "FacilityLocation.from_features",
) -> sp.csc_matrix:
    """Sparse (n, n) similarities on the kNN graph: ``s_ij`` stored when ``j`` is among the
    ``n_neighbors`` nearest points of ``i``, ``i`` itself included (at distance 0; with exact
    duplicates of ``i`` the search may return a duplicate in its place).

    Stored in CSC (column ``j``, the points that have ``j`` as a neighbour, is contiguous).
    Memory O(n * n_neighbors) besides ``X`` (and faiss's copy of ``X`` in float32).
    """
    n, d = X.shape
    k = min(n_neighbors, n)
    if backend == "auto":
        try:
            _import_faiss()
            have_faiss = True
        except ValueError:
            have_faiss = False
        backend = "faiss" if (have_faiss and n >= FAISS_AUTO_N) else "sklearn"
    Z, e = _prepared(X, metric, np.float64 if backend == "sklearn" else np.float32)
    pe = _power(metric) * e
    if backend == "sklearn":
        sqd, ind = _knn_sklearn(Z, k)
    else:
        sqd, ind = _knn_faiss(Z, k, backend == "faiss-ivf", ivf_nlist, ivf_nprobe, seed)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = ind.ravel()
    sqd = sqd.ravel()
    keep = cols >= 0  # faiss marks missing neighbours (small IVF lists) with -1
    rows, cols, sqd = rows[keep], cols[keep], sqd[keep]
    if metric == "euclidean":  # distances in the scaled units of Z: 2^-e times the true ones
        dist = np.sqrt(_refined(X, Z, e, rows, cols, sqd))
    elif metric == "sqeuclidean":
        dist = _refined(X, Z, e, rows, cols, sqd)
    else:  # unit rows: ||u - v||^2 = 2 - 2 cos
        dist = np.clip(sqd / 2.0, 0.0, 2.0)
    if kernel == "exp":
        sim = _exp_kernel(dist, _exp_rate(gamma, d, pe))
    else:
        dmax = float(dist.max())
        _shift_scale(dmax, pe, n, dtype, metric, func)
        sim = np.ldexp(dmax - dist, pe)
    S = sp.csc_matrix((sim.astype(dtype), (rows, cols)), shape=(n, n))
    S.sum_duplicates()
    return S
