"""One selector protocol: settings stored as given, get_params / set_params, sklearn's clone."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from subsel.selection import (
    Entropy,
    KCenterGreedy,
    LeastConfidence,
    LeverageScoreSampling,
    Margin,
    RegressionSensitivitySampling,
    SensitivitySampling,
    Uniform,
)
from subsel.submodular import FacilityLocation, SubmodularSelector, maximize

SELECTORS = [
    Uniform(budget=5, seed=1),
    KCenterGreedy(budget=5, seed=2, initial=[0, 3]),
    Margin(budget=4),
    Entropy(budget=4),
    LeastConfidence(budget=4),
    LeverageScoreSampling(budget=6, method="sketch", seed=3),
    RegressionSensitivitySampling(n_clusters=4, budget=6, zeta=2.0, seed=4),
    SensitivitySampling(n_clusters=4, budget=6, lam=0.5, seed=5),
    SubmodularSelector(5, function="graph_cut", lam=0.25),
]


@pytest.mark.parametrize("selector", SELECTORS, ids=lambda s: type(s).__name__)
def test_clone_round_trips_every_setting(selector):
    copy = clone(selector)
    assert type(copy) is type(selector) and copy is not selector
    assert copy.get_params() == selector.get_params()
    assert repr(copy) == repr(selector)


@pytest.mark.parametrize("selector", SELECTORS, ids=lambda s: type(s).__name__)
def test_set_params_changes_the_setting_and_refuses_unknown_names(selector):
    s = clone(selector)
    s.set_params(budget=3)
    assert s.get_params()["budget"] == 3 and s.budget == 3
    with pytest.raises(ValueError, match=r"'params' parameter of \w+\.set_params.*Got 'k'"):
        s.set_params(k=3)


def test_submodular_selector_budget_and_its_alias_n_select():
    X = np.random.default_rng(0).normal(size=(60, 4))
    a = SubmodularSelector(budget=7).select(X)
    b = SubmodularSelector(n_select=7).select(X)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(a) == 7
    with pytest.raises(ValueError, match="'n_select' parameter of SubmodularSelector"):
        SubmodularSelector(7, n_select=7).select(X)


def test_maximize_initial_and_its_alias_initial_subset():
    X = np.random.default_rng(1).normal(size=(40, 3))
    f = FacilityLocation.from_features(X)
    a = maximize(f, 5, initial=[1, 2])
    b = maximize(f, 5, initial_subset=[1, 2])
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.extra["initial"] == [1, 2] and not set(a.indices.tolist()) & {1, 2}
    with pytest.raises(ValueError, match="'initial_subset' parameter of maximize"):
        maximize(f, 5, initial=[1], initial_subset=[2])
