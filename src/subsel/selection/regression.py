"""Data selection for linear regression: clustering-based sensitivity sampling (Algorithm 2 of the
sensitivity-sampling paper) and its baseline, leverage-score sampling (exact and sketched).

Both return a :class:`~subsel.result.Selection` of rows drawn independently with replacement and
weighted ``1 / (s p_i)``, so that ``sum_{i in S} w_i (<a_i, x> - b_i)^2`` is an unbiased
estimate of ``||A x - b||^2`` for every x; :func:`weighted_least_squares` solves it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .._selector import ParamsMixin
from .._validation import (
    NoneOr,
    OneOf,
    Options,
    Real,
    check_callable,
    check_choice,
    check_embeddings,
    check_int,
    check_param,
    check_seed,
    check_values,
    check_vector,
    input_error,
)
from ..result import Selection
from .clustering import kz_clustering
from .sensitivity import _check_sample_size

__all__ = [
    "RegressionSensitivitySampling",
    "LeverageScoreSampling",
    "leverage_scores",
    "weighted_least_squares",
]

_METHODS = ("exact", "sketch")


def _draw(rng, p, s):
    idx = rng.choice(p.shape[0], size=s, replace=True, p=p)
    return idx, p[idx], 1.0 / (s * p[idx])


def _normalize(num: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        total = num.sum()
    if not np.isfinite(total):  # float64 overflow: scale first (p is unchanged)
        num = num / num.max()
        total = num.sum()
    return num / total if total > 0 else np.full(num.shape[0], 1.0 / num.shape[0])


def _budget(budget, func: str) -> int:
    s = check_int(budget, "budget", func, low=1)
    return _check_sample_size(s, "budget", budget, func)


def weighted_least_squares(A, b, weights=None, *, rcond=None) -> np.ndarray:
    """``argmin_x sum_i w_i (<a_i, x> - b_i)^2`` by least squares on ``sqrt(w) A``.

    Parameters
    ----------
    A : array-like of shape (n, d)
        Finite rows (a single feature is ``A.reshape(-1, 1)``).
    b : array-like of shape (n,)
        Finite targets.
    weights : array-like of shape (n,), optional
        Finite weights >= 0, not all 0; default all 1.
    rcond : None or float >= 0
        Cut-off for small singular values, as in :func:`numpy.linalg.lstsq`.

    Returns
    -------
    ndarray of shape (d,)
        The minimum-norm minimizer. O(n d^2) time.
    """
    func = "weighted_least_squares"
    A = check_embeddings(A, func, "A")
    n = A.shape[0]
    b = check_vector(b, n, "b", func)
    rcond = check_param(rcond, NoneOr(Real(0)), "rcond", func)
    if weights is None:
        w = np.ones(n)
    else:
        w = check_vector(weights, n, "weights", func, nonnegative=True, hint="weights are >= 0")
        if not w.any():
            raise input_error(
                func, "weights", "are all 0", "give at least one row a positive weight"
            )
    r = np.sqrt(w)
    return np.linalg.lstsq(A * r[:, None], b * r, rcond=rcond)[0]


def leverage_scores(
    A,
    *,
    method: str = "exact",
    sketch_size: int | None = None,
    n_projections: int | None = None,
    seed=None,
) -> np.ndarray:
    """Statistical leverage scores ``l_i = a_i^T (A^T A)^+ a_i`` of the rows of ``A`` (n, d).

    ``"exact"``: squared row norms of ``U`` from a thin SVD, O(n d^2). ``"sketch"``: the fast
    approximation of Drineas, Magdon-Ismail, Mahoney & Woodruff (2012): a CountSketch ``S``
    (``sketch_size`` rows, an int >= d, default ``20 d``; at most n are used) gives ``R`` from
    ``QR(S A)``, and a Gaussian ``G`` (d x ``n_projections``, an int >= 1, default
    ``ceil(8 log n) + 10``) estimates the row norms of ``A R^-1`` by those of ``A (R^-1 G)``:
    O(nnz(A) + n d t + r d^2) time, constant-factor accurate with high probability. With fewer
    rows than columns (n < d) the sketch cannot help and the exact scores are returned.
    """
    func = "leverage_scores"
    A = check_embeddings(A, func, "A")
    n, d = A.shape
    method = check_choice(method, _METHODS, "method", func)
    if sketch_size is not None:
        extra = f" (d={d}, the number of columns of A: the sketch needs that many rows)"
        sketch_size = check_int(sketch_size, "sketch_size", func, low=d, extra=extra)
    if n_projections is not None:
        n_projections = check_int(n_projections, "n_projections", func, low=1)
    rng = check_seed(seed, func)
    if method == "exact" or n < d:
        u, sing, _ = np.linalg.svd(A, full_matrices=False)
        rank = int((sing > sing.max() * max(n, d) * np.finfo(float).eps).sum()) if sing.size else 0
        return (u[:, :rank] ** 2).sum(1)
    r = min(n, sketch_size or 20 * d)
    t = n_projections or math.ceil(8 * math.log(max(n, 2))) + 10
    rows = rng.integers(r, size=n)
    signs = rng.choice([-1.0, 1.0], size=n)
    SA = np.zeros((r, d))
    np.add.at(SA, rows, A * signs[:, None])  # CountSketch: O(nnz(A))
    R = np.linalg.qr(SA, mode="r")
    G = rng.normal(size=(d, t)) / math.sqrt(t)
    RinvG = np.linalg.lstsq(R, G, rcond=None)[0]
    return ((A @ RinvG) ** 2).sum(1)


class LeverageScoreSampling(ParamsMixin):
    """Sample rows with probability proportional to their leverage scores (the regression baseline).

    Parameters
    ----------
    budget : int
        s, independent draws with replacement.
    method : {"exact", "sketch"}
        How the scores are computed (see :func:`leverage_scores`).
    seed : None, int or numpy.random.Generator
    """

    def __init__(self, *, budget, method="exact", seed=None):
        self.budget = budget
        self.method = method
        self.seed = seed

    def select(self, A, oracle=None) -> Selection:
        """Draw from ``p_i = l_i / sum l``; weights ``1 / (s p_i)``. Labels are not needed.

        ``A`` (n, d) finite rows; ``oracle`` is ignored. Returns ``indices``, ``weights``,
        ``probabilities`` of shape (s,). Cost: that of :func:`leverage_scores` plus O(n + s).
        """
        start = time.perf_counter()
        name = "LeverageScoreSampling"
        A = check_embeddings(A, f"{name}.select", "A")
        s = _budget(self.budget, name)
        method = check_choice(self.method, _METHODS, "method", name)
        rng = check_seed(self.seed, name)
        scores = leverage_scores(A, method=method, seed=rng)
        idx, p, w = _draw(rng, _normalize(scores), s)
        return Selection(
            indices=idx,
            weights=w,
            probabilities=p,
            n_queries=0,
            seconds=time.perf_counter() - start,
            extra={"method": method},
        )


class RegressionSensitivitySampling(ParamsMixin):
    """Algorithm 2: k-median clustering of the rows, labels queried at the centres only.

    Parameters
    ----------
    n_clusters : int
        k, the number of centres (label queries).
    budget : int
        s, independent draws with replacement.
    zeta : float >= 0 or ``math.inf``
        The Lipschitz constant of the labels in the rows. ``inf`` is the variant of the paper's
        experiments: sampling by the distance to the nearest centre alone.
    seed : None, int or numpy.random.Generator

    Notes
    -----
    ``select(A, oracle)`` calls ``oracle(center_indices)`` once for the labels of the k centres,
    fits ``x0`` on the centres weighted by their cluster sizes, and samples row i with
    ``p_i ~ zeta ||a_i - a_hat_i|| + (<a_hat_i, x0> - b_hat_i)^2``. Cost: the k-median clustering
    (O(n k d) per Lloyd step) plus O(n d).
    """

    def __init__(self, *, n_clusters, budget, zeta=1.0, seed=None):
        self.n_clusters = n_clusters
        self.budget = budget
        self.zeta = zeta
        self.seed = seed

    def select(self, A, oracle: Callable[[np.ndarray], np.ndarray]) -> Selection:
        """Draw the weighted sample; ``extra`` holds ``x0`` and the centre labels."""
        start = time.perf_counter()
        name = "RegressionSensitivitySampling"
        A = check_embeddings(A, f"{name}.select", "A", distances=True)
        n = A.shape[0]
        k = check_int(
            self.n_clusters, "n_clusters", name, low=1, high=n, high_label="n", extra=f" (n={n})"
        )
        s = _budget(self.budget, name)
        zeta = check_param(self.zeta, OneOf(Real(0), Options(math.inf)), "zeta", name)
        check_callable(
            oracle,
            "oracle",
            f"{name}.select",
            "a callable oracle(indices) -> the labels b of those rows",
        )
        rng = check_seed(self.seed, name)
        cl = kz_clustering(A, k, z=1.0, rng=rng)
        centers = cl.center_indices
        b_centers = check_values(oracle(centers.copy()), k, f"{name}.select", "oracle's labels")
        sizes = np.bincount(cl.labels, minlength=k).astype(np.float64)
        x0 = weighted_least_squares(A[centers], b_centers, sizes)
        residual = (A[centers] @ x0 - b_centers) ** 2  # v(a_i, x0) depends on the centre only
        dist = cl.cost  # ||a_i - a_hat_i|| (z = 1)
        num = dist if math.isinf(zeta) else zeta * dist + residual[cl.labels]
        idx, p, w = _draw(rng, _normalize(num), s)
        return Selection(
            indices=idx,
            weights=w,
            probabilities=p,
            center_indices=centers,
            n_queries=k,
            seconds=time.perf_counter() - start,
            extra={"x0": x0, "center_labels": b_centers, "zeta": zeta},
        )
