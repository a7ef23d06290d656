"""SubmodularSelector: fit / transform / ranking_, parameters, errors; the package's public names."""

from __future__ import annotations

import numpy as np
import pytest

import subsel.submodular as sm
from subsel.submodular import FacilityLocation, FeatureBased, GraphCut, SubmodularSelector, maximize


def _X(n=120, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_fit_transform_and_ranking_match_maximize():
    X = _X()
    sel = SubmodularSelector(12)
    assert sel.fit(X) is sel
    want = maximize(FacilityLocation.from_features(X), 12)
    np.testing.assert_array_equal(sel.ranking_, want.indices)
    np.testing.assert_allclose(sel.gains_, want.gains)
    np.testing.assert_array_equal(sel.transform(X), X[want.indices])
    np.testing.assert_array_equal(SubmodularSelector(12).fit_transform(X), X[want.indices])
    assert sel.selection_.extra["optimizer"] == "lazy"
    assert len(set(sel.ranking_.tolist())) == 12


@pytest.mark.parametrize(
    ("params", "build"),
    [
        ({"n_neighbors": 10}, lambda X: FacilityLocation.from_features(X, n_neighbors=10)),
        (
            {"function": "feature_based", "concave": "log1p"},
            lambda X: FeatureBased(np.abs(X), concave="log1p"),
        ),
        (
            {"function": "graph_cut", "lam": 0.3},
            lambda X: GraphCut(FacilityLocation.from_features(X).similarity, lam=0.3),
        ),
        (
            {"metric": "cosine", "kernel": "exp"},
            lambda X: FacilityLocation.from_features(X, metric="cosine", kernel="exp"),
        ),
    ],
)
def test_function_choices(params, build):
    X = np.abs(_X(seed=1))
    sel = SubmodularSelector(8, **params).fit(X)
    np.testing.assert_array_equal(sel.ranking_, maximize(build(X), 8).indices)


def test_stochastic_seed_reproducible():
    X = _X(n=300)
    a = SubmodularSelector(10, optimizer="stochastic", seed=3).fit(X).ranking_
    b = SubmodularSelector(10, optimizer="stochastic", seed=3).fit(X).ranking_
    np.testing.assert_array_equal(a, b)


def test_params_are_stored_as_given_and_validated_in_fit():
    sel = SubmodularSelector(0, optimizer="nope")  # no error before fit
    assert sel.get_params()["budget"] == 0 and sel.get_params()["optimizer"] == "nope"
    with pytest.raises(ValueError, match="'budget' parameter of SubmodularSelector"):
        sel.fit(_X())
    sel.set_params(budget=3)
    with pytest.raises(ValueError, match="'optimizer' parameter of SubmodularSelector"):
        sel.fit(_X())
    with pytest.raises(
        ValueError, match="'params' parameter of SubmodularSelector.set_params.*Got 'k'"
    ):
        sel.set_params(k=3)
    assert "optimizer='nope'" in repr(sel)
    with pytest.raises(ValueError, match="'function' parameter"):
        SubmodularSelector(3, function="log_det").fit(_X())
    with pytest.raises(ValueError, match="'budget'.*\\(n=120\\)"):
        SubmodularSelector(121).fit(_X())
    with pytest.raises(ValueError, match="'features' of FeatureBased must be >= 0"):
        SubmodularSelector(3, function="feature_based").fit(_X())


def test_transform_needs_fit_and_the_same_rows():
    X = _X()
    with pytest.raises(ValueError, match="not fitted"):
        SubmodularSelector(3).transform(X)
    sel = SubmodularSelector(3).fit(X)
    with pytest.raises(ValueError, match="120 rows"):
        sel.transform(X[:50])


def test_public_names():
    for name in sm.__all__:
        assert hasattr(sm, name), name
    assert {"FacilityLocation", "FeatureBased", "GraphCut", "GroupCoverage", "maximize"} <= set(
        sm.__all__
    )
