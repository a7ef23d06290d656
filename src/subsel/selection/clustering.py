"""(k, z)-clustering backends for sensitivity sampling (numpy + scikit-learn).

Everything here returns *data points* as centres (indices into ``X``), as the experiments of the
sensitivity-sampling paper do: a fitted centre is replaced by the nearest point of its own cluster,
which raises the clustering cost by at most a factor 2^z (see ``_snap`` for why not the nearest
point overall).

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
    X: np.ndarray, centers: np.ndarray, z: float, *, block: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (Euclidean) of every row of ``X`` and its distance to the power ``z``.

    ``X`` (n, d), ``centers`` (k, d). In row chunks of ``block / k`` rows: the nearest centre is the
    argmin of ``||c||^2 - 2 x.c`` (one matrix product), and its distance is then computed exactly
    from ``x - c``, so costs carry no cancellation error (a point that is a centre costs 0).
    O(n k d) time, O(block + chunk d) extra memory, never an n x k matrix.

    Written here rather than calling scikit-learn's ``pairwise_distances_argmin_min``: that runs
    an OpenMP reduction whose start-up dominated small calls (0.13 s for 400 x 6 on 2 busy cores:
    10 small k-median selections took 69 s against 6 s this way), and at n = 1M, k = 1000,
    d = 128 float32 it took 23 s against 14 s here, with float32 cancellation in its distances.
    """
    n = X.shape[0]
    centers = np.asarray(centers, dtype=X.dtype)
    k = centers.shape[0]
    cc = row_sq_norms(centers)
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    step = max(1, block // max(k, 1))
    for lo in range(0, n, step):
        rows = X[lo : lo + step]
        D = rows @ centers.T
        D *= -2.0
        D += cc
        lab = np.argmin(D, axis=1)
        diff = rows - centers[lab]
        labels[lo : lo + step] = lab
        dist[lo : lo + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if z != 1.0:
        dist **= z
    return labels, dist


def row_sq_norms(X: np.ndarray) -> np.ndarray:
    """``||x_i||^2`` for every row, in ``X``'s dtype (for :func:`update_min_dist`'s fast path)."""
    return np.einsum("ij,ij->i", X, X)


def update_min_dist(
    X: np.ndarray,
    point: np.ndarray,
    best: np.ndarray,
    *,
    z: float = 1.0,
    chunk: int = 65536,
    sq_norms: np.ndarray | None = None,
) -> np.ndarray:
    """In place: ``best = minimum(best, ||X - point||_2 ** z)``, ``chunk`` rows at a time.

    Without ``sq_norms`` every row's distance is computed from ``X - point`` by the same
    operations whatever ``chunk`` is, so the result does not depend on it. With ``sq_norms``
    (:func:`row_sq_norms` of ``X``) it uses ``||x||^2 - 2 x.p + ||p||^2`` (one matrix-vector
    product, clamped at 0), about 7x faster on 1M x 128 float32 rows (0.05 s against 0.35 s on
    2 cores); the squared distance then carries an absolute error of about
    ``eps * (||x||^2 + ||p||^2)`` in ``X``'s precision, harmless for farthest-point and D^z
    choices. O(n d) time, O(chunk d) (O(chunk) with ``sq_norms``) extra memory. Returns ``best``.
    """
    n = X.shape[0]
    if sq_norms is not None:
        point = np.asarray(point, dtype=X.dtype)
        pp = float(point @ point)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        if sq_norms is None:
            diff = X[lo:hi] - point
            dist = np.sqrt((diff * diff).sum(axis=1))
        else:
            dist = X[lo:hi] @ point
            dist *= -2.0
            dist += sq_norms[lo:hi]
            dist += pp
            np.maximum(dist, 0.0, out=dist)
            np.sqrt(dist, out=dist)
        if z != 1.0:
            dist **= z
        np.minimum(best[lo:hi], dist, out=best[lo:hi])
    return best


def _candidate_costs(
    X: np.ndarray, sq_norms: np.ndarray, cands: np.ndarray, best: np.ndarray, z: float, chunk: int
) -> np.ndarray:
    """``sum_i min(best_i, ||x_i - x_c||^z)`` for each candidate ``c``: one matrix product per
    chunk for all candidates together (O(n L d) time, O(chunk L) memory)."""
    C = X[cands]
    cc = sq_norms[cands]
    total = np.zeros(len(cands))
    for lo in range(0, X.shape[0], chunk):
        hi = min(lo + chunk, X.shape[0])
        D = X[lo:hi] @ C.T
        D *= -2.0
        D += sq_norms[lo:hi, None]
        D += cc[None, :]
        np.maximum(D, 0.0, out=D)
        if z == 1.0:
            np.sqrt(D, out=D)
        elif z != 2.0:
            D **= z / 2.0
        total += np.minimum(D, best[lo:hi, None]).sum(axis=0)
    return total


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
    n = X.shape[0]
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


def _snap(X: np.ndarray, centers: np.ndarray, rng, z) -> np.ndarray:
    """Replace each fitted centre by the nearest point of its own cluster (distinct by
    construction); a centre with no members is replaced by a D^z draw from the rest.

    For every member x of a cluster with centre c, the chosen point p satisfies
    ``d(c, p) <= d(c, x)``, so ``d(x, p)^z <= 2^z d(x, c)^z``: the clustering cost grows by at most
    2^z. (The nearest data point over all of X, which the paper names, collides in high
    dimensions: 28% of 1000 k-means centres shared a nearest point on 1M x 128 mixture data, and
    the top-up cost more than the clustering.) One assignment pass, O(n k d), plus O(n log n).
    """
    k = centers.shape[0]
    labels, dist = assign(X, np.asarray(centers, dtype=X.dtype), z)
    order = np.argsort(dist, kind="stable")
    present, first = np.unique(labels[order], return_index=True)
    chosen = np.full(k, -1, dtype=np.int64)
    chosen[present] = order[first]
    missing = np.flatnonzero(chosen < 0)
    if missing.size:
        unique = chosen[chosen >= 0].tolist()
        best = assign(X, X[unique], z)[1]
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
) -> Clustering:
    """A (k, z)-clustering of ``X`` (n, d) with data points as centres.

    z = 2: scikit-learn ``KMeans`` (one run of greedy k-means++ seeding, then Lloyd). z = 1: the best of
    ``n_init`` runs of greedy D^1 seeding then Lloyd steps with Weiszfeld geometric medians
    (k-median). Other z >= 1: D^z seeding.

    ``backend`` (z = 2 only): ``"sklearn"``, ``"faiss"`` (Lloyd in faiss, seeded by D^2 sampling on
    a uniform sample of ``sample_size`` points, for large n), or ``"auto"`` (faiss from 100,000
    points when it is installed). Fitted centres
    are snapped to the nearest point of their own clusters (distinct data points); the cost is
    then recomputed exactly.

    O(n k d) per Lloyd iteration, O(n d + k d) memory beyond scikit-learn's own.
    """
    if backend not in ("auto", "sklearn", "faiss"):
        raise ValueError(f"backend must be one of 'auto', 'sklearn', 'faiss'; got {backend!r}.")
    if z != 2.0 or X.dtype not in (np.float32, np.float64):  # k-means keeps float32 (no copy)
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
        runs = [_snap(X, _k_median(X, n_clusters, rng, max_iter), rng, z) for _ in range(n_init)]
        idx = min(runs, key=lambda c: assign(X, X[c], z)[1].sum())
    else:
        idx = dz_order(X, n_clusters, z=z, rng=rng)
    labels, cost = assign(X, X[idx], z)
    return Clustering(center_indices=idx, labels=labels, cost=cost)
