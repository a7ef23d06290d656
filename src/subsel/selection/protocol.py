"""The neural-network protocol of the sensitivity-sampling paper's experiments (section 5.2).

Given a budget of k training points:

1. k' = ``warm_fraction`` k points uniformly at random; a first model is trained on them.
2. k'' = ``cluster_fraction`` k centres of a k-means clustering of that model's embeddings of all
   points (centres snapped to data points); the oracle (loss or gradient norm) is queried there.
3. The remaining k - k' - k'' points are drawn, without replacement, with probability proportional
   to the estimated loss ``l(A(e)) + lam ||e - A(e)||^z``.

The training set is the union of the three parts (k distinct points, k'' model queries).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_embeddings, check_int, check_seed, check_values, param_error
from ..result import Selection
from .clustering import kz_clustering
from .sensitivity import sensitivity_probabilities

__all__ = ["sensitivity_protocol"]


def sensitivity_protocol(
    n: int,
    *,
    budget: int,
    train: Callable[[np.ndarray], Any],
    embed: Callable[[Any], np.ndarray],
    oracle: Callable[[Any], Callable[[np.ndarray], np.ndarray]],
    warm_fraction: float = 0.2,
    cluster_fraction: float = 0.2,
    z: float = 2.0,
    lam: float = 1.0,
    seed=None,
) -> Selection:
    """Choose ``budget`` training points out of ``n`` with the paper's warm-start protocol.

    Parameters
    ----------
    n : int
        Number of candidate points.
    budget : int
        k, the number of points to return.
    train : callable
        ``train(indices) -> model``: trains the warm-start model on those points.
    embed : callable
        ``embed(model) -> (n, e)`` array: the model's (last-layer) embeddings of all n points.
    oracle : callable
        ``oracle(model) -> (indices -> losses)``, e.g. ``lambda m: loss_oracle(m, X, y)``.
    warm_fraction, cluster_fraction : float in (0, 1)
        k' / k and k'' / k (0.2 and 0.2 in the paper).
    z, lam : float
        Clustering exponent and Hoelder constant of the estimated loss.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    Selection
        ``indices`` (k,) distinct: warm start, then centres, then sampled points;
        ``probabilities`` the draw probability of each point (nan for warm start and centres);
        ``center_indices``; ``n_queries`` = k''; ``extra["parts"]`` the three index arrays.
    """
    start = time.perf_counter()
    func = "sensitivity_protocol"
    n = check_int(n, "n", func, low=1)
    k = check_int(budget, "budget", func, low=1, high=n, high_label="n", extra=f" (n={n})")
    for name, value in (("warm_fraction", warm_fraction), ("cluster_fraction", cluster_fraction)):
        if not isinstance(value, (int, float)) or not 0 < value < 1:
            raise param_error(func, name, "a float in (0, 1)", value)
    if warm_fraction + cluster_fraction > 1:
        raise ValueError(
            f"{func}: warm_fraction + cluster_fraction must be at most 1; got "
            f"{warm_fraction + cluster_fraction}."
        )
    rng = check_seed(seed, func)
    k_warm = max(1, int(round(warm_fraction * k)))
    k_clusters = max(1, min(int(round(cluster_fraction * k)), k - k_warm))
    warm = rng.choice(n, size=k_warm, replace=False)
    model = train(warm.copy())
    E = check_embeddings(embed(model), func, "embed(model)")
    if E.shape[0] != n:
        raise ValueError(
            f"{func}: embed(model) must return one row per point ({n}); got {E.shape[0]}."
        )
    cl = kz_clustering(E, k_clusters, z=z, rng=rng)
    centers = cl.center_indices
    losses = check_values(
        oracle(model)(centers.copy()), k_clusters, func, "oracle's losses", nonnegative=True
    )
    p = sensitivity_probabilities(losses[cl.labels], cl.cost, lam)
    taken = np.zeros(n, dtype=bool)
    taken[warm] = True
    taken[centers] = True
    rest = k - int(taken.sum())
    q = np.where(taken, 0.0, p)
    if rest > 0:
        if (q > 0).sum() < rest:  # not enough mass left: top up uniformly among the rest
            q = np.where(taken, 0.0, q + 1e-12)
        sampled = rng.choice(n, size=rest, replace=False, p=q / q.sum())
    else:
        sampled = np.zeros(0, dtype=np.int64)
    chosen = np.concatenate([warm, centers[~np.isin(centers, warm)], sampled]).astype(np.int64)
    probs = np.full(chosen.shape[0], np.nan)
    probs[chosen.shape[0] - sampled.shape[0] :] = p[sampled]
    return Selection(
        indices=chosen,
        probabilities=probs,
        center_indices=centers,
        n_queries=k_clusters,
        seconds=time.perf_counter() - start,
        extra={"parts": {"warm": warm, "centers": centers, "sampled": sampled}},
    )
