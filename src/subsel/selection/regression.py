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

from .._validation import check_embeddings, check_int, check_seed, check_values, param_error
from ..result import Selection
from .clustering import kz_clustering

__all__ = [
    "RegressionSensitivitySampling",
    "LeverageScoreSampling",
    "leverage_scores",
    "weighted_least_squares",
]


def _draw(rng, p, s):
    idx = rng.choice(p.shape[0], size=s, replace=True, p=p)
    return idx, p[idx], 1.0 / (s * p[idx])


def _normalize(num: np.ndarray) -> np.ndarray:
    total = num.sum()
    return num / total if total > 0 else np.full(num.shape[0], 1.0 / num.shape[0])


def weighted_least_squares(A, b, weights=None, *, rcond=None) -> np.ndarray:
    """``argmin_x sum_i w_i (<a_i, x> - b_i)^2`` by least squares on ``sqrt(w) A``; shape (d,)."""
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    w = np.ones(A.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
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
    (``sketch_size`` rows, default ``min(n, 20 d)``) gives ``R`` from ``QR(S A)``, and a Gaussian
    ``G`` (d x ``n_projections``, default ``ceil(8 log n) + 10``) estimates the row norms of
    ``A R^-1`` by those of ``A (R^-1 G)``: O(nnz(A) + n d t + r d^2) time, constant-factor accurate
    with high probability.
    """
    A = check_embeddings(A, "leverage_scores", "A")
    n, d = A.shape
    if method == "exact":
        u, sing, _ = np.linalg.svd(A, full_matrices=False)
        rank = int((sing > sing.max() * max(n, d) * np.finfo(float).eps).sum()) if sing.size else 0
        return (u[:, :rank] ** 2).sum(1)
    if method != "sketch":
        raise param_error("leverage_scores", "method", "one of 'exact', 'sketch'", method)
    rng = check_seed(seed, "leverage_scores")
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


class LeverageScoreSampling:
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
        """Draw from ``p_i = l_i / sum l``; weights ``1 / (s p_i)``. Labels are not needed."""
        start = time.perf_counter()
        A = check_embeddings(A, "LeverageScoreSampling.select", "A")
        s = check_int(self.budget, "budget", "LeverageScoreSampling", low=1)
        rng = check_seed(self.seed, "LeverageScoreSampling")
        scores = leverage_scores(A, method=self.method, seed=rng)
        idx, p, w = _draw(rng, _normalize(scores), s)
        return Selection(
            indices=idx,
            weights=w,
            probabilities=p,
            n_queries=0,
            seconds=time.perf_counter() - start,
            extra={"method": self.method},
        )


class RegressionSensitivitySampling:
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
        A = check_embeddings(A, f"{name}.select", "A")
        n = A.shape[0]
        k = check_int(
            self.n_clusters, "n_clusters", name, low=1, high=n, high_label="n", extra=f" (n={n})"
        )
        s = check_int(self.budget, "budget", name, low=1)
        zeta = self.zeta
        if (
            isinstance(zeta, bool)
            or not isinstance(zeta, (int, float))
            or math.isnan(zeta)
            or zeta < 0
        ):
            raise param_error(name, "zeta", "a float >= 0 or math.inf", zeta)
        if not callable(oracle):
            raise TypeError(
                f"The 'oracle' of {name}.select must be callable: oracle(indices) -> "
                f"the labels b of those rows."
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
