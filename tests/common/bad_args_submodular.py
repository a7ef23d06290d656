"""Bad-input specs for the public callables of ``subsel.submodular`` (see ``bad_inputs.py``).

Set functions are walked as "construct, then ``evaluate``" (the arguments of both in one spec);
the state API (``init_state``, ``gains``, ``update``) is walked on :class:`Modular`, as it is
shared by every function (``SetFunction`` holds it).
"""

from __future__ import annotations

import numpy as np

from subsel.submodular import (
    Coverage,
    FacilityLocation,
    FeatureBased,
    GraphCut,
    GroupCoverage,
    Mixture,
    Modular,
    SubmodularSelector,
    concave_function,
    maximize,
)
from tests.common.bad_inputs import CallSpec

EMPTY_SET = "an empty index array is the empty set (documented; f = 0, nothing initial)"


def _sym(n=5, seed=0):
    A = np.random.default_rng(seed).random((n, n))
    return (A + A.T) / 2


def _X(n=8, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _construct_evaluate(cls):
    """``cls(**ctor kwargs).evaluate(indices)``: the constructor takes every keyword but
    ``indices``."""

    def call(**kw):
        indices = kw.pop("indices")
        return cls(**kw).evaluate(indices)

    return call


def _selector(**kw):
    X = kw.pop("X")
    return SubmodularSelector(**kw).select(X)


def _modular_state_call(method):
    def call(**kw):
        f = Modular(np.arange(1.0, 6.0))
        if method == "init_state":
            return f.init_state(kw["initial"])
        state = kw.get("state", f.init_state([0]))
        if method == "gains":
            return f.gains(state, kw["candidates"])
        return f.update(state, kw["i"])

    return call


SPECS: list[CallSpec] = [
    # ----------------------------------------------------------------- facility location
    CallSpec(
        name="FacilityLocation",
        valid=lambda: dict(similarity=_sym(), symmetric=None, indices=np.array([0, 1])),
        call=_construct_evaluate(FacilityLocation),
        args={"similarity": "array(5, 5)", "symmetric": "flag", "indices": "array(2)"},
        skip={
            "symmetric:none": "None is the default: check the symmetry (documented)",
            "indices:empty": EMPTY_SET,
        },
    ),
    CallSpec(
        name="FacilityLocation.from_features",
        valid=lambda: dict(
            X=_X(),
            metric="euclidean",
            kernel="exp",
            gamma=0.5,
            n_neighbors=3,
            dtype=np.float64,
            backend="sklearn",
            ivf_nlist=2,
            ivf_nprobe=2,
            seed=0,
        ),
        call=lambda **kw: FacilityLocation.from_features(kw.pop("X"), **kw),
        args={
            "X": "array(8, 3)",
            "metric": "choice",
            "kernel": "choice",
            "gamma": "pos_real",
            "n_neighbors": "pos_int",
            "dtype": "choice",
            "backend": "choice",
            "ivf_nlist": "pos_int",
            "ivf_nprobe": "pos_int",
            "seed": "seed",
        },
    ),
    CallSpec(
        name="FacilityLocation.from_features[gamma real]",
        valid=lambda: dict(X=_X(), kernel="exp", gamma=0.5),
        call=lambda **kw: FacilityLocation.from_features(kw.pop("X"), **kw),
        args={"gamma": "real"},
    ),
    # ----------------------------------------------------------------- concave over modular
    CallSpec(
        name="FeatureBased",
        valid=lambda: dict(
            features=np.ones((5, 3)), concave="sqrt", weights=np.ones(3), indices=[0, 2]
        ),
        call=_construct_evaluate(FeatureBased),
        args={
            "features": "array(5, 3)",
            "concave": "choice",
            "weights": "array(3)",
            "indices": "array(2)",
        },
        skip={"indices:empty": EMPTY_SET},
    ),
    CallSpec(
        name="Coverage",
        valid=lambda: dict(incidence=np.ones((5, 3)), weights=np.ones(3), indices=[1]),
        call=_construct_evaluate(Coverage),
        args={"incidence": "array(5, 3)", "weights": "array(3)"},
    ),
    CallSpec(
        name="GroupCoverage",
        valid=lambda: dict(
            groups=np.ones((5, 3)), h="min1", weights=np.ones(3), n_groups=3, indices=[0]
        ),
        call=_construct_evaluate(GroupCoverage),
        args={
            "groups": "array(5, 3)",
            "h": "choice",
            "weights": "array(3)",
            "n_groups": "pos_int",
        },
    ),
    CallSpec(
        name="GroupCoverage[ids]",
        valid=lambda: dict(groups=[0, 1, [0, 2], []], n_groups=3, indices=[0]),
        call=_construct_evaluate(GroupCoverage),
        args={"groups": "int", "n_groups": "int"},
        skip={"n_groups:none": "None is the default: the largest id + 1 (documented)"},
    ),
    # ----------------------------------------------------------------- graph cut, modular, sums
    CallSpec(
        name="GraphCut",
        valid=lambda: dict(similarity=_sym(), lam=0.5, indices=[0, 3]),
        call=_construct_evaluate(GraphCut),
        args={"similarity": "array(5, 5)", "lam": "nonneg_real", "indices": "array(2)"},
        skip={"indices:empty": EMPTY_SET},
    ),
    CallSpec(
        name="GraphCut[lam real]",
        valid=lambda: dict(similarity=_sym(), lam=0.5, indices=[0, 3]),
        call=_construct_evaluate(GraphCut),
        args={"lam": "real"},
    ),
    CallSpec(
        name="Modular",
        valid=lambda: dict(weights=np.arange(1.0, 6.0), indices=[1, 2]),
        call=_construct_evaluate(Modular),
        args={"weights": "array(5)", "indices": "array(2)"},
        skip={"indices:empty": EMPTY_SET},
    ),
    CallSpec(
        name="Modular.init_state",
        valid=lambda: dict(initial=[1, 2]),
        call=_modular_state_call("init_state"),
        args={"initial": "array(2)"},
        skip={"initial:empty": EMPTY_SET},
    ),
    CallSpec(
        name="Modular.gains",
        valid=lambda: dict(candidates=np.array([1, 2])),
        call=_modular_state_call("gains"),
        args={"candidates": "array(2)", "state": "int"},
        skip={"candidates:empty": "no candidates, no gains: an empty array back (documented)"},
    ),
    CallSpec(
        name="Modular.update",
        valid=lambda: dict(i=3),
        call=_modular_state_call("update"),
        args={"i": "int"},
    ),
    CallSpec(
        name="Mixture",
        valid=lambda: dict(
            functions=[Modular(np.ones(5)), GraphCut(_sym(), lam=0.2)],
            weights=np.array([1.0, 0.5]),
            indices=[0],
        ),
        call=_construct_evaluate(Mixture),
        args={"functions": "int", "weights": "array(2)"},
    ),
    # ----------------------------------------------------------------- maximize
    CallSpec(
        name="maximize",
        valid=lambda: dict(
            function=Modular(np.arange(1.0, 6.0)),
            budget=2,
            optimizer="stochastic",
            seed=0,
            initial=[0, 4],
            progress=False,
            stochastic_epsilon=0.1,
        ),
        call=lambda **kw: maximize(kw.pop("function"), kw.pop("budget"), **kw),
        args={
            "function": "int",
            "budget": "int",
            "optimizer": "choice",
            "seed": "seed",
            "initial": "array(2)",
            "progress": "flag",
            "stochastic_epsilon": "pos_real",
        },
        skip={"initial:empty": EMPTY_SET},
    ),
    CallSpec(
        name="maximize[budget, epsilon]",
        valid=lambda: dict(function=Modular(np.ones(5)), budget=2, stochastic_epsilon=0.1),
        call=lambda **kw: maximize(kw.pop("function"), kw.pop("budget"), **kw),
        args={"budget": "pos_int", "stochastic_epsilon": "real"},
    ),
    CallSpec(
        name="maximize[costs]",
        valid=lambda: dict(function=Modular(np.ones(5)), budget=2.5, costs=np.ones(5)),
        call=lambda **kw: maximize(kw.pop("function"), kw.pop("budget"), **kw),
        args={"costs": "array(5)", "budget": "pos_real"},
    ),
    CallSpec(
        name="maximize[costs, real budget]",
        valid=lambda: dict(function=Modular(np.ones(5)), budget=2.5, costs=np.ones(5)),
        call=lambda **kw: maximize(kw.pop("function"), kw.pop("budget"), **kw),
        args={"budget": "real"},
    ),
    # ----------------------------------------------------------------- the selector
    CallSpec(
        name="SubmodularSelector",
        valid=lambda: dict(
            X=_X(n=12),
            budget=3,
            function="facility_location",
            metric="euclidean",
            kernel="shift",
            n_neighbors=4,
            backend="sklearn",
            optimizer="lazy",
            seed=0,
            concave="sqrt",
            lam=0.5,
            progress=False,
        ),
        call=_selector,
        args={
            "X": "array(12, 3)",
            "budget": "pos_int",
            "function": "choice",
            "metric": "choice",
            "kernel": "choice",
            "n_neighbors": "pos_int",
            "backend": "choice",
            "optimizer": "choice",
            "seed": "seed",
            "concave": "choice",
            "lam": "nonneg_real",
            "progress": "flag",
        },
    ),
    CallSpec(
        name="SubmodularSelector[ints, reals]",
        valid=lambda: dict(X=_X(n=12), budget=3, lam=0.5),
        call=_selector,
        args={"budget": "int", "lam": "real"},
    ),
    # ----------------------------------------------------------------- helpers
    CallSpec(
        name="concave_function",
        valid=lambda: dict(value="log1p", name="h", func="GroupCoverage"),
        call=concave_function,
        args={"value": "choice"},
        message_names={"value": "h"},
    ),
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "SetFunction": "abstract base class: its public methods (init_state, gains, update, "
    "evaluate) are walked on every concrete function (Modular.* specs, evaluate everywhere)",
    "SetState": "a state container made only by init_state, never built by users",
}
