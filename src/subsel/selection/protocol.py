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

from .._validation import (
    Real,
    check_callable,
    check_embeddings,
    check_int,
    check_seed,
    input_error,
    param_error,
    validate_params,
)
from ..result import Selection
from .clustering import kz_clustering
from .sensitivity import SensitivitySampling, _probabilities

_CONSTRAINTS = {
    "warm_fraction": Real(0, 1, closed="neither"),
    "cluster_fraction": Real(0, 1, closed="neither"),
    "z": Real(1),
    "lam": Real(0),
}

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
    budget : int in [2, n]
        k, the number of points to return (at least one warm-start point and one centre).
    train : callable
        ``train(indices) -> model``: trains the warm-start model on those points.
    embed : callable
        ``embed(model) -> (n, e)`` array: the model's (last-layer) embeddings of all n points.
    oracle : callable
        ``oracle(model) -> (indices -> losses)``, e.g. ``lambda m: loss_oracle(m, X, y)``.
    warm_fraction, cluster_fraction : float in (0, 1)
        k' / k and k'' / k (0.2 and 0.2 in the paper).
    z, lam : float
        Clustering exponent (>= 1) and Hoelder constant (>= 0) of the estimated loss.
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
    n = check_int(n, "n", func, low=2)
    k = check_int(budget, "budget", func, low=2, high=n, high_label="n", extra=f" (n={n})")
    c = validate_params(
        func,
        _CONSTRAINTS,
        warm_fraction=warm_fraction,
        cluster_fraction=cluster_fraction,
        z=z,
        lam=lam,
    )
    if c["warm_fraction"] + c["cluster_fraction"] > 1:
        raise param_error(
            func,
            "cluster_fraction",
            f"a float in (0, 1 - warm_fraction] (warm_fraction={c['warm_fraction']:g})",
            cluster_fraction,
        )
    for name, value in (("train", train), ("embed", embed), ("oracle", oracle)):
        check_callable(value, name, func)
    rng = check_seed(seed, func)
    k_warm = min(max(1, round(c["warm_fraction"] * k)), k - 1)
    k_clusters = max(1, min(round(c["cluster_fraction"] * k), k - k_warm))
    warm = rng.choice(n, size=k_warm, replace=False)
    model = train(warm.copy())
    E = check_embeddings(embed(model), func, "embed(model)", dtype=None, distances=True)
    if E.shape[0] != n:
        raise input_error(
            func, "embed(model)", f"must return one row per point ({n}); got {E.shape[0]} rows"
        )
    cl = kz_clustering(E, k_clusters, z=c["z"], rng=rng)
    centers = cl.center_indices
    query = check_callable(
        oracle(model), "oracle", func, "a callable whose result oracle(model) is callable too"
    )
    losses = SensitivitySampling._query(query, centers, func)
    p = _probabilities(losses[cl.labels], cl.cost, c["lam"])
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
