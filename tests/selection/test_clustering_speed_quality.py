"""k-median (z = 1) in kz_clustering: the faster pipeline (issue 9) keeps the old one's cost.

The old pipeline (before issue 9) is rebuilt here from the pieces it used, which keep their
behaviour: greedy D^1 seeding by ``dz_order``, then ``max_iter`` Lloyd rounds of a full
reassignment (``assign``) and 20 Weiszfeld iterations from the cluster means
(``_geometric_medians``), then ``_snap``; the best of ``n_init`` runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs

from subsel.selection._kmedian import _geometric_medians, _greedy_dz_seeding, _weiszfeld
from subsel.selection.clustering import _snap, assign, dz_order, kz_clustering


def old_k_median_cost(X, k, seed, *, n_init, max_iter):
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(n_init):
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
        runs.append(_snap(X, centers, rng, 1.0))
    return min(assign(X, X[c], 1.0)[1].sum() for c in runs)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data.astype(np.float64)  # 1797 x 64, real


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=3000, centers=40, n_features=8, cluster_std=2.5, random_state=0)
    return X


@pytest.mark.parametrize("name,k", [("digits", 50), ("digits", 180), ("blobs", 40)])
def test_k_median_cost_within_2_percent_of_the_old_pipeline(name, k, digits, blobs):
    # Measured (3 seeds): new / old = 1.0009 (digits, k = 50), 1.0020 (digits, k = 10% of n), 0.9998
    # (blobs); k uniform data points cost 1.13 to 1.39 times the old pipeline's.
    X = {"digits": digits, "blobs": blobs}[name]
    seeds = range(2)
    new = np.mean(
        [
            kz_clustering(X, k, z=1, rng=np.random.default_rng(s), n_init=1, max_iter=10).cost.sum()
            for s in seeds
        ]
    )
    old = np.mean([old_k_median_cost(X, k, s, n_init=1, max_iter=10) for s in seeds])
    assert new <= 1.02 * old
    # The bound has teeth: k uniform data points (no seeding, no Lloyd) are well above it.
    rng = np.random.default_rng(0)
    uniform = np.mean(
        [assign(X, X[rng.choice(len(X), k, replace=False)], 1.0)[1].sum() for _ in seeds]
    )
    assert uniform > 1.1 * old


def test_k_median_defaults_within_2_percent_of_the_old_defaults(digits):
    # n_init = 3, max_iter = 50: the old pipeline ran up to 50 rounds, the new one stops when a
    # round gains less than tol = 0.1%.
    new = kz_clustering(digits, 60, z=1, rng=np.random.default_rng(0)).cost.sum()
    old = old_k_median_cost(digits, 60, 0, n_init=3, max_iter=50)
    assert new <= 1.02 * old


@pytest.mark.parametrize("z", [1.0, 2.0, 3.0])
def test_pruned_greedy_seeding_draws_what_dz_order_draws(digits, blobs, z):
    """The pruning is exact: with the same generator the same seeds as dz_order, and every
    point's nearest seed and exact distance to it."""
    for X, k in ((digits, 60), (blobs, 120)):
        trials = 2 + int(np.log(k))
        seeds, labels, dist = _greedy_dz_seeding(
            X, k, z=z, rng=np.random.default_rng(3), n_local_trials=trials
        )
        ref = dz_order(X, k, z=z, rng=np.random.default_rng(3), n_local_trials=trials)
        assert np.array_equal(np.sort(seeds), np.sort(ref))
        d = np.linalg.norm(X[:, None] - X[seeds][None], axis=2)
        np.testing.assert_allclose(dist, d.min(1), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d[np.arange(len(X)), labels], d.min(1), rtol=1e-12, atol=1e-12)


def test_pruned_seeding_with_duplicates_gives_distinct_points_at_distance_zero():
    base = make_blobs(n_samples=60, centers=3, n_features=3, random_state=1)[0]
    X = np.repeat(base, 4, axis=0)  # every point four times
    seeds, labels, dist = _greedy_dz_seeding(
        X, 70, z=1.0, rng=np.random.default_rng(0), n_local_trials=3
    )
    assert len(np.unique(seeds)) == 70
    assert np.array_equal(dist, np.linalg.norm(X - X[seeds[labels]], axis=1))
    # 60 distinct locations: the first 60 seeds cover them all, then duplicates (cost 0).
    assert dist.sum() == 0.0
    cl = kz_clustering(X, 70, z=1, rng=np.random.default_rng(0))
    assert len(np.unique(cl.center_indices)) == 70
    assert cl.cost.sum() == 0.0


def test_k_median_centres_are_distinct_data_points_and_cost_is_exact(blobs):
    cl = kz_clustering(blobs[:800], 25, z=1, rng=np.random.default_rng(0), n_init=2)
    assert len(np.unique(cl.center_indices)) == 25
    d = np.linalg.norm(blobs[:800, None] - blobs[cl.center_indices][None], axis=2)
    np.testing.assert_allclose(cl.cost, d.min(1), rtol=1e-12, atol=1e-12)
    assert np.array_equal(cl.labels, d.argmin(1))


def test_weiszfeld_leaves_a_data_point_unless_it_is_the_median():
    # From a vertex of the triangle (a data point, where the plain iteration stalls) to the
    # Fermat point; a second cluster whose median is its repeated member stays there.
    P = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0],
                  [11.0, 10.0], [10.0, 12.0]])  # fmt: skip
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    y0 = P[[0, 3]].copy()
    dist = np.linalg.norm(P - y0[labels], axis=1)
    y, d = _weiszfeld(P, labels, y0, dist, tol=0.0, max_steps=500)
    np.testing.assert_allclose(d, np.linalg.norm(P - y[labels], axis=1))
    tri = np.linalg.norm(P[:3] - y[0], axis=1).sum()
    grid = min(
        np.linalg.norm(P[:3] - np.array([a, b]), axis=1).sum()
        for a in np.linspace(1.5, 2.5, 41)
        for b in np.linspace(1.5, 2.5, 41)
    )
    assert tri <= grid + 1e-6
    np.testing.assert_array_equal(y[1], [10.0, 10.0])


def test_k_median_stops_early_when_the_cost_stalls(digits):
    # A loose tolerance stops after few rounds: a higher cost than the default, never lower
    # than what the same seeds give after many rounds with no tolerance.
    loose = kz_clustering(digits, 40, z=1, rng=np.random.default_rng(0), n_init=1, tol=0.5)
    tight = kz_clustering(
        digits, 40, z=1, rng=np.random.default_rng(0), n_init=1, max_iter=100, tol=0.0
    )
    assert tight.cost.sum() < loose.cost.sum()
