"""SensitivitySampling: Algorithm 1 and 3 of the sensitivity-sampling paper."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from subsel.selection.clustering import assign, dz_order, kz_clustering
from subsel.selection.sensitivity import (
    SensitivitySampling,
    sample_size_for_epsilon,
    sensitivity_probabilities,
    total_loss_estimate,
)
from tests.common.stats import mean_within


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=300, centers=6, n_features=4, random_state=0)
    anchor = X.mean(0) + 3.0
    losses = np.linalg.norm(X - anchor, axis=1)  # 1-Lipschitz in the embeddings
    return X, losses


class CountingOracle:
    def __init__(self, losses):
        self.losses = losses
        self.calls = []

    def __call__(self, idx):
        self.calls.append(np.array(idx))
        return self.losses[idx]


def test_weights_are_inverse_of_s_times_p_and_p_follows_step_3(data):
    X, losses = data
    oracle = CountingOracle(losses)
    sel = SensitivitySampling(n_clusters=10, budget=50, z=2, lam=0.5, seed=1).select(X, oracle)
    assert len(sel) == 50
    np.testing.assert_allclose(sel.weights, 1.0 / (50 * sel.probabilities), rtol=1e-12)
    # recompute p from the centres the oracle saw, by brute force
    centers = sel.center_indices
    d = np.linalg.norm(X[:, None, :] - X[centers][None, :, :], axis=2)
    near, v = d.argmin(1), d.min(1) ** 2
    loss_hat = losses[centers][near]
    p = (loss_hat + 0.5 * v) / (0.5 * v.sum() + loss_hat.sum())
    np.testing.assert_allclose(sel.probabilities, p[sel.indices], rtol=1e-9)
    assert sel.extra["phi"] == pytest.approx(v.sum())


@pytest.mark.parametrize("rounds", [1, 3])
def test_oracle_is_called_on_exactly_k_points_per_round(data, rounds):
    X, losses = data
    oracle = CountingOracle(losses)
    sel = SensitivitySampling(n_clusters=7, budget=30, rounds=rounds, seed=2).select(X, oracle)
    assert len(oracle.calls) == rounds
    assert all(len(c) == 7 for c in oracle.calls)
    queried = np.concatenate(oracle.calls)
    assert len(np.unique(queried)) == 7 * rounds
    assert np.array_equal(np.sort(queried), np.sort(sel.center_indices))
    assert sel.n_queries == 7 * rounds
    if rounds > 1:
        assert [r["n_queries"] for r in sel.extra["rounds"]] == [7, 14, 21]


@pytest.mark.parametrize("z,rounds", [(2, 1), (1, 1), (2, 3)])
def test_weighted_estimate_is_unbiased(data, z, rounds):
    X, losses = data
    total = losses.sum()
    estimates = []
    for seed in range(300):
        sel = SensitivitySampling(n_clusters=6, budget=20, z=z, rounds=rounds, seed=seed)
        sel = sel.select(X, lambda i: losses[i])
        estimates.append(total_loss_estimate(sel, losses[sel.indices]))
    mean_within(np.array(estimates)[:, None], [total])


@pytest.mark.parametrize("z", [1, 2])
def test_theorem5_bound_holds_in_most_runs(data, z):
    """Delta <= eps (sum l + 2 lam Phi(D, A)) in at least 1 - 1/e of the runs."""
    X, losses = data
    if z == 1:
        lam = 1.0  # the losses are 1-Lipschitz
    else:  # the tightest (2, lam)-Hoelder constant of these losses on this data
        diff = np.abs(losses[:, None] - losses[None, :])
        dist2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        off = ~np.eye(len(X), dtype=bool)
        lam = float((diff[off] / dist2[off]).max())
    eps = 0.25
    ok = 0
    runs = 100
    for seed in range(runs):
        sel = SensitivitySampling(n_clusters=8, epsilon=eps, z=z, lam=lam, seed=seed)
        sel = sel.select(X, lambda i: losses[i])
        delta = abs(losses.sum() - total_loss_estimate(sel, losses[sel.indices]))
        ok += delta <= eps * (losses.sum() + 2 * lam * sel.extra["phi"])
    assert ok / runs >= 1 - 1 / np.e


def test_epsilon_sets_the_sample_size():
    assert sample_size_for_epsilon(0.1) == int(np.ceil(100 * (2 + 0.2 / 3)))
    X = np.random.default_rng(0).normal(size=(50, 2))
    sel = SensitivitySampling(n_clusters=3, epsilon=0.5, seed=0).select(
        X, lambda i: np.ones(len(i))
    )
    assert len(sel) == sample_size_for_epsilon(0.5)


def test_same_seed_same_selection(data):
    X, losses = data
    a = SensitivitySampling(n_clusters=5, budget=40, seed=7).select(X, lambda i: losses[i])
    b = SensitivitySampling(n_clusters=5, budget=40, seed=7).select(X, lambda i: losses[i])
    c = SensitivitySampling(n_clusters=5, budget=40, seed=8).select(X, lambda i: losses[i])
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    assert not np.array_equal(a.indices, c.indices)


def test_zero_losses_and_no_spread_fall_back_to_uniform():
    X = np.repeat(np.eye(3), 4, axis=0)  # 3 distinct points, 4 copies each
    sel = SensitivitySampling(n_clusters=3, budget=10, lam=1.0, seed=0).select(
        X, lambda i: np.zeros(len(i))
    )
    np.testing.assert_allclose(sel.probabilities, 1 / 12)


# ---------------------------------------------------------------- clustering
def test_kmeans_centres_are_data_points_and_cost_is_exact(data):
    X, _ = data
    cl = kz_clustering(X, 6, z=2, rng=np.random.default_rng(0))
    assert len(np.unique(cl.center_indices)) == 6
    d = np.linalg.norm(X[:, None, :] - X[cl.center_indices][None], axis=2)
    np.testing.assert_allclose(cl.cost, d.min(1) ** 2, rtol=1e-9, atol=1e-10)
    assert np.array_equal(cl.labels, d.argmin(1))


def test_k_median_is_within_a_small_factor_of_brute_force():
    X, _ = make_blobs(n_samples=40, centers=3, n_features=2, random_state=3)
    cl = kz_clustering(X, 3, z=1, rng=np.random.default_rng(0))
    best = min(
        np.linalg.norm(X[:, None] - X[list(c)][None], axis=2).min(1).sum()
        for c in itertools.combinations(range(40), 3)
    )
    assert cl.cost.sum() <= 2.0 * best


def test_dz_order_is_distinct_and_assign_matches_brute_force(data):
    X, _ = data
    order = dz_order(X, 30, z=2, rng=np.random.default_rng(0))
    assert len(np.unique(order)) == 30
    labels, cost = assign(X, X[order[:5]], 1.0)
    d = np.linalg.norm(X[:, None] - X[order[:5]][None], axis=2)
    assert np.array_equal(labels, d.argmin(1))
    np.testing.assert_allclose(cost, d.min(1))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_clusters=301, budget=5), "'n_clusters'"),
        (dict(n_clusters=3, budget=0), "'budget'"),
        (dict(n_clusters=3), "exactly one of"),
        (dict(n_clusters=3, budget=5, epsilon=0.1), "exactly one of"),
        (dict(n_clusters=3, epsilon=-0.1), "'epsilon'"),
        (dict(n_clusters=3, budget=5, z=0.5), "'z'"),
        (dict(n_clusters=3, budget=5, lam=-1.0), "'lam'"),
        (dict(n_clusters=100, budget=5, rounds=4), "n_clusters \\* rounds"),
    ],
)
def test_bad_parameters(data, kwargs, match):
    X, losses = data
    with pytest.raises(ValueError, match=match):
        SensitivitySampling(**kwargs).select(X, lambda i: losses[i])


def test_bad_data_and_oracles(data):
    X, losses = data
    sampler = SensitivitySampling(n_clusters=3, budget=5, seed=0)
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sampler.select(bad, lambda i: losses[i])
    with pytest.raises(ValueError, match="2-d"):
        sampler.select(X[:, 0], lambda i: losses[i])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        sampler.select(X, lambda i: losses[:5])
    with pytest.raises(ValueError, match=">= 0"):
        sampler.select(X, lambda i: -losses[i])
    with pytest.raises(TypeError, match="callable"):
        sampler.select(X, losses)
    with pytest.raises(TypeError, match="'budget'"):
        SensitivitySampling(n_clusters=3, budget=2.5).select(X, lambda i: losses[i])


def test_faiss_backend_matches_sklearn_cost(data):
    pytest.importorskip("faiss")
    X, _ = make_blobs(n_samples=3000, centers=8, n_features=6, random_state=1)
    fa = kz_clustering(X, 8, z=2, rng=np.random.default_rng(0), backend="faiss", sample_size=500)
    sk = kz_clustering(X, 8, z=2, rng=np.random.default_rng(0), backend="sklearn")
    assert len(np.unique(fa.center_indices)) == 8
    assert fa.cost.sum() <= 1.2 * sk.cost.sum()
    d = np.linalg.norm(X[:, None] - X[fa.center_indices][None], axis=2)
    np.testing.assert_allclose(fa.cost, d.min(1) ** 2, rtol=1e-9, atol=1e-9)


def test_missing_faiss_gives_a_clear_error(monkeypatch, data):
    import sys

    X, _ = data
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ValueError, match="pip install"):
        kz_clustering(X, 3, z=2, rng=np.random.default_rng(0), backend="faiss")
    with pytest.raises(ValueError, match="backend"):
        kz_clustering(X, 3, z=2, rng=np.random.default_rng(0), backend="magic")


def test_geometric_median_moves_off_a_data_point_and_lowers_the_cost():
    from subsel.selection._kmedian import _geometric_median

    P = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.0]])  # the Fermat point is inside the triangle
    y = _geometric_median(P, iters=200)
    cost = np.linalg.norm(P - y, axis=1).sum()
    assert cost < min(np.linalg.norm(P - p, axis=1).sum() for p in P) - 1e-3
    grid = [
        np.linalg.norm(P - np.array([a, b]), axis=1).sum()
        for a in np.linspace(1.5, 2.5, 41)
        for b in np.linspace(1.5, 2.5, 41)
    ]
    assert cost <= min(grid) + 1e-6


def test_k_median_refinement_improves_on_its_seeding():
    X, _ = make_blobs(n_samples=400, centers=5, n_features=3, random_state=4, cluster_std=2.0)
    seeded = kz_clustering(X, 5, z=1, rng=np.random.default_rng(0), max_iter=0, n_init=1)
    refined = kz_clustering(X, 5, z=1, rng=np.random.default_rng(0), max_iter=20, n_init=1)
    assert refined.cost.sum() < seeded.cost.sum()


# ---------------------------------------------------------------- extremes (issue 9)
@pytest.mark.parametrize(("dtype", "scale"), [(np.float32, 3e19), (np.float64, 1e155)])
def test_huge_embeddings_are_refused_with_the_fix(dtype, scale):
    """Squared distances overflow: numpy's 'Probabilities contain NaN' before, a named error and
    the fix now; the rescaled data select normally."""
    X = (np.random.default_rng(0).normal(size=(200, 4)) * scale).astype(dtype)
    sampler = SensitivitySampling(n_clusters=5, budget=20, seed=0)
    with pytest.raises(ValueError, match=r"Input 'X' of SensitivitySampling.select .*rescale"):
        sampler.select(X, lambda i: np.ones(len(i)))
    sel = sampler.select(X / np.abs(X).max(), lambda i: np.ones(len(i)))
    assert np.isfinite(sel.probabilities).all()


def test_probabilities_survive_losses_whose_sum_overflows():
    """Losses near the float64 maximum: the sum is inf, and p was all 0 (numpy then refused)."""
    p = sensitivity_probabilities(np.array([1e308, 1e308, 0.0]), np.array([0.0, 0.0, 1.0]), 1.0)
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0], atol=1e-300)
    X = np.random.default_rng(0).normal(size=(60, 2))
    sel = SensitivitySampling(n_clusters=3, budget=10, seed=0).select(
        X, lambda i: np.full(len(i), 1e308)
    )
    assert np.isfinite(sel.probabilities).all() and np.isfinite(sel.weights).all()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [(dict(epsilon=1e-7), "epsilon"), (dict(budget=10**16), "budget")],
)
def test_sample_sizes_that_cannot_fit_are_refused(data, kwargs, name):
    """epsilon = 1e-7 means 2e14 draws: a MemoryError for 1.4 PiB before, a named error now."""
    X, losses = data
    with pytest.raises(ValueError, match=rf"The '{name}' parameter of .*fits in memory"):
        SensitivitySampling(n_clusters=3, **kwargs).select(X, lambda i: losses[i])


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        (dict(z=0.0), ValueError, "z"),
        (dict(z=-1), ValueError, "z"),
        (dict(lam=float("nan")), ValueError, "lam"),
        (dict(lam=-0.5), ValueError, "lam"),
        (dict(progress="yes"), TypeError, "progress"),
        (dict(progress=1), TypeError, "progress"),
        (dict(backend="spark"), ValueError, "backend"),
    ],
)
def test_parameters_are_refused_in_the_one_format(data, kwargs, exc, name):
    X, losses = data
    with pytest.raises(exc, match=rf"^The '{name}' parameter of SensitivitySampling must be"):
        SensitivitySampling(n_clusters=3, budget=5, **kwargs).select(X, lambda i: losses[i])


def test_complex_embeddings_are_refused(data):
    X, losses = data
    with pytest.raises(TypeError, match="Input 'X' of SensitivitySampling.select must be real"):
        SensitivitySampling(n_clusters=3, budget=5).select(X * (1 + 1j), lambda i: losses[i])
