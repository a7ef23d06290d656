"""Data Shapley baselines (private): exact KNN-Shapley and truncated Monte Carlo Shapley."""

from __future__ import annotations

import numpy as np

from .._progress import progress_range
from .._validation import (
    check_bool,
    check_int,
    check_real,
    check_seed,
)
from ._curves import _check_model, _fresh_model
from ._valuation_base import (
    _Valuation,
)

__all__ = ["KNNShapley", "TMCShapley"]


def _sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (a, b) between the rows of A (a, d) and B (b, d)."""
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d2, 0.0)


def knn_shapley_values(
    X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, k: int, block: int = 256
) -> np.ndarray:
    """Exact KNN-Shapley values (n,), averaged over the validation points (no input checks).

    For one validation point with label ``t`` and the training points sorted by distance,
    ``a_1`` nearest (ties by index), the utility of a subset S is the share of its ``min(k, |S|)``
    nearest members labelled ``t``, divided by ``k``; its Shapley values obey (Jia et al. 2019,
    Theorem 1)::

        s(a_n) = 1[y(a_n) = t] / k * min(k, n) / n
        s(a_i) = s(a_{i+1}) + (1[y(a_i) = t] - 1[y(a_{i+1}) = t]) / k * min(k, i) / i

    O(m n (d + log n)) time for m validation points, O(block n) memory.
    """
    n = X.shape[0]
    m = X_val.shape[0]
    out = np.zeros(n)
    i = np.arange(1, n, dtype=np.float64)  # positions 1 .. n-1 (1-based) of a_i, i < n
    coef = np.minimum(k, i) / (k * i)
    for start in range(0, m, block):
        Xb = X_val[start : start + block]
        yb = y_val[start : start + block]
        order = np.argsort(_sq_distances(Xb, X), axis=1, kind="stable")  # (b, n)
        match = (y[order] == yb[:, None]).astype(np.float64)  # (b, n)
        diff = (match[:, :-1] - match[:, 1:]) * coef  # term added at position i
        s = np.empty_like(match)
        s[:, -1] = match[:, -1] * (min(k, n) / (k * n))
        # s(a_i) = s(a_n) + sum_{j >= i} diff_j: reverse cumulative sum
        s[:, :-1] = s[:, -1:] + np.cumsum(diff[:, ::-1], axis=1)[:, ::-1]
        rows = np.arange(order.shape[0])[:, None]
        vals = np.zeros_like(s)
        vals[rows, order] = s
        out += vals.sum(0)
    return out / m


class KNNShapley(_Valuation):
    """Exact Shapley values of the K-nearest-neighbour classifier's utility (Jia et al. 2019).

    The utility of a subset S for a validation point (x, t) is the fraction of its ``k`` nearest
    neighbours in S (Euclidean distance; fewer when |S| < k, still divided by ``k``) that carry
    label t; the utility of S is its mean over the validation set, and ``values_`` are its exact
    Shapley values, computed by the recursion over the neighbours sorted by distance (ties are
    broken by training index).

    Parameters
    ----------
    k : int >= 1, default 10
        Number of neighbours.
    block : int >= 1, default 256
        Validation points processed together (memory O(block n)).

    Attributes
    ----------
    values_ : ndarray of shape (n,)
        Shapley values; they sum to U(all) - U(empty) = U(all) (efficiency).
    seconds_ : float
    classes_ : ndarray of shape (C,)

    Notes
    -----
    O(m n (d + log n)) time for n training and m validation points of d features, O(block n)
    memory. Deterministic.
    """

    def __init__(self, *, k=10, block=256):
        self.k = k
        self.block = block

    def _settings(self, func: str) -> dict:
        k = check_int(self.k, "k", func, low=1)
        block = check_int(self.block, "block", func, low=1)
        return {"k": k, "block": block}

    def _fit(self, func, Xtr, ytr, Xv, yv, classes, *, k, block) -> None:
        self.values_ = knn_shapley_values(Xtr, ytr, Xv, yv, k, block)


# ---------------------------------------------------------------------------------------------
# TMC Data Shapley
# ---------------------------------------------------------------------------------------------
class TMCShapley(_Valuation):
    """Truncated Monte Carlo Data Shapley (Ghorbani & Zou 2019).

    The utility U(S) is the validation accuracy of ``model`` fitted on the subset S, with two
    conventions for subsets a classifier cannot be fitted on: U(empty) is the accuracy of always
    predicting the most frequent validation label (Ghorbani & Zou's "random score"), and a subset
    holding a single class predicts that class. Each iteration draws a random permutation, fits
    the model on its growing prefixes and credits each point with the change in U when it joins.
    Once a prefix scores within ``tolerance * |U(all)|`` of the full set (strictly), the rest of
    the permutation is credited 0 (truncation; ``tolerance=0`` never truncates, and the estimate
    is then unbiased and satisfies efficiency exactly). Every ``check_every`` permutations the
    estimate is compared with the previous check; the loop stops when the relative L1 change
    ``|v_t - v_prev|_1 / |v_t|_1`` is below ``convergence_tol`` (0: run all ``max_iter``).

    Parameters
    ----------
    model : None or scikit-learn classifier
        Cloned for every fit; None is ``LogisticRegression(max_iter=1000)``. An unset
        ``random_state`` is fixed from ``seed``.
    max_iter : int >= 1, default 500
        Maximum number of permutations.
    tolerance : float >= 0, default 0.01
        Truncation tolerance, relative to the full-data score.
    convergence_tol : float >= 0, default 0.05
        Stop when the relative change between checks is below it.
    check_every : int >= 1, default 50
        Permutations between convergence checks.
    cache : bool, default False
        Memoise U by subset (worth it for small n, where prefixes repeat; memory O(fits n)).
    seed : None, int >= 0 or numpy.random.Generator
    progress : bool, default False

    Attributes
    ----------
    values_ : ndarray of shape (n,)
        The mean marginal contributions (estimated Shapley values).
    n_fits_ : int
        Models fitted (cache hits and the single-class / empty conventions are not counted).
    n_permutations_ : int
    history_ : ndarray of shape (n_checks,)
        The relative change at each convergence check.
    full_score_, empty_score_ : float
        U(all) and U(empty).
    seconds_ : float

    Notes
    -----
    O(T n) model fits for T permutations in the worst case (truncation cuts this, typically to a
    small multiple of the prefix length at which the score saturates).
    """

    def __init__(
        self,
        *,
        model=None,
        max_iter=500,
        tolerance=0.01,
        convergence_tol=0.05,
        check_every=50,
        cache=False,
        seed=None,
        progress=False,
    ):
        self.model = model
        self.max_iter = max_iter
        self.tolerance = tolerance
        self.convergence_tol = convergence_tol
        self.check_every = check_every
        self.cache = cache
        self.seed = seed
        self.progress = progress

    def _settings(self, func: str) -> dict:
        max_iter = check_int(self.max_iter, "max_iter", func, low=1)
        tol = check_real(self.tolerance, "tolerance", func, low=0.0)
        conv = check_real(self.convergence_tol, "convergence_tol", func, low=0.0)
        check_every = check_int(self.check_every, "check_every", func, low=1)
        cache = check_bool(self.cache, "cache", func)
        progress = check_bool(self.progress, "progress", func)
        rng = check_seed(self.seed, func)
        base = _check_model(self.model, func)
        return {
            "max_iter": max_iter,
            "tol": tol,
            "conv": conv,
            "check_every": check_every,
            "cache": cache,
            "progress": progress,
            "rng": rng,
            "base": base,
        }

    def _fit(
        self,
        func,
        Xtr,
        ytr,
        Xv,
        yv,
        classes,
        *,
        max_iter,
        tol,
        conv,
        check_every,
        cache,
        progress,
        rng,
        base,
    ) -> None:
        n = Xtr.shape[0]
        random_state = int(rng.integers(0, 2**31 - 1))
        _fresh_model(base, random_state, func)  # fail early on a model that cannot be cloned

        memo: dict[bytes, float] = {}
        fits = 0
        val_counts = np.bincount(yv, minlength=classes.size)
        empty = float(val_counts.max() / yv.size)

        def utility(idx: np.ndarray, mask: np.ndarray | None = None) -> float:
            """U of the set ``idx`` (``mask``: its indicator (n,), for the cache key)."""
            nonlocal fits
            if idx.size == 0:
                return empty
            key = None
            if cache:
                if mask is None:
                    mask = np.zeros(n, dtype=bool)
                    mask[idx] = True
                key = np.packbits(mask).tobytes()
                if key in memo:
                    return memo[key]
            idx = np.sort(idx)  # fit in index order: U is a function of the set alone
            ys = ytr[idx]
            if np.all(ys == ys[0]):
                score = float(val_counts[ys[0]] / yv.size)
            else:
                est = _fresh_model(base, random_state, func)
                est.fit(Xtr[idx], ys)
                score = float(np.mean(est.predict(Xv) == yv))
                fits += 1
            if key is not None:
                memo[key] = score
            return score

        full = utility(np.arange(n))
        sums = np.zeros(n)
        prev = None
        history = []
        t = 0
        mask = np.zeros(n, dtype=bool)
        for t in progress_range(max_iter, progress, "TMC-Shapley"):
            perm = rng.permutation(n)
            score_prev = empty
            mask[:] = False
            for j in range(n):
                if tol > 0 and abs(full - score_prev) < tol * abs(full):
                    break  # truncation: the rest of the permutation gets 0
                mask[perm[j]] = True
                score = utility(perm[: j + 1], mask)
                sums[perm[j]] += score - score_prev
                score_prev = score
            if (t + 1) % check_every == 0:
                est_now = sums / (t + 1)
                if prev is not None:
                    change = np.abs(est_now - prev).sum() / max(np.abs(est_now).sum(), 1e-300)
                    history.append(float(change))
                    if change < conv:
                        break
                prev = est_now
        self.n_permutations_ = t + 1
        self.values_ = sums / self.n_permutations_
        self.n_fits_ = fits
        self.history_ = np.asarray(history, dtype=np.float64)
        self.full_score_ = full
        self.empty_score_ = empty


# ---------------------------------------------------------------------------------------------
# small torch models: multinomial logistic regression and a one-hidden-layer MLP
# ---------------------------------------------------------------------------------------------
