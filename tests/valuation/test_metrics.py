"""subsel.valuation.metrics: hand-computed cases, independent references (scikit-learn's
roc_auc_score / ndcg_score / KMeans, brute-force 2-means), exact expectations under ties, the
flipped-labels protocol, the curves on a small synthetic set, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from subsel.valuation.metrics import (
    DEFAULT_CURVE_FRACTIONS,
    ClassBalance,
    ValuationCurve,
    addition_curve,
    class_balance,
    flip_labels,
    mislabel_auc,
    mislabel_detection,
    mislabel_f1_2means,
    ndcg_at_k,
    removal_curve,
)

sk_metrics = pytest.importorskip("sklearn.metrics")


def noisy_problem(n, fraction, seed, n_test=200):
    """Two Gaussian blobs 2.4 apart in 2-d, ``fraction`` of the training labels flipped."""
    rng = np.random.default_rng(seed)
    mu = np.array([[1.2, 0.0], [-1.2, 0.0]])
    y = rng.integers(0, 2, n)
    X = mu[y] + rng.normal(size=(n, 2))
    y_test = rng.integers(0, 2, n_test)
    X_test = mu[y_test] + rng.normal(size=(n_test, 2))
    y_noisy, flipped = flip_labels(y, fraction, seed=seed)
    return X, y_noisy, flipped, X_test, y_test


# ---------------------------------------------------------------------------------------------
# NDCG@k
# ---------------------------------------------------------------------------------------------
def test_ndcg_by_hand():
    values = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    flipped = np.array([0, 1, 1, 0, 0])
    # ascending: 0 (clean), 2 (flipped), 4 (clean), 1 (flipped), 3 (clean)
    d = 1 / np.log2(np.arange(2, 7))
    assert ndcg_at_k(values, flipped, 1) == 0.0
    assert ndcg_at_k(values, flipped, 3) == pytest.approx(d[1] / (d[0] + d[1]), abs=1e-15)
    assert ndcg_at_k(values, flipped, 5) == pytest.approx((d[1] + d[3]) / (d[0] + d[1]))


@pytest.mark.parametrize("k", [1, 3, 7, 20])
def test_ndcg_perfect_ranking_is_one(k):
    flipped = np.zeros(20, dtype=bool)
    flipped[[2, 5, 11, 17]] = True
    values = np.where(flipped, -1.0, 1.0) + np.linspace(0, 0.1, 20)
    assert ndcg_at_k(values, flipped, k) == pytest.approx(1.0, abs=1e-15)
    assert ndcg_at_k(-values, flipped, 4) == 0.0  # the flipped points last, none in the top 4


@pytest.mark.parametrize("seed", range(4))
def test_ndcg_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, 40).astype(float)  # many ties
    flipped = rng.random(40) < 0.2
    flipped[0] = True
    for k in (1, 4, 10, 40):
        ref = sk_metrics.ndcg_score(flipped[None].astype(float), -values[None], k=k)
        assert ndcg_at_k(values, flipped, k) == pytest.approx(ref, abs=1e-12)


def test_ndcg_constant_values_equal_the_random_ranking_expectation():
    n, k = 60, 12
    flipped = np.zeros(n, dtype=bool)
    flipped[:6] = True
    d = 1 / np.log2(np.arange(2, k + 2))
    expected = (6 / n) * d.sum() / d[:6].sum()
    assert ndcg_at_k(np.zeros(n), flipped, k) == pytest.approx(expected, rel=1e-12)
    # Monte Carlo over random valuations: mean within 6 standard errors of the expectation
    rng = np.random.default_rng(0)
    draws = np.array([ndcg_at_k(rng.random(n), flipped, k) for _ in range(400)])
    assert abs(draws.mean() - expected) < 6 * draws.std() / np.sqrt(draws.size)


# ---------------------------------------------------------------------------------------------
# mislabel detection, AUC, 2-means F1
# ---------------------------------------------------------------------------------------------
def test_detection_perfect_reverse_and_constant_rankings():
    n = 50
    flipped = np.zeros(n, dtype=bool)
    flipped[np.arange(0, n, 5)] = True  # 10 flipped
    fractions = (0.1, 0.2, 0.4, 0.8, 1.0)
    m = np.array(fractions) * n
    perfect = mislabel_detection(np.where(flipped, 0.0, 1.0), flipped, fractions=fractions)
    np.testing.assert_allclose(perfect, np.minimum(1, m / 10), atol=1e-15)
    reverse = mislabel_detection(np.where(flipped, 1.0, 0.0), flipped, fractions=fractions)
    np.testing.assert_allclose(reverse, np.maximum(0, (m - 40) / 10), atol=1e-15)
    # a constant valuation: exactly what random inspection finds on average
    constant = mislabel_detection(np.ones(n), flipped, fractions=fractions)
    np.testing.assert_allclose(constant, m / n, atol=1e-15)


def test_detection_by_hand_and_default_fractions():
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    flipped = np.array([True, False, True, False, False])
    # inspecting the lowest 2 (values 1, 2) finds none; the lowest 3 add the value 3: one of two
    np.testing.assert_allclose(mislabel_detection(values, flipped, fractions=[0.4, 0.6]), [0, 0.5])
    assert mislabel_detection(np.arange(10.0), np.arange(10) < 2).shape == (4,)


@pytest.mark.parametrize("seed", range(4))
def test_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=80)
    values[:20] = np.round(values[:20])  # some ties
    flipped = rng.random(80) < 0.15
    flipped[:2] = [True, False]
    ref = sk_metrics.roc_auc_score(flipped, -values)
    assert mislabel_auc(values, flipped) == pytest.approx(ref, abs=1e-12)


def test_auc_extremes():
    flipped = np.array([1, 0, 0, 1, 0], dtype=bool)
    assert mislabel_auc(np.where(flipped, -1.0, 1.0), flipped) == 1.0
    assert mislabel_auc(np.where(flipped, 1.0, -1.0), flipped) == 0.0
    assert mislabel_auc(np.zeros(5), flipped) == 0.5


def brute_force_2means_f1(values, flipped):
    """Global 2-means over all 2^n - 2 bipartitions; the lower-mean cluster predicted flipped."""
    n = values.size
    best, best_low = np.inf, None
    for bits in itertools.product([False, True], repeat=n):
        a = np.array(bits)
        if a.all() or not a.any():
            continue
        sse = ((values[a] - values[a].mean()) ** 2).sum()
        sse += ((values[~a] - values[~a].mean()) ** 2).sum()
        if sse < best - 1e-12:
            best = sse
            best_low = a if values[a].mean() < values[~a].mean() else ~a
    tp = (best_low & flipped).sum()
    return 2 * tp / (best_low.sum() + flipped.sum())


@pytest.mark.parametrize("seed", range(3))
def test_f1_2means_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=10)
    flipped = rng.random(10) < 0.3
    flipped[0] = True
    assert mislabel_f1_2means(values, flipped) == pytest.approx(
        brute_force_2means_f1(values, flipped), abs=1e-12
    )


def test_f1_2means_against_sklearn_kmeans():
    cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(-1, 0.6, 30), rng.normal(1, 0.6, 170)])
    flipped = rng.random(200) < 0.15
    km = cluster.KMeans(n_clusters=2, n_init=10, random_state=0).fit(values[:, None])
    low = km.labels_ == np.argmin(km.cluster_centers_[:, 0])
    ref = sk_metrics.f1_score(flipped, low)
    assert mislabel_f1_2means(values, flipped) == pytest.approx(ref, abs=1e-12)


def test_f1_2means_separable_and_constant():
    rng = np.random.default_rng(0)
    flipped = rng.random(100) < 0.1
    values = np.where(flipped, -5.0, 5.0) + rng.normal(0, 0.1, 100)
    assert mislabel_f1_2means(values, flipped) == 1.0
    assert mislabel_f1_2means(np.full(100, 2.0), flipped) == 0.0  # no split: nothing predicted


# ---------------------------------------------------------------------------------------------
# class balance
# ---------------------------------------------------------------------------------------------
def test_class_balance_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    cb = class_balance([0, 1, 3, 5], y)
    assert isinstance(cb, ClassBalance)
    np.testing.assert_array_equal(cb.classes, [0, 1, 2])
    np.testing.assert_array_equal(cb.counts, [2, 1, 1])
    np.testing.assert_allclose(cb.shares, [0.5, 0.25, 0.25])
    np.testing.assert_allclose(cb.population_shares, [0.3, 0.2, 0.5])
    h = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert cb.entropy == pytest.approx(h)
    assert cb.normalized_entropy == pytest.approx(h / np.log(3))
    assert cb.max_min_ratio == 2.0
    # a mask works the same; a missing class gives an infinite ratio and a zero count
    mask = np.zeros(10, dtype=bool)
    mask[[5, 6, 7]] = True
    cb = class_balance(mask, y)
    np.testing.assert_array_equal(cb.counts, [0, 0, 3])
    assert cb.entropy == 0.0 and cb.max_min_ratio == np.inf
    balanced = class_balance([0, 3, 5], y)
    assert balanced.normalized_entropy == pytest.approx(1.0) and balanced.max_min_ratio == 1.0
    assert balanced.to_dict()["counts"] == [1, 1, 1]


# ---------------------------------------------------------------------------------------------
# flip_labels
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "fraction", "C"), [(100, 0.1, 10), (37, 0.15, 2), (25, 0.5, 3)])
def test_flip_labels_protocol(n, fraction, C):
    y = np.arange(n) % C
    y_noisy, flipped = flip_labels(y, fraction, seed=3)
    assert flipped.dtype == bool and flipped.sum() == round(fraction * n)
    np.testing.assert_array_equal(y_noisy != y, flipped)  # every flip changes the class
    np.testing.assert_array_equal(y_noisy[~flipped], y[~flipped])
    assert set(np.unique(y_noisy)) <= set(range(C))
    again = flip_labels(y, fraction, seed=3)
    np.testing.assert_array_equal(again[0], y_noisy)
    np.testing.assert_array_equal(again[1], flipped)
    other = flip_labels(y, fraction, seed=4)
    assert not np.array_equal(other[1], flipped) or not np.array_equal(other[0], y_noisy)


def test_flip_labels_target_class_is_uniform_over_the_others():
    # 4000 flips of class 0 among 4 classes: each other class has p = 1/3; 6-sigma band
    y = np.zeros(4000, dtype=int)
    y_noisy, flipped = flip_labels(y, 1.0, seed=0, n_classes=4)
    assert flipped.all()
    counts = np.bincount(y_noisy, minlength=4)
    assert counts[0] == 0
    sigma = np.sqrt(4000 * (1 / 3) * (2 / 3))
    assert np.all(np.abs(counts[1:] - 4000 / 3) < 6 * sigma)


def test_flip_labels_uses_the_classes_present_and_fraction_zero():
    y = np.array([3, 7, 3, 7, 9, 9])
    y_noisy, flipped = flip_labels(y, 1.0, seed=1)
    assert set(np.unique(y_noisy)) <= {3, 7, 9} and (y_noisy != y).all()
    y_noisy, flipped = flip_labels(y, 0.0, seed=1)
    assert not flipped.any() and np.array_equal(y_noisy, y)


# ---------------------------------------------------------------------------------------------
# addition / removal curves
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noisy():
    return noisy_problem(200, 0.4, seed=0)


def test_curves_shape_and_oracle_beats_random(noisy):
    X, y, flipped, X_test, y_test = noisy
    oracle = np.where(flipped, 0.0, 1.0)
    random_values = np.random.default_rng(100).random(y.size)
    add_o = addition_curve(oracle, X, y, X_test, y_test, seed=0)
    add_r = addition_curve(random_values, X, y, X_test, y_test, seed=0)
    assert isinstance(add_o, ValuationCurve) and add_o.kind == "addition"
    F = len(DEFAULT_CURVE_FRACTIONS)
    assert add_o.accuracies.shape == add_o.fractions.shape == add_o.n_train.shape == (F,)
    np.testing.assert_array_equal(add_o.n_train, [round(f * 200) for f in DEFAULT_CURVE_FRACTIONS])
    assert np.all((add_o.accuracies >= 0) & (add_o.accuracies <= 1))
    # clean-only training sets vs 40%-noisy ones (measured gap 0.24 at this seed, >= 0.04 over 8)
    assert add_o.accuracies.mean() > add_r.accuracies.mean() + 0.02
    # removing the 80% top (all clean) points leaves a flipped majority: accuracy below chance
    rem_o = removal_curve(oracle, X, y, X_test, y_test, fractions=(0.8,), seed=0)
    rem_r = removal_curve(random_values, X, y, X_test, y_test, fractions=(0.8,), seed=0)
    assert rem_o.n_train.tolist() == [40] and rem_o.kind == "removal"
    assert rem_o.accuracies[0] < 0.5 < rem_r.accuracies[0]
    assert add_o.to_dict()["accuracies"] == add_o.accuracies.tolist()


def test_curve_single_class_subset_predicts_that_class():
    X = np.arange(10.0)[:, None]
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    values = np.array([9.0, 8, 7, 1, 1, 1, 0, 0, 0, 0])  # the top 3 are all class 0
    X_test = np.array([[0.0], [4.0], [8.0], [9.0]])
    y_test = np.array([0, 1, 2, 0])
    add = addition_curve(values, X, y, X_test, y_test, fractions=(0.1, 0.3))
    np.testing.assert_array_equal(add.n_classes_seen, [1, 1])
    np.testing.assert_allclose(add.accuracies, [0.5, 0.5])  # constant class 0: 2 of 4 right
    # removing the 7 top points leaves class 2 only
    rem = removal_curve(values, X, y, X_test, y_test, fractions=0.7)
    assert rem.n_classes_seen[0] == 1 and rem.accuracies[0] == 0.25


def test_curve_subset_missing_a_class_does_not_crash():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    X = rng.normal(size=(30, 2)) + 4 * np.eye(3)[y][:, :2]
    values = np.where(y == 2, 0.0, 1.0)  # the top 20 are classes 0 and 1
    curve = addition_curve(values, X, y, X, y, fractions=(2 / 3,), seed=0)
    assert curve.n_classes_seen[0] == 2
    assert curve.accuracies[0] <= 2 / 3 + 1e-12  # class 2 is never predicted


def test_curve_seed_reproducible_with_random_model_and_ties():
    ensemble = pytest.importorskip("sklearn.ensemble")
    X, y, flipped, X_test, y_test = noisy_problem(60, 0.1, seed=1, n_test=50)
    model = ensemble.RandomForestClassifier(n_estimators=3)
    values = np.zeros(60)  # all tied: the seed decides the subset
    a = addition_curve(values, X, y, X_test, y_test, fractions=(0.3, 0.6), model=model, seed=5)
    b = addition_curve(values, X, y, X_test, y_test, fractions=(0.3, 0.6), model=model, seed=5)
    np.testing.assert_array_equal(a.accuracies, b.accuracies)
    assert model.get_params()["random_state"] is None  # the caller's model is not touched
    # the progress bar changes nothing but the display
    c = addition_curve(
        values, X, y, X_test, y_test, fractions=(0.3, 0.6), model=model, seed=5, progress=True
    )
    np.testing.assert_array_equal(c.accuracies, a.accuracies)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors():
    v = np.arange(5.0)
    f = np.array([1, 0, 0, 0, 0], dtype=bool)
    with pytest.raises(ValueError, match=r"Input 'values' of ndcg_at_k contains NaN at 1 pos"):
        ndcg_at_k(np.array([0, np.nan, 1, 2, 3]), f, 2)
    with pytest.raises(ValueError, match=r"'flipped' of mislabel_auc must have shape \(5,\)"):
        mislabel_auc(v, f[:4])
    with pytest.raises(ValueError, match=r"The 'k' parameter of ndcg_at_k must be an int in \[1"):
        ndcg_at_k(v, f, 0)
    with pytest.raises(ValueError, match=r"'k' parameter of ndcg_at_k .* \(n=5\)\. Got 6"):
        ndcg_at_k(v, f, 6)
    with pytest.raises(TypeError, match="'k' parameter"):
        ndcg_at_k(v, f, 2.5)
    for bad in (0.0, 1.5, (0.2, -0.1), (), "0.2", float("nan")):
        with pytest.raises((ValueError, TypeError), match=r"'fractions' parameter .* \(0, 1\]"):
            mislabel_detection(v, f, fractions=bad)
    with pytest.raises(ValueError, match="must hold only booleans or 0/1"):
        mislabel_detection(v, [0, 2, 0, 0, 0])
    with pytest.raises(ValueError, match="marks no point as flipped"):
        mislabel_f1_2means(v, np.zeros(5))
    with pytest.raises(ValueError, match="marks every point as flipped"):
        mislabel_auc(v, np.ones(5))
    with pytest.raises(ValueError, match=r"'fraction' parameter of flip_labels .*\[0, 1\]"):
        flip_labels([0, 1, 0], 1.2)
    with pytest.raises(ValueError, match="holds a single class"):
        flip_labels([1, 1, 1], 0.5)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\] \(n_classes=3\)"):
        flip_labels([0, 1, 5], 0.5, n_classes=3)
    with pytest.raises(TypeError, match="'seed' parameter of flip_labels"):
        flip_labels([0, 1, 0], 0.5, seed="a")
    with pytest.raises(TypeError, match="integer class labels"):
        flip_labels([0.5, 1, 0], 0.5)
    with pytest.raises(TypeError, match="Input 'y' of flip_labels"):
        flip_labels(np.array(["a", "b"]), 0.5)
    with pytest.raises(ValueError, match=r"Input 'selected' of class_balance .* out of range"):
        class_balance([0, 9], [0, 1, 1])
    with pytest.raises(ValueError, match="'selected' of class_balance is empty"):
        class_balance([], [0, 1, 1])


def test_curve_bad_inputs_give_clear_errors():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array([0, 1, 0, 1, 0, 1])
    v = np.arange(6.0)
    with pytest.raises(ValueError, match=r"'y_test' of addition_curve holds labels never seen"):
        addition_curve(v, X, y, X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match=r"Input 'values' of removal_curve must have shape \(6,"):
        removal_curve(v[:5], X, y, X, y)
    with pytest.raises(ValueError, match=r"Input 'y' of addition_curve must have shape \(6,\)"):
        addition_curve(v, X, y[:4], X, y)
    with pytest.raises(ValueError, match=r"'X_test' of addition_curve must have the 2 columns"):
        addition_curve(v, X, y, X[:, :1], y)
    with pytest.raises(ValueError, match="leaves at least one training point"):
        removal_curve(v, X, y, X, y, fractions=(0.5, 1.0))
    with pytest.raises(ValueError, match=r"'fractions' parameter of addition_curve"):
        addition_curve(v, X, y, X, y, fractions=(0.0,))
    with pytest.raises(TypeError, match="'model' parameter of addition_curve"):
        addition_curve(v, X, y, X, y, model="logreg")
    with pytest.raises(TypeError, match="'progress' parameter"):
        addition_curve(v, X, y, X, y, progress=1)
