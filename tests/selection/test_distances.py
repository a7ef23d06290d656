"""The fast distance paths: row norms + matrix products agree with direct differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subsel.selection import KCenterGreedy, SensitivitySampling
from subsel.selection.clustering import _candidate_costs, assign, row_sq_norms, update_min_dist


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 6),
    z=st.sampled_from([1.0, 2.0, 3.0, 0.5]),
    chunk=st.integers(1, 70),
    offset=st.sampled_from([0.0, 1.0, 100.0, 1e4]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_fast_update_min_dist_has_a_small_relative_error(n, d, z, chunk, offset, dtype, seed):
    """Against float64 differences on the same (rounded) data, with no absolute slack: the norm
    expansion is used only where it cannot cancel, so every distance, duplicates (0) and
    points around a common offset included, is right to a few units of the dtype's rounding.
    (The old expansion was off by eps * ||x||^2: 100% and more at an offset of 1e4 in float32.)"""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0.1, 10) + offset).astype(dtype)
    X[rng.integers(n, size=n // 3)] = X[0]  # duplicates of the point
    p = X[0]
    start = np.where(rng.random(n) < 0.5, np.inf, rng.uniform(0, 5, size=n) ** z)
    ref = np.minimum(
        start, np.linalg.norm(X.astype(np.float64) - p.astype(np.float64), axis=1) ** z
    )
    rtol = 2e-5 if dtype == np.float32 else 1e-13
    for sq in (None, row_sq_norms(X)):
        got = update_min_dist(X, p, start.copy(), z=z, chunk=chunk, sq_norms=sq)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)
        assert np.all(got[np.all(X == p, axis=1)] == 0.0)


def test_duplicates_of_the_point_are_at_distance_exactly_zero():
    """The old norm expansion left sqrt(eps) * ||x|| (1.7e-7 here) where the distance is 0."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(20, 16)) * 3 + 1, 3, axis=0)
    best = update_min_dist(X, X[6], np.full(60, np.inf), sq_norms=row_sq_norms(X))
    assert best[6] == best[7] == best[8] == 0.0
    assert np.count_nonzero(best == 0.0) == 3


def test_candidate_costs_match_brute_force():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    best = rng.uniform(0, 3, size=200)
    cands = np.array([3, 50, 199])
    for z in (1.0, 2.0):
        want = [np.minimum(best, np.linalg.norm(X - X[c], axis=1) ** z).sum() for c in cands]
        got = _candidate_costs(X, row_sq_norms(X), cands, best, z, chunk=37)
        np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("selector", ["kcenter", "sensitivity"])
def test_float32_embeddings_are_used_as_float32(selector):
    """float32 data are not copied to float64 (memory at scale) and pick what float64 picks."""
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(600, 8)) + 10 * rng.integers(0, 6, size=(600, 1))).astype(np.float32)
    losses = rng.gamma(2.0, size=600)
    if selector == "kcenter":
        a = KCenterGreedy(budget=30, seed=0).select(X)
        b = KCenterGreedy(budget=30, seed=0).select(X.astype(np.float64))
        np.testing.assert_array_equal(a.indices, b.indices)
        # single precision: squared distances carry about eps32 * ||x||^2 = 2e-4 here
        np.testing.assert_allclose(a.gains[1:], b.gains[1:], rtol=1e-4)
    else:
        sel = SensitivitySampling(n_clusters=6, budget=100, seed=0)
        a = sel.select(X, lambda i: losses[i])
        b = sel.select(X.astype(np.float64), lambda i: losses[i])
        np.testing.assert_array_equal(a.center_indices, b.center_indices)
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-4)


@pytest.mark.parametrize("offset", [1e4, 100.0])
def test_assign_with_a_common_offset_finds_the_nearest_centre(offset):
    """float32 data around 1e4: ||c||^2 - 2 x.c cancelled and 1875 of 2000 labels were wrong
    (costs 57% too high); the argmin is now taken on translated data."""
    X = (np.random.default_rng(0).normal(size=(2000, 8)) + offset).astype(np.float32)
    C = X[:20]
    labels, cost = assign(X, C, 1.0)
    D = np.linalg.norm(X.astype(np.float64)[:, None] - C.astype(np.float64)[None], axis=2)
    np.testing.assert_array_equal(labels, D.argmin(1))
    np.testing.assert_allclose(cost, D.min(1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("z", [2, 1])
def test_sensitivity_sampling_float32_with_an_offset_matches_float64(z):
    """float32 k-means (z = 2) kept float32 data: with the cancelling assignment the clustering
    cost came out 3x too high and the probabilities 10x off."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 8)) + 4 * rng.integers(0, 6, size=(600, 1)) + 1e4
    losses = rng.gamma(2.0, size=600)
    sel = SensitivitySampling(n_clusters=6, budget=100, z=z, seed=0)
    a = sel.select(X.astype(np.float32), lambda i: losses[i])
    b = sel.select(X.astype(np.float32).astype(np.float64), lambda i: losses[i])
    np.testing.assert_array_equal(a.center_indices, b.center_indices)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5)
    assert a.extra["phi"] == pytest.approx(b.extra["phi"], rel=1e-5)
