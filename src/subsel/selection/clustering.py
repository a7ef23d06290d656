"""(k, z)-clustering backends for sensitivity sampling (numpy + scikit-learn).

Everything here returns *data points* as centres (indices into ``X``), as the experiments of the
sensitivity-sampling paper do: a fitted centre is replaced by the nearest point of its own cluster,
which raises the clustering cost by at most a factor 2^z (see ``_snap`` for why not the nearest
point overall).

- :func:`assign`: nearest centre and ``dist^z`` for every point, in chunks (O(n) memory).
- :func:`dz_order`: D^z-sampling (k-means++ seeding for z = 2): an ordering whose every prefix is
  an O(log k)-approximate clustering in expectation; used for the multi-round algorithm.
- :func:`kz_clustering`: a (k, z)-clustering: z = 2 is scikit-learn's k-means (k-means++ seeding,
  Lloyd), z = 1 is k-median (greedy D^1 seeding scored only where a candidate can take points
  over, then Lloyd rounds of warm-started Weiszfeld steps until the cost stalls), any other
  z >= 1 is D^z seeding alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    Int,
    NoneOr,
    check_choice,
    check_embeddings,
    check_int,
    check_param,
    check_real,
    check_seed,
    input_error,
)
from ._distances import _assign, _candidate_costs, row_sq_norms, update_min_dist
from ._kmedian import _k_median

__all__ = [
    "Clustering",
    "assign",
    "dz_order",
    "kz_clustering",
    "row_sq_norms",
    "update_min_dist",
]


@dataclass(frozen=True)
class Clustering:
    """A clustering whose centres are data points.

    Attributes
    ----------
    center_indices : ndarray of int64, shape (k,)
        Distinct indices into ``X``.
    labels : ndarray of int64, shape (n,)
        Position in ``center_indices`` of each point's nearest centre.
    cost : ndarray of float64, shape (n,)
        ``dist(x, nearest centre) ** z``; ``cost.sum()`` is the clustering cost Phi.
    """

    center_indices: np.ndarray
    labels: np.ndarray
    cost: np.ndarray


def assign(
    X: np.ndarray, centers: np.ndarray, z: float, *, block: int = 1 << 18
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (Euclidean) of every row of ``X`` (n, d) among ``centers`` (k, d), and its
    distance to the power ``z``: ``(labels (n,) int64, dist ** z (n,) float64)``.

    The argmin comes from one matrix product per chunk of ``block / k`` rows; the distance is then
    computed exactly from ``x - c`` (a point that is a centre costs 0). O(n k d) time,
    O(block + chunk d) extra memory, never an n x k matrix. See ``_distances._assign``.
    """
    func = "assign"
    X = check_embeddings(X, func, "X", dtype=None)
    C = check_embeddings(centers, func, "centers", dtype=X.dtype)
    if C.shape[1] != X.shape[1]:
        raise input_error(
            func, "centers", f"must have the {X.shape[1]} columns of X; got shape {C.shape}"
        )
    z = check_real(z, "z", func, low=0, low_open=True)
    block = check_int(block, "block", func, low=1)
    return _assign(X, C, z, block=block)


def dz_order(
    X: np.ndarray,
    m: int,
    *,
    z: float,
    rng: np.random.Generator,
    first: int | None = None,
    n_local_trials: int = 1,
    chunk: int = 16384,
) -> np.ndarray:
    """D^z-sampling order of ``m`` distinct points.

    The first point is uniform (or ``first``); each next point is drawn with probability
    proportional to ``dist(x, chosen)^z``. With ``n_local_trials = L > 1`` (greedy D^z seeding, as
    scikit-learn's k-means++ does with L = 2 + log k) L candidates are drawn and the one that
    lowers the cost most is kept; the L candidates are scored with one matrix product per chunk.
    When every remaining distance is 0 (duplicates) the next point is uniform among the rest.
    Distances use :func:`update_min_dist`'s fast path (row norms and a matrix-vector product).

    O(n m d L) time, O(n + chunk L) extra memory.
    """
    func = "dz_order"
    X = check_embeddings(X, func, dtype=None)
    n = X.shape[0]
    m = check_int(m, "m", func, low=1, high=n, high_label="n", extra=f" (n={n})")
    z = check_real(z, "z", func, low=0, low_open=True)
    rng = check_seed(rng, func, "rng")
    first = check_param(first, NoneOr(Int(0, n - 1)), "first", func)
    n_local_trials = check_int(n_local_trials, "n_local_trials", func, low=1)
    chunk = check_int(chunk, "chunk", func, low=1)
    sq = row_sq_norms(X)
    order = np.empty(m, dtype=np.int64)
    order[0] = rng.integers(n) if first is None else first
    best = np.full(n, np.inf)
    update_min_dist(X, X[order[0]], best, z=z, sq_norms=sq)
    taken = np.zeros(n, dtype=bool)
    taken[order[0]] = True
    for j in range(1, m):
        weights = np.where(taken, 0.0, best)
        total = weights.sum()
        if total <= 0:
            nxt = int(rng.choice(np.flatnonzero(~taken)))
        elif n_local_trials <= 1:
            nxt = int(rng.choice(n, p=weights / total))
        else:
            cands = np.unique(rng.choice(n, size=n_local_trials, p=weights / total))
            costs = _candidate_costs(X, sq, cands, best, z, chunk)
            nxt = int(cands[int(np.argmin(costs))])
        order[j] = nxt
        taken[nxt] = True
        update_min_dist(X, X[nxt], best, z=z, sq_norms=sq)
    return order


def _snap(X: np.ndarray, centers: np.ndarray, rng, z, assigned=None) -> np.ndarray:
    """Replace each fitted centre by the nearest point of its own cluster (distinct by
    construction); a centre with no members is replaced by a D^z draw from the rest.

    For every member x of a cluster with centre c, the chosen point p satisfies
    ``d(c, p) <= d(c, x)``, so ``d(x, p)^z <= 2^z d(x, c)^z``: the clustering cost grows by at most
    2^z. (The nearest data point over all of X, which the paper names, collides in high
    dimensions: 28% of 1000 k-means centres shared a nearest point on 1M x 128 mixture data, and
    the top-up cost more than the clustering.) One assignment pass, O(n k d), plus O(n log n).
    """
    k = centers.shape[0]
    if assigned is None:
        labels, dist = _assign(X, np.asarray(centers, dtype=X.dtype), z)
    else:  # (labels, distances) of X to ``centers``, already computed by the caller
        labels, dist = assigned
    order = np.argsort(dist, kind="stable")
    present, first = np.unique(labels[order], return_index=True)
    chosen = np.full(k, -1, dtype=np.int64)
    chosen[present] = order[first]
    missing = np.flatnonzero(chosen < 0)
    if missing.size:
        unique = chosen[chosen >= 0].tolist()
        best = _assign(X, X[unique], z)[1]
        sq = row_sq_norms(X)
        for j in missing:
            weights = best.copy()
            weights[unique] = 0.0
            nxt = (
                rng.choice(X.shape[0], p=weights / weights.sum())
                if weights.sum() > 0
                else rng.choice(np.setdiff1d(np.arange(X.shape[0]), unique))
            )
            chosen[j] = int(nxt)
            unique.append(int(nxt))
            update_min_dist(X, X[nxt], best, z=z, sq_norms=sq)
    return chosen


_FAISS_AUTO_N = 100_000  # from this many points "auto" uses faiss for z = 2 (when installed)


def _import_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ValueError(
            "backend='faiss' needs faiss, which is not installed; install it with "
            "pip install 'subsel[faiss]' (or pip install faiss-cpu)."
        ) from exc
    return faiss


def _kmeans_faiss(X, k, rng, max_iter, sample_size):
    """Lloyd's k-means in faiss on a uniform sample of ``m = max(sample_size, 64 k)`` points,
    seeded there by our own D^2 sampling (faiss has no k-means++), at most 20 iterations; the
    caller snaps the centres to data points and assigns all n points. O(m k d) per step; on 2
    cores, k = 1000, d = 128, m = 64,000 costs a few seconds, where Lloyd over 1M points cost
    100 s and more."""
    faiss = _import_faiss()
    n, d = X.shape
    m = min(n, max(sample_size, 64 * k))
    sample = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    Xs = np.ascontiguousarray(X[sample], dtype=np.float32)
    seeds = dz_order(Xs, k, z=2.0, rng=rng)
    km = faiss.Kmeans(
        d,
        k,
        niter=min(max_iter, 20),
        seed=int(rng.integers(2**31 - 1)),
        verbose=False,
        max_points_per_centroid=m // k + 1,
    )
    km.train(Xs, init_centroids=np.ascontiguousarray(Xs[seeds]))
    return np.asarray(km.centroids, dtype=np.float64)


def kz_clustering(
    X: np.ndarray,
    n_clusters: int,
    *,
    z: float = 2.0,
    rng: np.random.Generator,
    max_iter: int = 50,
    n_init: int = 3,
    backend: str = "auto",
    sample_size: int = 50_000,
    tol: float = 1e-3,
) -> Clustering:
    """A (k, z)-clustering of ``X`` (n, d) with data points as centres.

    z = 2: scikit-learn ``KMeans`` (one run of greedy k-means++ seeding, then Lloyd). z = 1
    (k-median): the best of ``n_init`` runs of greedy D^1 seeding (2 + ln k candidates a step,
    scored only on the points they can take over) then at most ``max_iter`` Lloyd rounds of
    Weiszfeld geometric-median steps and reassignment, stopped once a round lowers the cost by
    less than ``tol`` (relative; ``tol = 0`` runs all ``max_iter`` rounds). On the 43,152 x 24
    diamonds rows, one core, ``n_init = 1, max_iter = 10``: about 0.65 s at k = 500 and 3 s at
    k = 4,315 (10% of n), where the previous implementation took 4-5 s and 24-27 s, for a cost
    0.1-0.2% higher. BLAS runs single-threaded here (see the comment below). Other z >= 1: D^z
    seeding.

    ``backend`` (z = 2 only): ``"sklearn"``, ``"faiss"`` (Lloyd in faiss, seeded by D^2 sampling on
    a uniform sample of ``sample_size`` points, for large n), or ``"auto"`` (faiss from 100,000
    points when it is installed). Fitted centres
    are snapped to the nearest point of their own clusters (distinct data points); the cost is
    then recomputed exactly.

    O(n k d) per Lloyd iteration, O(n d + k d) memory beyond scikit-learn's own (never n x k).
    """
    func = "kz_clustering"
    X = check_embeddings(X, func, dtype=None)  # k-means keeps float32 (no copy)
    n = X.shape[0]
    n_clusters = check_int(
        n_clusters, "n_clusters", func, low=1, high=n, high_label="n", extra=f" (n={n})"
    )
    z = check_real(z, "z", func, low=1)
    rng = check_seed(rng, func, "rng")
    max_iter = check_int(max_iter, "max_iter", func, low=0)  # 0: seeding only
    n_init = check_int(n_init, "n_init", func, low=1)
    backend = check_choice(backend, ("auto", "sklearn", "faiss"), "backend", func)
    sample_size = check_int(sample_size, "sample_size", func, low=1)
    tol = check_real(tol, "tol", func, low=0)
    if z != 2.0:
        X = np.asarray(X, dtype=np.float64)
    if z == 2.0 and backend == "auto" and X.shape[0] >= _FAISS_AUTO_N:
        try:
            _import_faiss()
            backend = "faiss"
        except ValueError:
            backend = "sklearn"
    if z == 2.0 and backend == "faiss":
        centers = _kmeans_faiss(X, n_clusters, rng, max_iter, sample_size)
        idx = _snap(X, centers.astype(X.dtype), rng, z)
    elif z == 2.0:
        from sklearn.cluster import KMeans

        km = KMeans(
            n_clusters=n_clusters,
            init="k-means++",
            n_init=1,
            max_iter=max_iter,
            random_state=int(rng.integers(2**31 - 1)),
        )
        centers = km.fit(X).cluster_centers_
        idx = _snap(X, centers.astype(X.dtype), rng, z)
    elif z == 1.0:  # the best of n_init runs of greedy D^1 seeding + Lloyd/Weiszfeld
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

        best = None
        # One BLAS thread: the products here are thin (inner dimension d, or L candidates), and
        # threaded BLAS on them cost 5-10x more CPU time on 2 busy cores (k = 500 on the
        # diamonds rows: 7 s instead of 0.8 s), as scikit-learn's KMeans also limits it.
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(max(1, n_init)):
                centers, labels, dist = _k_median(X, n_clusters, rng, max_iter, tol)
                idx = _snap(X, centers, rng, z, assigned=(labels, dist))
                labels, cost = _assign(X, X[idx], z)
                if best is None or cost.sum() < best.cost.sum():
                    best = Clustering(center_indices=idx, labels=labels, cost=cost)
        return best
    else:
        idx = dz_order(X, n_clusters, z=z, rng=rng)
    labels, cost = _assign(X, X[idx], z)
    return Clustering(center_indices=idx, labels=labels, cost=cost)
