"""The fast distance paths: row norms + matrix products agree with direct differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subsel.selection import KCenterGreedy, SensitivitySampling
from subsel.selection.clustering import _candidate_costs, row_sq_norms, update_min_dist


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 6),
    z=st.sampled_from([1.0, 2.0, 3.0]),
    chunk=st.integers(1, 70),
    seed=st.integers(0, 2**16),
)
def test_fast_update_min_dist_matches_differences(n, d, z, chunk, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10)
    p = rng.normal(size=d)
    start = rng.uniform(0, 5, size=n)
    exact = update_min_dist(X, p, start.copy(), z=z)
    fast = update_min_dist(X, p, start.copy(), z=z, chunk=chunk, sq_norms=row_sq_norms(X))
    np.testing.assert_allclose(fast, exact, rtol=1e-6, atol=1e-6)


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
