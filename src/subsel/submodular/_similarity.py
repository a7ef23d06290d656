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
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["METRICS", "KERNELS", "BACKENDS", "dense_similarity", "knn_similarity"]

METRICS = ("euclidean", "sqeuclidean", "cosine")
KERNELS = ("shift", "exp")
BACKENDS = ("auto", "sklearn", "faiss", "faiss-ivf")
FAISS_AUTO_N = 20_000  # from this many points backend="auto" uses faiss (exact) when installed
_BLOCK_BYTES = 16 * 2**20  # scratch per block of rows in the elementwise passes


def _prepared(X: np.ndarray, metric: str, dtype) -> np.ndarray:
    """Centred rows (euclidean: same distances, smaller norms, less cancellation) or unit rows."""
    n, d = X.shape
    step = max(1, 2**22 // d)  # rows per block: O(32 MB) of float64 temporaries
    out = np.empty((n, d), dtype=dtype)
    if metric != "cosine":
        mean = sum(X[lo : lo + step].sum(axis=0, dtype=np.float64) for lo in range(0, n, step)) / n
    for lo in range(0, n, step):
        block = np.asarray(X[lo : lo + step], dtype=np.float64)
        if metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            norms[norms == 0] = 1.0
            out[lo : lo + step] = block / norms[:, None]
        else:
            out[lo : lo + step] = block - mean
    return out


def _rows_per_block(n: int, itemsize: int) -> int:
    return max(1, min(n, _BLOCK_BYTES // max(1, n * itemsize)))


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


def dense_similarity(X, *, metric: str, kernel: str, gamma: float | None, dtype) -> np.ndarray:
    """The (n, n) similarity matrix of the rows of ``X`` (exactly symmetric), in ``dtype``.

    Memory: the output plus O(n d) and a 16 MB scratch block. Time: one (n, d) x (d, n) product
    (BLAS ``syrk``, :func:`_gram`) and three or four elementwise passes over the output, done block
    by block.
    """
    n, d = X.shape
    Z = _prepared(X, metric, dtype)
    G = _gram(Z)
    step = _rows_per_block(n, G.itemsize)
    g = dtype(1.0 / d if gamma is None else gamma)
    zero = np.zeros(n, dtype=dtype)  # np.maximum with an array is faster than with a scalar
    if metric != "cosine":
        sq = np.einsum("ij,ij->i", Z, Z).astype(dtype)
        scratch = np.empty((step, n), dtype=dtype)
    dmax = 0.0
    for lo in range(0, n, step):
        blk = G[lo : lo + step]
        if metric == "cosine":
            np.subtract(1.0, blk, out=blk)  # 1 - cos
            np.maximum(blk, zero, out=blk)
        else:
            pair = np.add(sq[lo : lo + step, None], sq[None, :], out=scratch[: blk.shape[0]])
            blk *= -2.0
            blk += pair  # (sq_i + sq_j) - 2 g_ij: exactly symmetric, as g is
            np.maximum(blk, zero, out=blk)
            if metric == "euclidean":
                np.sqrt(blk, out=blk)
        rows = np.arange(lo, min(n, lo + step))
        blk[rows - lo, rows] = 0.0  # d_ii = 0 exactly
        if kernel == "exp":
            blk *= -g
            np.exp(blk, out=blk)
        else:
            dmax = max(dmax, float(blk.max()))
    if kernel == "shift":
        c = dtype(dmax)
        for lo in range(0, n, step):
            np.subtract(c, G[lo : lo + step], out=G[lo : lo + step])
    return G


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
    Z = _prepared(X, metric, np.float64 if backend == "sklearn" else np.float32)
    if backend == "sklearn":
        sqd, ind = _knn_sklearn(Z, k)
    else:
        sqd, ind = _knn_faiss(Z, k, backend == "faiss-ivf", ivf_nlist, ivf_nprobe, seed)
    if metric == "euclidean":
        dist = np.sqrt(sqd)
    elif metric == "sqeuclidean":
        dist = sqd
    else:  # unit rows: ||u - v||^2 = 2 - 2 cos
        dist = np.clip(sqd / 2.0, 0.0, 2.0)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = ind.ravel()
    dist = dist.ravel()
    keep = cols >= 0  # faiss marks missing neighbours (small IVF lists) with -1
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    if kernel == "exp":
        g = 1.0 / d if gamma is None else gamma
        sim = np.exp(-g * dist)
    else:
        sim = dist.max() - dist
    S = sp.csc_matrix((sim.astype(dtype), (rows, cols)), shape=(n, n))
    S.sum_duplicates()
    return S
