"""k-median (z = 1) for :func:`subsel.selection.clustering.kz_clustering` (private).

Greedy D^1 seeding scored only on the points a candidate can take over, then Lloyd rounds of
warm-started Weiszfeld steps (all clusters at once) and reassignment, stopped when the cost stalls.
"""

from __future__ import annotations

import numpy as np

from ._distances import _assign_f32, _centred_scaled, _sq_dist_exact, row_sq_norms

__all__ = ["_k_median"]


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


def _sample_blocks(wpad: np.ndarray, wb: np.ndarray, u: np.ndarray, block: int) -> np.ndarray:
    """Indices drawn with probability proportional to ``wpad`` (padded to whole blocks of
    ``block``) for the uniforms ``u * wb.sum()``: a binary search over the block sums ``wb``,
    then one within each chosen block; O(n / block + len(u) block) instead of a cumulative sum
    over all n."""
    cb = np.cumsum(wb)
    u = u * cb[-1]
    bi = np.minimum(np.searchsorted(cb, u, side="right"), wb.shape[0] - 1)
    within = u - (cb[bi] - wb[bi])
    inner = np.cumsum(wpad.reshape(-1, block)[bi], axis=1)
    j = np.minimum((inner <= within[:, None]).sum(axis=1), block - 1)
    idx = bi * block + j
    for t in np.flatnonzero(wpad[idx] <= 0):  # rounding: the last positive weight before
        b = bi[t] if wb[bi[t]] > 0 else np.flatnonzero(wb[: bi[t]])[-1]
        idx[t] = b * block + np.flatnonzero(wpad[b * block : (b + 1) * block])[-1]
    return idx


def _greedy_dz_seeding(
    X: np.ndarray,
    k: int,
    *,
    z: float,
    rng: np.random.Generator,
    n_local_trials: int,
    chunk: int = 32768,
    block: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy D^z seeding, as :func:`dz_order` with ``n_local_trials`` draws it (the same
    generator gives the same seeds, unless two candidates' gains tie to float32 rounding),
    scoring per new seed only the points a candidate can take over. Returns ``(seeds, labels, dist)``: ``k`` distinct indices into ``X``, each point's
    nearest seed and its exact Euclidean distance to it.

    Each step draws L candidates with probability proportional to ``dist^z`` and keeps the one
    that lowers the cost most. A point x of seed c can only move to a candidate q if
    ``d(x, q) < d(x, c)``, which by the triangle inequality needs ``d(q, c) < 2 d(x, c)``: only
    the points with ``4 d(x, c)^2 > min_q d(q, c)^2`` are scored (all n in the first steps, a
    few clusters' worth later), against all L candidates in one float32 matrix product of the
    centred rows ``[x, ||x||^2, 1, -d(x, c)^2]`` with ``[-2q, 1, ||q||^2, 1]``, which gives
    ``d(x, q)^2 - d(x, c)^2`` directly; only the pairs below a bound on its rounding are
    square-rooted and summed. The points that move are confirmed and their distances computed
    exactly, in float64 from the differences. The draws search block sums of the weights instead
    of a cumulative sum over all n.

    Where the old loop (:func:`dz_order`: one n x L product and one n-vector update per seed)
    took 2-5 s at k = 500 and about 20 s at k = 4,315 on the 43,152 x 24 diamonds rows (one
    core), this takes 0.3-0.4 s and 1.7-2 s. O(n) per step for the filter plus O(L d) per scored point
    and O(L k d) for the seed-candidate distances. Extra memory: the float32 copy (n (d + 3)) and
    a step's improving candidate-point pairs (at most n L, in the first steps); never n x k.
    """
    n, d = X.shape
    # Scoring copy in float32, centred and scaled to norms <= 1 (no overflow, less cancellation),
    # augmented so that one product gives (d(x, q)^2 - d(x, its seed)^2) / s2:
    # [x, ||x||^2, 1, -d2 / s2] . [-2q, 1, ||q||^2, 1] for the centred, scaled x and q.
    mu, scale, Xc = _centred_scaled(X)
    s2 = scale * scale
    Xa = np.empty((n, d + 3), dtype=np.float32)
    Xa[:, :d] = Xc
    sqc = row_sq_norms(Xc)
    del Xc
    Xa[:, d] = sqc
    Xa[:, d + 1] = 1.0
    slack = 1e-9 * s2  # rounding of the float64 expansion below (centred norms <= s2)
    eps32 = 4e-5  # a bound on the float32 expansion's rounding (norms <= 1)
    trials = max(1, int(n_local_trials))
    seeds = np.empty(k, dtype=np.int64)
    C = np.empty((k, d + 2))  # [-2c, 1, ||c||^2] of the seeds, centred, float64
    first = int(rng.integers(n))
    labels = np.zeros(n, dtype=np.int64)
    d2 = _sq_dist_exact(X, None, X[first])
    Xa[:, d + 2] = -d2 / s2
    lim = 4.0 * d2 + slack  # a point can move to a candidate only if d(q, its seed)^2 < lim
    nb = -(-n // block)
    wpad = np.zeros(nb * block)
    w = wpad[:n]  # dist^z, 0 at the seeds
    w[:] = np.sqrt(d2) if z == 1.0 else d2 ** (z / 2.0)
    wb = wpad.reshape(nb, block).sum(axis=1)
    taken = np.zeros(n, dtype=bool)

    def take(m: int, c: int) -> None:
        seeds[m], taken[c], labels[c], d2[c], w[c], lim[c], Xa[c, d + 2] = c, True, m, 0, 0, 0, 0
        C[m, :d], C[m, d], C[m, d + 1] = X[c] - mu, 1.0, sqc[c] * s2
        C[m, :d] *= -2.0
        wb[c // block] = wpad[(c // block) * block : (c // block + 1) * block].sum()

    take(0, first)
    Q = np.empty((trials, d + 2))  # [q, ||q||^2, 1] of the candidates, centred, float64
    Q32 = np.ones((trials, d + 3), dtype=np.float32)  # [-2q, 1, ||q||^2, 1], centred, scaled
    for m in range(1, k):
        if not wb.sum() > 0:  # every remaining point duplicates a seed: uniform among the rest
            take(m, int(rng.choice(np.flatnonzero(~taken))))
            continue
        cands = np.unique(_sample_blocks(wpad, wb, rng.random(trials), block))
        L = cands.shape[0]
        Q[:L, :d], Q[:L, d], Q[:L, d + 1] = X[cands] - mu, sqc[cands] * s2, 1.0
        near = (Q[:L] @ C[:m].T).min(
            axis=0
        )  # each seed's squared distance to its nearest candidate
        reach = np.flatnonzero(lim > near[labels])
        Q32[:L, :d], Q32[:L, d + 1] = -2.0 * Xa[cands, :d], sqc[cands]
        QT = Q32[:L].T
        if 2 * reach.shape[0] >= n:  # most points: no gather, all rows in order
            reach, Xs = None, Xa
        else:
            Xs = np.take(Xa, reach, axis=0)
        gain = np.zeros(L)
        hit_rows, hit_cols = [], []
        for lo in range(0, Xs.shape[0], chunk):
            D = Xs[lo : lo + chunk] @ QT
            hit = np.flatnonzero(D < eps32)  # the pairs where the candidate may be nearer
            r, col = np.divmod(hit, L)
            rows = r + lo if reach is None else reach[lo + r]
            if L > 1:
                dz = np.maximum(D.ravel()[hit].astype(np.float64) * s2 + d2[rows], 0.0)
                dz = np.sqrt(dz) if z == 1.0 else dz ** (z / 2.0)
                gain += np.bincount(col, weights=np.maximum(w[rows] - dz, 0.0), minlength=L)
            hit_rows.append(rows)
            hit_cols.append(col)
        rows, cols = np.concatenate(hit_rows), np.concatenate(hit_cols)
        best = int(np.argmax(gain)) if L > 1 else 0
        c = int(cands[best])
        moved = rows[cols == best]
        new = _sq_dist_exact(X, moved, X[c])
        better = new < d2[moved]
        moved, new = moved[better], new[better]
        d2[moved] = new
        Xa[moved, d + 2] = -new / s2
        lim[moved] = 4.0 * new + slack
        labels[moved] = m
        w[moved] = np.sqrt(new) if z == 1.0 else new ** (z / 2.0)
        touched = np.unique(moved // block)
        wb[touched] = wpad.reshape(nb, block)[touched].sum(axis=1)
        take(m, c)
    return seeds, labels, np.sqrt(d2)  # d2 holds differences' squares: exact


def _weiszfeld(
    X: np.ndarray,
    labels: np.ndarray,
    y: np.ndarray,
    dist: np.ndarray,
    *,
    tol: float,
    max_steps: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """Weiszfeld steps for every cluster at once from the centres ``y`` (k, d), where ``dist`` is
    ``||x - y[labels]||``, until a step lowers the total cost by less than ``tol`` (relative).
    Returns the new centres and distances; the cost never rises.

    Uses Vardi and Zhang's modification (2000): a centre that coincides with ``eta`` members (a
    data point, such as a seed) moves to ``(1 - eta / r) T(y) + (eta / r) y`` when the pull ``r``
    of the other members exceeds ``eta`` and stays otherwise (then it is the median), so a warm
    start from the previous centres (or from data points) does not stall as the plain iteration
    does, and two or three steps per Lloyd round suffice. Empty clusters keep their centre.
    O(n d) per step: the weighted sums by a sparse membership matrix whose values are the
    weights.
    """
    from scipy.sparse import csr_matrix

    n, k = X.shape[0], y.shape[0]
    order = np.argsort(labels, kind="stable")  # members by cluster: the CSR layout of the sums
    indptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(labels, minlength=k), out=indptr[1:])
    member = csr_matrix((np.ones(n), order, indptr), shape=(k, n))  # data: the weights
    diff = np.empty_like(X)
    cost = float(dist.sum())
    tiny = 1e-12 * float(dist.max(initial=0.0))  # "at the centre", relative to the data's scale
    for _ in range(max_steps):
        at = dist <= tiny
        inv = 1.0 / np.where(at, 1.0, dist)
        inv[at] = 0.0
        member.data = inv[order]
        num = member @ X  # sum over members of x / ||x - y||
        den = np.bincount(labels, weights=inv, minlength=k)
        eta = np.bincount(labels, weights=at, minlength=k)  # members at the centre
        live = den > 0
        T = np.where(live[:, None], num / np.where(live, den, 1.0)[:, None], y)
        R = num - den[:, None] * y
        pull = np.sqrt(np.einsum("ij,ij->i", R, R))
        keep = np.where(eta > 0, np.minimum(1.0, eta / np.maximum(pull, 1e-300)), 0.0)
        y_new = (1.0 - keep)[:, None] * T + keep[:, None] * y
        np.subtract(X, np.take(y_new, labels, axis=0), out=diff)
        d_new = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        c_new = float(d_new.sum())
        if c_new > cost:  # rounding at convergence
            break
        stalled = cost - c_new <= tol * c_new
        y, dist, cost = y_new, d_new, c_new
        if stalled:
            break
    return y, dist


def _k_median(X, k, rng, max_iter, tol):
    """Greedy D^1 seeding (:func:`_greedy_dz_seeding`, L = 2 + ln k trials), then Lloyd rounds:
    Weiszfeld steps from the current centres (:func:`_weiszfeld`, stopped at ``tol / 10``), and
    a reassignment (:func:`_assign_f32`), until a round lowers the cost by less than ``tol``
    (relative) or after ``max_iter`` rounds. Returns the fitted centres (k, d), not yet data
    points, with each point's nearest of them and its distance."""
    seeds, labels, dist = _greedy_dz_seeding(
        X, k, z=1.0, rng=rng, n_local_trials=2 + int(np.log(k))
    )
    centers = X[seeds].astype(np.float64)
    if max_iter < 1:
        return centers, labels, dist
    mu, scale, Xc = _centred_scaled(X)
    X32 = Xc.astype(np.float32)
    del Xc
    cost = float(dist.sum())
    for _ in range(max_iter):
        centers, _ = _weiszfeld(X, labels, centers, dist, tol=tol / 10)
        labels, dist = _assign_f32(X, X32, mu, scale, centers)
        new_cost = float(dist.sum())
        stalled = cost - new_cost <= tol * new_cost
        cost = new_cost
        if stalled:
            break
    return centers, labels, dist
