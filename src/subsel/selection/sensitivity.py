"""Data selection by sensitivity sampling (Axiotis et al., "Data-efficient learning via clustering-
based sensitivity sampling", ICML 2024; ``../shared/papers/sensitivity-sampling-coresets.txt``).

Algorithm 1 (one round): cluster the embeddings with an O(1)-approximate (k, z)-clustering, query
the loss oracle at the k centres only, estimate every point's loss by its centre's,
``l_hat(e) = l(A(e))``, and sample ``s`` points independently with probability

    p_e = (l_hat(e) + lam * v(e)) / (lam * Phi + sum_x l_hat(x)),   v(e) = dist(e, A(e))^z,

weighting each draw by ``1 / (s p_e)``, so that ``sum_{e in S} w(e) l(e)`` is an unbiased
estimate of the total loss (Theorem 5 bounds its error by ``eps (sum l + 2 lam Phi)`` with constant
probability for a (z, lam)-Hoelder loss).

Algorithm 3 (``rounds = r``): an ordering whose every prefix is a good clustering (D^z sampling),
k new centres queried each round, a fresh sample each round from the clustering so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .._progress import progress_range
from .._validation import (
    _is_tensor,
    check_embeddings,
    check_int,
    check_seed,
    check_values,
    param_error,
)
from ..result import Selection
from .clustering import assign, dz_order, kz_clustering

__all__ = [
    "SensitivitySampling",
    "sample_size_for_epsilon",
    "total_loss_estimate",
    "sensitivity_probabilities",
]

Oracle = Callable[[np.ndarray], np.ndarray]


def sample_size_for_epsilon(epsilon: float) -> int:
    """Theorem 5's sample size ``s = ceil(eps^-2 (2 + 2 eps / 3))``."""
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise param_error("SensitivitySampling", "epsilon", "a finite float > 0", epsilon)
    return math.ceil(epsilon**-2 * (2 + 2 * epsilon / 3))


def sensitivity_probabilities(loss_hat: np.ndarray, v: np.ndarray, lam: float) -> np.ndarray:
    """``p_e = (l_hat(e) + lam v(e)) / (lam Phi + sum l_hat)`` (step 3 of Algorithm 1).

    When every numerator is 0 (all estimated losses 0 and every point a centre) any sample is
    exact; the uniform distribution is returned.
    """
    num = loss_hat + lam * v
    total = num.sum()
    if total <= 0:
        return np.full(num.shape[0], 1.0 / num.shape[0])
    return num / total


def total_loss_estimate(selection: Selection, losses) -> float:
    """``sum_i w_i l(S_i)``: the importance-weighted estimate of the total loss over the data.

    ``losses`` holds the true losses of ``selection.indices``, in the same order (shape (s,)).
    """
    losses = check_values(losses, len(selection), "total_loss_estimate", "losses")
    return float(np.dot(selection.weights, losses))


class SensitivitySampling:
    """Clustering-based sensitivity sampling (Algorithm 1; Algorithm 3 with ``rounds > 1``).

    Parameters
    ----------
    n_clusters : int
        k, the number of centres, i.e. oracle queries per round.
    budget : int, optional
        s, the number of independent draws (with replacement). Give ``budget`` or ``epsilon``.
    epsilon : float, optional
        Target accuracy; sets ``s = ceil(eps^-2 (2 + 2 eps / 3))`` (Theorem 5).
    z : float >= 1
        The clustering exponent: 2 for k-means, 1 for k-median.
    lam : float >= 0
        The Hoelder constant lambda of the loss with respect to the embeddings.
    rounds : int >= 1
        r; with r > 1, Algorithm 3: k new centres queried per round along a D^z-sampling order.
    seed : None, int or numpy.random.Generator
    progress : bool
        Show a progress bar over the rounds.
    backend : {"auto", "sklearn", "faiss"}
        k-means backend for z = 2 (see :func:`~subsel.selection.clustering.kz_clustering`).

    Notes
    -----
    ``select(X, oracle)`` calls ``oracle(indices)`` once per round with the k new centre indices
    and expects their losses (non-negative, shape (k,)). Cost: the clustering (O(n k d) per Lloyd
    iteration for z = 2) plus O(n k d) for the assignment and O(n + s) for the draws; O(n d)
    memory.
    """

    def __init__(
        self,
        *,
        n_clusters,
        budget=None,
        epsilon=None,
        z=2,
        lam=1.0,
        rounds=1,
        seed=None,
        progress=False,
        backend="auto",
    ):
        self.n_clusters = n_clusters
        self.budget = budget
        self.epsilon = epsilon
        self.z = z
        self.lam = lam
        self.rounds = rounds
        self.seed = seed
        self.progress = progress
        self.backend = backend

    # ------------------------------------------------------------------ validation
    def _check_params(self, n: int) -> tuple[int, int, float, float, int]:
        name = type(self).__name__
        rounds = check_int(self.rounds, "rounds", name, low=1)
        k = check_int(
            self.n_clusters, "n_clusters", name, low=1, high=n, high_label="n", extra=f" (n={n})"
        )
        if k * rounds > n:
            raise ValueError(
                f"SensitivitySampling queries n_clusters * rounds = {k * rounds} distinct points, "
                f"more than the n={n} rows of X; lower 'n_clusters' or 'rounds'."
            )
        if (self.budget is None) == (self.epsilon is None):
            raise ValueError(
                "SensitivitySampling needs exactly one of 'budget' (the sample size) "
                "and 'epsilon' (the accuracy, which sets the sample size)."
            )
        if self.budget is not None:
            s = check_int(self.budget, "budget", name, low=1)
        else:
            s = sample_size_for_epsilon(self.epsilon)
        for key, low in (("z", 1.0), ("lam", 0.0)):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < low
            ):
                raise param_error(name, key, f"a finite float >= {low:g}", value)
        return k, s, float(self.z), float(self.lam), rounds

    @staticmethod
    def _query(oracle: Oracle, indices: np.ndarray) -> np.ndarray:
        if not callable(oracle):
            raise TypeError(
                "The 'oracle' of SensitivitySampling.select must be callable: "
                "oracle(indices) -> losses of those points."
            )
        out = oracle(indices.copy())
        if _is_tensor(out):
            out = out.detach().cpu().numpy()
        return check_values(
            out, len(indices), "SensitivitySampling.select", "oracle's losses", nonnegative=True
        )

    # ------------------------------------------------------------------ selection
    def _draw(self, rng, loss_hat, v, lam, s):
        p = sensitivity_probabilities(loss_hat, v, lam)
        idx = rng.choice(p.shape[0], size=s, replace=True, p=p)
        return idx, p[idx], 1.0 / (s * p[idx])

    def select(self, X, oracle: Oracle) -> Selection:
        """Draw the weighted sample.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Embeddings.
        oracle : callable
            ``oracle(indices: int64 array (k,)) -> losses (k,)``, non-negative.

        Returns
        -------
        Selection
            ``indices`` (s,) drawn with replacement, ``weights`` ``1 / (s p)``, ``probabilities``
            ``p``, ``center_indices`` (all queried points), ``n_queries`` (= k * rounds),
            ``seconds``; ``extra`` holds ``phi`` (the clustering cost), ``loss_hat_total``,
            ``center_losses`` and, for r > 1, ``rounds`` (one dict per round).
        """
        start = time.perf_counter()
        X = check_embeddings(X, "SensitivitySampling.select", dtype=None)
        n = X.shape[0]
        k, s, z, lam, rounds = self._check_params(n)
        rng = check_seed(self.seed, "SensitivitySampling")
        if rounds == 1:
            clustering = kz_clustering(X, k, z=z, rng=rng, backend=self.backend)
            centers = clustering.center_indices
            center_losses = self._query(oracle, centers)
            labels, v = clustering.labels, clustering.cost
            per_round = []
        else:
            centers = dz_order(X, k * rounds, z=z, rng=rng)
            center_losses = np.empty(0)
            best = np.full(n, np.inf)
            labels = np.zeros(n, dtype=np.int64)
            per_round = []
            for i in progress_range(rounds, self.progress, "sensitivity sampling rounds"):
                new = centers[i * k : (i + 1) * k]
                center_losses = np.concatenate([center_losses, self._query(oracle, new)])
                lab, cost = assign(X, X[new], z)
                closer = cost < best
                labels[closer] = lab[closer] + i * k
                best = np.minimum(best, cost)
                loss_hat = center_losses[labels]
                idx, p, w = self._draw(rng, loss_hat, best, lam, s)
                per_round.append(
                    {
                        "indices": idx,
                        "weights": w,
                        "probabilities": p,
                        "n_queries": (i + 1) * k,
                        "phi": float(best.sum()),
                    }
                )
            v = best
        loss_hat = center_losses[labels]
        if rounds == 1:
            idx, p, w = self._draw(rng, loss_hat, v, lam, s)
        else:
            idx, p, w = (
                per_round[-1]["indices"],
                per_round[-1]["probabilities"],
                per_round[-1]["weights"],
            )
        extra = {
            "phi": float(v.sum()),
            "loss_hat_total": float(loss_hat.sum()),
            "center_losses": center_losses,
            "s": s,
            "z": z,
            "lam": lam,
        }
        if per_round:
            extra["rounds"] = per_round
        return Selection(
            indices=idx,
            weights=w,
            probabilities=p,
            center_indices=centers,
            n_queries=int(centers.shape[0]),
            seconds=time.perf_counter() - start,
            extra=extra,
        )

    def __repr__(self):
        return (
            f"SensitivitySampling(n_clusters={self.n_clusters!r}, budget={self.budget!r}, "
            f"epsilon={self.epsilon!r}, z={self.z!r}, lam={self.lam!r}, "
            f"rounds={self.rounds!r}, seed={self.seed!r})"
        )
