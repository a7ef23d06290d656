"""(k, z)-clustering backends for sensitivity sampling (numpy + scikit-learn).

Everything here returns *data points* as centres (indices into ``X``), as the experiments of the
sensitivity-sampling paper do: a fitted centre is replaced by its nearest data point, which loses
at most a constant factor of the clustering cost.

- :func:`assign`: nearest centre and ``dist^z`` for every point, in chunks (O(n) memory).
- :func:`dz_order`: D^z-sampling (k-means++ seeding for z = 2): an ordering whose every prefix is
  an O(log k)-approximate clustering in expectation; used for the multi-round algorithm.
- :func:`kz_clustering`: a (k, z)-clustering: z = 2 is scikit-learn's k-means (k-means++ seeding,
  Lloyd), z = 1 is k-median (D^1 seeding, then Lloyd steps with Weiszfeld geometric medians), any
  other z >= 1 is D^z seeding alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import pairwise_distances_argmin_min

__all__ = ["Clustering", "assign", "dz_order", "kz_clustering", "update_min_dist"]


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


def assign(X: np.ndarray, centers: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (Euclidean) of every row of ``X`` and its distance to the power ``z``.

    ``X`` (n, d), ``centers`` (k, d). O(n k d) time; scikit-learn works in row chunks, so memory
    is O(n + chunk k), never an n x k matrix at once.
    """
    labels, dist = pairwise_distances_argmin_min(X, centers)
    return labels.astype(np.int64), dist.astype(np.float64) ** z


def update_min_dist(
    X: np.ndarray, point: np.ndarray, best: np.ndarray, *, z: float = 1.0, chunk: int = 65536
) -> np.ndarray:
    """In place: ``best = minimum(best, ||X - point||_2 ** z)``, ``chunk`` rows at a time.

    O(n d) time, O(chunk d) extra memory; each row's distance is computed by the same operations
    whatever ``chunk`` is, so the result does not depend on it. Returns ``best``.
    """
    n = X.shape[0]
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        diff = X[lo:hi] - point
        dist = np.sqrt((diff * diff).sum(axis=1))
        if z != 1.0:
            dist **= z
        np.minimum(best[lo:hi], dist, out=best[lo:hi])
    return best


def dz_order(
    X: np.ndarray,
    m: int,
    *,
    z: float,
    rng: np.random.Generator,
    first: int | None = None,
    n_local_trials: int = 1,
) -> np.ndarray:
    """D^z-sampling order of ``m`` distinct points.

    The first point is uniform (or ``first``); each next point is drawn with probability
    proportional to ``dist(x, chosen)^z``. With ``n_local_trials = L > 1`` (greedy D^z seeding, as
    scikit-learn's k-means++ does with L = 2 + log k) L candidates are drawn and the one that
    lowers the cost most is kept. When every remaining distance is 0 (duplicates) the next point
    is uniform among the rest.

    O(n m d L) time, O(n L) extra memory.
    """
    n = X.shape[0]
    order = np.empty(m, dtype=np.int64)
    order[0] = rng.integers(n) if first is None else first
    best = np.full(n, np.inf)
    update_min_dist(X, X[order[0]], best, z=z)
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
            costs = [update_min_dist(X, X[c], best.copy(), z=z).sum() for c in cands]
            nxt = int(cands[int(np.argmin(costs))])
        order[j] = nxt
        taken[nxt] = True
        update_min_dist(X, X[nxt], best, z=z)
    return order


def _snap(X: np.ndarray, centers: np.ndarray, rng, z) -> np.ndarray:
    """Replace fitted centres by their nearest distinct data points."""
    idx, _ = pairwise_distances_argmin_min(centers, X)
    unique = list(dict.fromkeys(idx.tolist()))
    k = centers.shape[0]
    if len(unique) < k:  # two centres snapped to one point: top up by D^z from the rest
        best = np.full(X.shape[0], np.inf)
        for i in unique:
            update_min_dist(X, X[i], best, z=z)
        while len(unique) < k:
            weights = best.copy()
            weights[unique] = 0.0
            nxt = (
                rng.choice(X.shape[0], p=weights / weights.sum())
                if weights.sum() > 0
                else rng.choice(np.setdiff1d(np.arange(X.shape[0]), unique))
            )
            unique.append(int(nxt))
            update_min_dist(X, X[nxt], best, z=z)
    return np.asarray(unique, dtype=np.int64)


def _geometric_medians(X: np.ndarray, labels: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    """Weiszfeld iterations for every cluster at once: the points minimizing the sum of Euclidean
    distances to their members. O(n d) per iteration (cluster sums by a sparse membership matrix).

    Starts from the cluster means (rarely data points, where the plain iteration stalls);
    distances are floored at 1e-12, so a member that is the median pins the iterate there. Empty
    clusters get NaN rows (the caller keeps their previous centre).
    """
    from scipy.sparse import csr_matrix

    n = X.shape[0]
    member = csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))  # cluster sums
    counts = np.asarray(member.sum(1)).ravel()
    y = (member @ X) / np.maximum(counts, 1.0)[:, None]
    for _ in range(iters):
        w = 1.0 / np.maximum(np.sqrt(((X - y[labels]) ** 2).sum(1)), 1e-12)
        num = member @ (X * w[:, None])
        den = member @ w
        y_new = num / np.maximum(den, 1e-300)[:, None]
        done = np.abs(y_new - y).max() < 1e-10
        y = y_new
        if done:
            break
    y[counts == 0] = np.nan
    return y


def _geometric_median(P: np.ndarray, iters: int = 20) -> np.ndarray:
    """The geometric median of the rows of ``P`` (one cluster of :func:`_geometric_medians`)."""
    return _geometric_medians(P, np.zeros(P.shape[0], dtype=np.int64), 1, iters)[0]


def _k_median(X, k, rng, max_iter):
    trials = 2 + int(np.log(k))
    centers = X[dz_order(X, k, z=1.0, rng=rng, n_local_trials=trials)].astype(np.float64)
    for _ in range(max_iter):
        labels, _ = assign(X, centers, 1.0)
        new = _geometric_medians(X, labels, k)
        empty = np.isnan(new[:, 0])
        new[empty] = centers[empty]
        moved = float(np.abs(new - centers).max())
        centers = new
        if moved < 1e-7:
            break
    return centers


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
    """Lloyd's k-means in faiss, seeded by our own D^2 sampling on a uniform sample (faiss has
    no k-means++). O(sample k d) seeding, O(n k d) per iteration in faiss's BLAS kernels."""
    faiss = _import_faiss()
    n, d = X.shape
    m = min(n, max(sample_size, 10 * k))
    sample = rng.choice(n, size=m, replace=False) if m < n else np.arange(n)
    seeds = sample[dz_order(X[sample], k, z=2.0, rng=rng)]
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    km = faiss.Kmeans(
        d,
        k,
        niter=max_iter,
        seed=int(rng.integers(2**31 - 1)),
        verbose=False,
        max_points_per_centroid=max(256, n // k + 1),
    )
    km.train(Xf, init_centroids=np.ascontiguousarray(Xf[seeds]))
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
) -> Clustering:
    """A (k, z)-clustering of ``X`` (n, d) with data points as centres.

    z = 2: scikit-learn ``KMeans`` (one run of greedy k-means++ seeding, then Lloyd). z = 1: the best of
    ``n_init`` runs of greedy D^1 seeding then Lloyd steps with Weiszfeld geometric medians
    (k-median). Other z >= 1: D^z seeding.

    ``backend`` (z = 2 only): ``"sklearn"``, ``"faiss"`` (Lloyd in faiss, seeded by D^2 sampling on
    a uniform sample of ``sample_size`` points, for large n), or ``"auto"`` (faiss from 100,000
    points when it is installed). Fitted centres
    are snapped to their nearest distinct data points; the cost is then recomputed exactly.

    O(n k d) per Lloyd iteration, O(n d + k d) memory beyond scikit-learn's own.
    """
    if backend not in ("auto", "sklearn", "faiss"):
        raise ValueError(f"backend must be one of 'auto', 'sklearn', 'faiss'; got {backend!r}.")
    if z == 2.0 and backend == "auto" and X.shape[0] >= _FAISS_AUTO_N:
        try:
            _import_faiss()
            backend = "faiss"
        except ValueError:
            backend = "sklearn"
    if z == 2.0 and backend == "faiss":
        idx = _snap(X, _kmeans_faiss(X, n_clusters, rng, max_iter, sample_size), rng, z)
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
        idx = _snap(X, centers, rng, z)
    elif z == 1.0:  # the best of n_init runs of greedy D^1 seeding + Lloyd/Weiszfeld
        runs = [_snap(X, _k_median(X, n_clusters, rng, max_iter), rng, z) for _ in range(n_init)]
        idx = min(runs, key=lambda c: assign(X, X[c], z)[1].sum())
    else:
        idx = dz_order(X, n_clusters, z=z, rng=rng)
    labels, cost = assign(X, X[idx], z)
    return Clustering(center_indices=idx, labels=labels, cost=cost)
