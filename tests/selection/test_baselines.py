"""Tests for the baseline selectors: Uniform, KCenterGreedy, Margin, Entropy, LeastConfidence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from subsel.result import Selection
from subsel.selection.baselines import Entropy, KCenterGreedy, LeastConfidence, Margin, Uniform
from tests.common.stats import mean_within

# --------------------------------------------------------------------------------------------------
# helpers (independent of the implementation)
# --------------------------------------------------------------------------------------------------


def _pairwise(X: np.ndarray) -> np.ndarray:
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))


def _radius(X: np.ndarray, centres) -> float:
    """max_i min_{c in centres} ||x_i - x_c||, by brute force."""
    return float(_pairwise(X)[:, list(centres)].min(axis=1).max())


def _optimal_radius(X: np.ndarray, k: int) -> float:
    """The optimal k-center radius, over every subset of size k."""
    D = _pairwise(X)
    return min(
        float(D[:, list(S)].min(axis=1).max()) for S in itertools.combinations(range(len(X)), k)
    )


def _points(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


# --------------------------------------------------------------------------------------------------
# Uniform
# --------------------------------------------------------------------------------------------------


def test_uniform_distinct_size_and_weights():
    X = _points(30, 3, 0)
    sel = Uniform(budget=7, seed=1).select(X)
    assert isinstance(sel, Selection)
    assert len(sel) == 7
    assert np.unique(sel.indices).size == 7
    assert sel.indices.min() >= 0 and sel.indices.max() < 30
    np.testing.assert_allclose(sel.weights, 30 / 7)
    assert sel.weights.sum() == pytest.approx(30)
    np.testing.assert_allclose(sel.probabilities, 7 / 30)
    assert sel.n_queries == 0
    assert sel.seconds is not None and sel.seconds >= 0


def test_uniform_reproducible_by_seed():
    X = _points(100, 2, 0)
    a = Uniform(budget=10, seed=3).select(X).indices
    b = Uniform(budget=10, seed=3).select(X).indices
    c = Uniform(budget=10, seed=4).select(X).indices
    g = Uniform(budget=10, seed=np.random.default_rng(3)).select(X).indices
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, g)
    assert not np.array_equal(a, c)


def test_uniform_full_budget_is_a_permutation():
    X = _points(12, 2, 0)
    sel = Uniform(budget=12, seed=0).select(X)
    np.testing.assert_array_equal(np.sort(sel.indices), np.arange(12))
    np.testing.assert_allclose(sel.weights, 1.0)


def test_uniform_inclusion_frequency():
    n, budget, reps = 20, 5, 2000
    X = np.zeros((n, 1))
    rng = np.random.default_rng(12345)
    hits = np.zeros((reps, n))
    for r in range(reps):
        hits[r, Uniform(budget=budget, seed=rng).select(X).indices] = 1.0
    assert np.all(hits.sum(axis=1) == budget)
    mean_within(hits, np.full(n, budget / n))


# --------------------------------------------------------------------------------------------------
# KCenterGreedy
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [9, 10, 12])
@pytest.mark.parametrize("budget", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcenter_two_approximation(n, budget, seed):
    X = _points(n, 2, 100 * n + seed)
    sel = KCenterGreedy(budget=budget, seed=seed).select(X)
    assert len(sel) == budget  # the random start point counts as the first pick
    assert np.unique(sel.indices).size == budget
    radius = _radius(X, sel.indices)
    assert sel.extra["radius"] == pytest.approx(radius, abs=1e-12)
    assert radius <= 2 * _optimal_radius(X, budget) + 1e-12


@pytest.mark.parametrize("seed", [0, 5])
def test_kcenter_gains_are_covering_radii(seed):
    X = _points(60, 4, seed)
    sel = KCenterGreedy(budget=15, seed=seed).select(X)
    assert np.isinf(sel.gains[0])
    assert np.all(np.diff(sel.gains) <= 1e-12)
    for j in range(1, len(sel)):
        before = sel.indices[:j]
        assert sel.gains[j] == pytest.approx(_radius(X, before), rel=1e-10)
        # the pick is the farthest point from the centres chosen so far
        d = _pairwise(X)[:, before].min(axis=1)
        assert d[sel.indices[j]] == pytest.approx(d.max(), rel=1e-10)
    assert sel.n_queries == 0


def test_kcenter_reproducible_by_seed():
    X = _points(200, 3, 0)
    a = KCenterGreedy(budget=10, seed=7).select(X).indices
    b = KCenterGreedy(budget=10, seed=7).select(X).indices
    np.testing.assert_array_equal(a, b)
    starts = {int(KCenterGreedy(budget=1, seed=s).select(X).indices[0]) for s in range(10)}
    assert len(starts) > 1


def test_kcenter_chunk_size_one_matches_default():
    X = _points(300, 5, 1)
    a = KCenterGreedy(budget=25, seed=0).select(X)
    b = KCenterGreedy(budget=25, seed=0, chunk_size=1).select(X)
    np.testing.assert_array_equal(a.indices, b.indices)
    # distances come from row norms and a matrix-vector product, whose rounding may depend on
    # the block shape; picks agree, distances to rounding
    np.testing.assert_allclose(a.gains, b.gains, rtol=1e-12)
    assert a.extra["radius"] == pytest.approx(b.extra["radius"], rel=1e-12)


def test_kcenter_initial_never_repicked():
    X = _points(80, 3, 2)
    initial = np.array([3, 17, 42, 60])
    sel = KCenterGreedy(budget=20, initial=initial).select(X)
    assert len(sel) == 20
    assert not np.isin(sel.indices, initial).any()
    assert np.unique(sel.indices).size == 20
    # with initial centres the first gain is finite: the radius they leave
    assert sel.gains[0] == pytest.approx(_radius(X, initial), rel=1e-10)
    all_centres = np.concatenate([initial, sel.indices])
    assert sel.extra["radius"] == pytest.approx(_radius(X, all_centres), rel=1e-10)


def test_kcenter_duplicates_do_not_repeat_picks():
    X = np.repeat(_points(3, 2, 0), 4, axis=0)  # 12 points, 3 distinct locations
    sel = KCenterGreedy(budget=9, initial=[0, 1]).select(X)
    assert np.unique(sel.indices).size == 9
    assert not np.isin(sel.indices, [0, 1]).any()
    assert sel.extra["radius"] == 0.0


def test_kcenter_full_budget_with_initial():
    X = _points(10, 2, 0)
    sel = KCenterGreedy(budget=7, initial=[1, 2, 3]).select(X)
    np.testing.assert_array_equal(np.sort(np.concatenate([sel.indices, [1, 2, 3]])), np.arange(10))
    assert sel.extra["radius"] == 0.0


def test_kcenter_large_chunked_matches_unchunked():
    X = _points(5000, 8, 3)
    a = KCenterGreedy(budget=200, seed=0, chunk_size=512).select(X)
    b = KCenterGreedy(budget=200, seed=0, chunk_size=65536).select(X)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)
    assert len(a) == 200 and np.unique(a.indices).size == 200


def test_kcenter_progress_bar_runs():
    X = _points(50, 2, 0)
    a = KCenterGreedy(budget=5, seed=0, progress=True).select(X)
    b = KCenterGreedy(budget=5, seed=0).select(X)
    np.testing.assert_array_equal(a.indices, b.indices)


# --------------------------------------------------------------------------------------------------
# Uncertainty sampling
# --------------------------------------------------------------------------------------------------

# Rows chosen so that the three criteria rank them differently.
_P = np.array(
    [
        [0.50, 0.50, 0.00],
        [0.40, 0.30, 0.30],
        [0.60, 0.20, 0.20],
        [0.80, 0.10, 0.10],
        [0.55, 0.44, 0.01],
    ]
)


def _margin(row) -> float:
    a, b = sorted(row, reverse=True)[:2]
    return a - b


def _entropy(row) -> float:
    return -sum(p * math.log(p) for p in row if p > 0)


def _least_confidence(row) -> float:
    return 1 - max(row)


# (class, uncertainty for the row (larger = more uncertain), reported gain from the uncertainty)
_CASES = [
    (Margin, lambda r: -_margin(r), lambda r: 1 - _margin(r)),
    (Entropy, _entropy, _entropy),
    (LeastConfidence, _least_confidence, _least_confidence),
]


@pytest.mark.parametrize(("cls", "uncertainty", "gain"), _CASES)
@pytest.mark.parametrize("budget", [1, 3, 5])
def test_uncertainty_matches_formula(cls, uncertainty, gain, budget):
    X = np.zeros((len(_P), 2))
    u = [uncertainty(row) for row in _P]
    expected = sorted(range(len(_P)), key=lambda i: (-u[i], i))[:budget]
    sel = cls(budget=budget).select(X, _P)
    np.testing.assert_array_equal(sel.indices, expected)
    np.testing.assert_allclose(sel.gains, [gain(_P[i]) for i in expected], atol=1e-12)
    np.testing.assert_allclose(sel.weights, 1.0)
    assert sel.n_queries == len(_P)


def test_uncertainty_criteria_differ_on_example():
    X = np.zeros((len(_P), 2))
    orders = {tuple(cls(budget=5).select(X, _P).indices) for cls, _, _ in _CASES}
    assert len(orders) == 3


@pytest.mark.parametrize("cls", [Margin, Entropy, LeastConfidence])
def test_uncertainty_ties_break_by_index(cls):
    P = np.array([[0.9, 0.1], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.7, 0.3]])
    sel = cls(budget=5).select(np.zeros((5, 1)), P)
    np.testing.assert_array_equal(sel.indices, [1, 3, 4, 0, 2])


@pytest.mark.parametrize("cls", [Margin, Entropy, LeastConfidence])
def test_uncertainty_callable_oracle_called_once(cls):
    n = 40
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, 4))
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    calls = []

    def oracle(indices):
        calls.append(np.array(indices))
        return P[indices]

    sel = cls(budget=10).select(rng.normal(size=(n, 3)), oracle)
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], np.arange(n))
    assert sel.n_queries == n
    ref = cls(budget=10).select(np.zeros((n, 1)), P)
    np.testing.assert_array_equal(sel.indices, ref.indices)
    assert np.all(np.diff(sel.gains) <= 1e-12)


def test_uncertainty_accepts_tiny_rounding():
    P = np.array([[1 + 5e-7, -5e-7], [0.5, 0.5 + 5e-5]])
    sel = Entropy(budget=1).select(np.zeros((2, 1)), P)
    assert sel.indices.tolist() == [1]
    assert np.all(np.isfinite(sel.gains))


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

_ALL = [
    lambda b: Uniform(budget=b, seed=0),
    lambda b: KCenterGreedy(budget=b, seed=0),
    lambda b: Margin(budget=b),
    lambda b: Entropy(budget=b),
    lambda b: LeastConfidence(budget=b),
]
_P10 = np.full((10, 2), 0.5)


@pytest.mark.parametrize("make", _ALL)
def test_budget_too_large(make):
    sel = make(12)
    name = type(sel).__name__
    msg = f"The 'budget' parameter of {name} must be an int in [1, n] (n=10). Got 12 instead."
    with pytest.raises(ValueError) as info:
        sel.select(np.zeros((10, 2)), _P10)
    assert str(info.value) == msg


@pytest.mark.parametrize("make", _ALL)
def test_budget_zero(make):
    with pytest.raises(ValueError, match="'budget'"):
        make(0).select(np.zeros((10, 2)), _P10)


@pytest.mark.parametrize("make", _ALL)
def test_budget_float_is_type_error(make):
    with pytest.raises(TypeError, match="'budget'"):
        make(2.5).select(np.zeros((10, 2)), _P10)


@pytest.mark.parametrize("make", _ALL)
def test_nan_in_X(make):
    X = np.zeros((10, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="'X'.*NaN"):
        make(2).select(X, _P10)


@pytest.mark.parametrize("cls", [Margin, Entropy, LeastConfidence])
@pytest.mark.parametrize(
    "P",
    [
        np.full((9, 2), 0.5),  # wrong n
        np.ones((10, 1)),  # one class
        np.full(10, 0.5),  # 1-d
        np.full((10, 2), 0.6),  # rows sum to 1.2
        np.tile([1.2, -0.2], (10, 1)),  # negative / > 1
        np.tile([np.nan, 0.5], (10, 1)),  # NaN
    ],
)
def test_bad_probabilities(cls, P):
    with pytest.raises(ValueError, match="'oracle'"):
        cls(budget=2).select(np.zeros((10, 2)), P)


@pytest.mark.parametrize("cls", [Margin, Entropy, LeastConfidence])
def test_bad_probabilities_from_callable(cls):
    with pytest.raises(ValueError, match="'oracle'.*sum to 1"):
        cls(budget=2).select(np.zeros((10, 2)), lambda idx: np.full((len(idx), 2), 0.4))


def test_missing_oracle():
    with pytest.raises(TypeError, match="'oracle'"):
        Margin(budget=2).select(np.zeros((10, 2)))


@pytest.mark.parametrize(
    ("initial", "exc", "match"),
    [
        ([0, 10], ValueError, "'initial'.*range"),
        ([-1], ValueError, "'initial'.*range"),
        ([2, 2], ValueError, "'initial'.*distinct"),
        ([0.5, 1.0], TypeError, "'initial'"),
        ([[0, 1]], ValueError, "'initial'"),
    ],
)
def test_kcenter_bad_initial(initial, exc, match):
    with pytest.raises(exc, match=match):
        KCenterGreedy(budget=2, initial=initial).select(np.zeros((10, 2)))


def test_kcenter_budget_beyond_unselected():
    with pytest.raises(ValueError, match=r"'budget'.*n - len\(initial\)"):
        KCenterGreedy(budget=9, initial=[0, 1]).select(_points(10, 2, 0))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"chunk_size": 0}, ValueError, "'chunk_size'"),
        ({"chunk_size": 1.5}, TypeError, "'chunk_size'"),
        ({"metric": "cosine"}, ValueError, "'metric'"),
        ({"seed": -1}, ValueError, "'seed'"),
        ({"progress": "yes"}, TypeError, "'progress'"),
    ],
)
def test_kcenter_bad_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        KCenterGreedy(budget=2, **kwargs).select(np.zeros((10, 2)))


def test_constructor_stores_arguments_as_given():
    initial = [1, 2]
    sel = KCenterGreedy(budget="bad", initial=initial, metric="nope", chunk_size=-3)
    assert sel.budget == "bad" and sel.initial is initial
    assert sel.metric == "nope" and sel.chunk_size == -3
    with pytest.raises(TypeError):
        Uniform(5)  # keyword-only


# --------------------------------------------------------------------------------------------------
# k-center greedy: precision (issue 9, items 2 and 3)
# --------------------------------------------------------------------------------------------------


def _exact_farthest_first(X: np.ndarray, first: int, budget: int):
    """Farthest-first in float64 from the differences: the picks and the final radius."""
    X = X.astype(np.float64)
    best = np.linalg.norm(X - X[first], axis=1)
    best[first] = -1.0
    picks = [first]
    while len(picks) < budget:
        j = int(np.argmax(best))
        picks.append(j)
        best = np.minimum(best, np.linalg.norm(X - X[j], axis=1))
        best[j] = -1.0
    return np.array(picks), max(float(best.max()), 0.0)


@pytest.mark.parametrize("d", [8, 32])
@pytest.mark.parametrize("offset", [1e4, 100.0])
def test_kcenter_float32_with_an_offset_is_exact_farthest_first(offset, d):
    """float32 points around a common offset: the norm expansion cancelled (at 1e4 the radius
    read 0.0 and 21 of 200 picks agreed with exact farthest-first; at 100 the order changed from
    step 2-53). Every pick and the radius now match float64 farthest-first on the same data."""
    X = (np.random.default_rng(0).normal(size=(2000, d)) + offset).astype(np.float32)
    sel = KCenterGreedy(budget=200, seed=0).select(X)
    picks, radius = _exact_farthest_first(X, int(sel.indices[0]), 200)
    np.testing.assert_array_equal(sel.indices, picks)
    assert sel.extra["radius"] == pytest.approx(radius, rel=1e-6)
    Xd = X.astype(np.float64)
    for j in (1, 50, 199):  # the gain is the radius of the centres before the pick
        before = np.min([np.linalg.norm(Xd - Xd[c], axis=1) for c in picks[:j]], axis=0)
        assert sel.gains[j] == pytest.approx(before.max(), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kcenter_duplicates_leave_radius_exactly_zero(dtype):
    """50 distinct points, 3 copies each: 50 centres cover everything at radius 0 (the norm
    expansion reported 3.4e-7 in float64)."""
    P = np.random.default_rng(1).normal(size=(50, 16)) * 3 + 1
    X = np.repeat(P, 3, axis=0).astype(dtype)
    sel = KCenterGreedy(budget=50, seed=0).select(X)
    assert len(np.unique(sel.indices // 3)) == 50
    assert sel.extra["radius"] == 0.0


@pytest.mark.parametrize(("dtype", "scale"), [(np.float32, 3e19), (np.float64, 1e155)])
def test_kcenter_huge_values_are_refused_with_the_fix(dtype, scale):
    """Squared distances overflow: inf gains and arbitrary picks before; a clear error now."""
    X = (np.random.default_rng(0).normal(size=(200, 4)) * scale).astype(dtype)
    with pytest.raises(
        ValueError, match=r"Input 'X' of KCenterGreedy.select holds values up to .*rescale"
    ):
        KCenterGreedy(budget=20, seed=0).select(X)
    sel = KCenterGreedy(budget=20, seed=0).select(X / np.abs(X).max())
    assert np.isfinite(sel.gains[1:]).all() and np.unique(sel.indices).size == 20


@pytest.mark.parametrize("make", _ALL)
def test_complex_input_is_refused(make):
    """numpy would keep the real part silently."""
    with pytest.raises(TypeError, match="Input 'X' of .* must be real; got complex"):
        make(2).select(np.ones((10, 2)) * (1 + 1j), _P10)


@pytest.mark.parametrize("cls", [Margin, Entropy, LeastConfidence])
def test_complex_probabilities_are_refused(cls):
    with pytest.raises(TypeError, match="Input 'oracle' of .* must be real; got complex"):
        cls(budget=2).select(np.zeros((10, 2)), _P10 * (1 + 0j))
