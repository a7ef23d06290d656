"""Regression data selection: Algorithm 2 and leverage-score sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from subsel.selection.regression import (
    LeverageScoreSampling,
    RegressionSensitivitySampling,
    leverage_scores,
    weighted_least_squares,
)
from tests.common.stats import mean_within


@pytest.fixture(scope="module")
def diabetes():
    A, b = load_diabetes(return_X_y=True)
    A = np.column_stack([A, np.ones(len(A))])
    return A, (b - b.mean()) / b.std()


def test_exact_leverage_scores_are_the_hat_matrix_diagonal(diabetes):
    A, _ = diabetes
    lev = leverage_scores(A)
    hat = A @ np.linalg.pinv(A.T @ A) @ A.T
    np.testing.assert_allclose(lev, np.diag(hat), atol=1e-10)
    assert lev.sum() == pytest.approx(A.shape[1])


def test_sketched_leverage_scores_are_within_a_constant_factor(diabetes):
    A, _ = diabetes
    exact = leverage_scores(A)
    approx = leverage_scores(A, method="sketch", seed=0)
    ratio = approx / exact
    assert np.quantile(ratio, 0.05) > 0.5 and np.quantile(ratio, 0.95) < 2.0


def test_labels_are_queried_at_the_centres_only(diabetes):
    A, b = diabetes
    calls = []

    def oracle(idx):
        calls.append(np.array(idx))
        return b[idx]

    sel = RegressionSensitivitySampling(n_clusters=20, budget=60, seed=0).select(A, oracle)
    assert len(calls) == 1 and np.array_equal(calls[0], sel.center_indices)
    assert sel.n_queries == 20 and len(np.unique(sel.center_indices)) == 20
    np.testing.assert_allclose(sel.weights, 1 / (60 * sel.probabilities))


@pytest.mark.parametrize("zeta", [1.0, math.inf])
def test_weighted_squared_loss_is_unbiased(diabetes, zeta):
    A, b = diabetes
    x = weighted_least_squares(A, b) + 0.1
    true = float(((A @ x - b) ** 2).sum())
    est = []
    for seed in range(80):
        sel = RegressionSensitivitySampling(n_clusters=8, budget=40, zeta=zeta, seed=seed)
        sel = sel.select(A, lambda i: b[i])
        i = sel.indices
        est.append(float((sel.weights * (A[i] @ x - b[i]) ** 2).sum()))
    mean_within(np.array(est)[:, None], [true])


def test_zeta_infinity_samples_by_distance_alone(diabetes):
    A, b = diabetes
    sel = RegressionSensitivitySampling(n_clusters=10, budget=30, zeta=math.inf, seed=1)
    sel = sel.select(A, lambda i: b[i])
    d = np.linalg.norm(A[:, None] - A[sel.center_indices][None], axis=2).min(1)
    np.testing.assert_allclose(sel.probabilities, (d / d.sum())[sel.indices], rtol=1e-9)


def test_leverage_sampling_probabilities(diabetes):
    A, _ = diabetes
    sel = LeverageScoreSampling(budget=50, seed=0).select(A)
    lev = leverage_scores(A)
    np.testing.assert_allclose(sel.probabilities, (lev / lev.sum())[sel.indices])
    assert sel.n_queries == 0


def test_weighted_fit_on_a_sample_is_close_to_the_full_fit(diabetes):
    A, b = diabetes
    full = 1 - ((A @ weighted_least_squares(A, b) - b) ** 2).sum() / (b**2).sum()
    sel = LeverageScoreSampling(budget=200, seed=0).select(A)
    x = weighted_least_squares(A[sel.indices], b[sel.indices], sel.weights)
    r2 = 1 - ((A @ x - b) ** 2).sum() / (b**2).sum()
    assert full - r2 < 0.1


def test_bad_input(diabetes):
    A, b = diabetes
    with pytest.raises(ValueError, match="'zeta'"):
        RegressionSensitivitySampling(n_clusters=3, budget=5, zeta=-1).select(A, lambda i: b[i])
    with pytest.raises(ValueError, match="'n_clusters'"):
        RegressionSensitivitySampling(n_clusters=10**6, budget=5).select(A, lambda i: b[i])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        RegressionSensitivitySampling(n_clusters=3, budget=5).select(A, lambda i: b[:2])
    with pytest.raises(TypeError, match="callable"):
        RegressionSensitivitySampling(n_clusters=3, budget=5).select(A, b)
    with pytest.raises(ValueError, match="'method'"):
        leverage_scores(A, method="magic")


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((np.ones((5, 2)), [1, 2, np.nan, 4, 5]), ValueError, "Input 'b' of .* NaN"),
        ((np.arange(5.0), np.arange(5.0)), ValueError, "Input 'A' of .* must be 2-d"),
        ((np.full((5, 2), np.nan), np.arange(5.0)), ValueError, "Input 'A' of .* NaN"),
        ((np.ones((5, 2)), np.arange(5.0), -np.ones(5)), ValueError, "Input 'weights' .* >= 0"),
        ((np.ones((5, 2)), np.arange(5.0), np.zeros(5)), ValueError, "Input 'weights' .* all 0"),
        ((np.ones((5, 2)), np.arange(4.0)), ValueError, r"Input 'b' .* shape \(5,\)"),
        ((np.ones((5, 2)) * 1j, np.arange(5.0)), TypeError, "Input 'A' .* must be real"),
    ],
)
def test_weighted_least_squares_refuses_bad_input(args, exc, match):
    """NaN b returned NaN, a 1-d A garbage, NaN A / negative weights a LinAlgError."""
    with pytest.raises(exc, match=match):
        weighted_least_squares(*args)


def test_weighted_least_squares_matches_the_weighted_normal_equations(diabetes):
    A, b = diabetes
    w = np.random.default_rng(0).uniform(0, 2, size=len(b))
    want = np.linalg.solve(A.T @ (w[:, None] * A), A.T @ (w * b))
    np.testing.assert_allclose(weighted_least_squares(A, b, w), want, rtol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        (dict(sketch_size=-1), ValueError, "sketch_size"),
        (dict(sketch_size=2.5), TypeError, "sketch_size"),
        (dict(sketch_size=5), ValueError, "sketch_size"),  # fewer rows than the 11 columns
        (dict(n_projections=0), ValueError, "n_projections"),
        (dict(n_projections=1.5), TypeError, "n_projections"),
        (dict(n_projections=-3), ValueError, "n_projections"),
    ],
)
def test_sketch_sizes_are_refused_in_the_one_format(diabetes, kwargs, exc, name):
    A, _ = diabetes
    with pytest.raises(exc, match=rf"^The '{name}' parameter of leverage_scores must be an int"):
        leverage_scores(A, method="sketch", **kwargs)


def test_sketch_with_fewer_rows_than_columns_gives_the_exact_scores():
    A = np.random.default_rng(0).normal(size=(3, 5))
    np.testing.assert_allclose(leverage_scores(A, method="sketch", seed=0), np.ones(3))


def test_regression_sampling_huge_rows_work_in_float64_or_are_refused():
    """Rows are used in float64: float32 rows near 3e19 work; float64 rows near 1e155, whose
    squared distances overflow, are refused with the fix."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 3))
    labels = lambda i: np.ones(len(i))  # noqa: E731
    sampler = RegressionSensitivitySampling(n_clusters=3, budget=5, seed=0)
    sel = sampler.select((A * 3e19).astype(np.float32), labels)
    assert np.isfinite(sel.probabilities).all()
    with pytest.raises(ValueError, match=r"Input 'A' of .* too large .*rescale"):
        sampler.select(A * 1e155, labels)
