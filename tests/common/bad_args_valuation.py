"""Bad-input specs for the public callables of ``subsel.valuation`` (see ``bad_inputs.py``)."""

from __future__ import annotations

import numpy as np
import torch

from subsel import valuation
from tests.common.bad_inputs import CallSpec

N, M = 5, 3


def _dist(rows, cols, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(rows, cols, generator=g, dtype=torch.float64)


def _new_new():
    d = _dist(N, N, 1)
    return (d + d.T).fill_diagonal_(0.0)


SPECS: list[CallSpec] = [
    CallSpec(
        "FacilityLocationLP",
        lambda: {
            "budget_fraction": 0.4,
            "xi": 0.9,
            "solver": "native",
            "relaxation": "budget",
            "smoothing": 0.01,
            "tol": 1e-7,
            "max_iter": 100,
        },
        lambda **kw: valuation.FacilityLocationLP(**kw)(_dist(N, M, 0), _new_new()),
        {
            "budget_fraction": "pos_real",
            "xi": "pos_real",
            "solver": "choice",
            "relaxation": "choice",
            "smoothing": "pos_real",
            "tol": "pos_real",
            "max_iter": "pos_int",
        },
    ),
    CallSpec(
        "FacilityLocationLP.__call__",
        lambda: {"d_new_old": _dist(N, M, 0), "d_new_new": _new_new(), "return_all": False},
        lambda **kw: valuation.FacilityLocationLP(0.4)(
            kw.pop("d_new_old"), kw.pop("d_new_new"), **kw
        ),
        {"d_new_old": f"tensor({N}, {M})", "d_new_new": f"tensor({N}, {N})", "return_all": "flag"},
        skip={"d_new_old:empty": "m = 0 old points is valid (the first minibatch has none)"},
    ),
]


# the metrics: 8 points, two features, two classes, two flipped labels
def _metric_data():
    rng = np.random.default_rng(0)
    return {
        "v": rng.random(8),
        "X": rng.normal(size=(8, 2)),
        "y": np.array([0, 1] * 4),
        "flipped": np.array([1, 0, 0, 0, 1, 0, 0, 0], bool),
    }


def _curve_spec(name):
    def valid():
        d = _metric_data()
        return {
            "values": d["v"],
            "X": d["X"],
            "y": d["y"],
            "X_test": d["X"],
            "y_test": d["y"],
            "fractions": (0.5,),
            "seed": 0,
            "progress": False,
        }

    return CallSpec(
        name,
        valid,
        lambda **kw: getattr(valuation, name)(**kw),
        {
            "values": "array(8)",
            "X": "array(8, 2)",
            "y": "array(8)",
            "X_test": "array(8, 2)",
            "y_test": "array(8)",
            "fractions": "array(2)",
            "seed": "seed",
            "progress": "flag",
        },
    )


def _ranking_spec(name, **extra):
    kinds = {"values": "array(8)", "flipped": "array(8)"}
    kinds.update({"k": "int"} if "k" in extra else {})
    kinds.update({"fractions": "real"} if "fractions" in extra else {})
    return CallSpec(
        name,
        lambda: {"values": _metric_data()["v"], "flipped": _metric_data()["flipped"], **extra},
        lambda **kw: getattr(valuation, name)(**kw),
        kinds,
    )


def _hostcp_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    return X, y


SPECS += [
    CallSpec(
        "HostCP",
        lambda: {
            "budget_fraction": 0.2,
            "xi": 0.9,
            "epochs": 1,
            "batch_size": 10,
            "max_old": 5,
            "lr": 0.05,
            "lr_phi": 1e-3,
            "relaxation": "budget",
            "selector_inputs": "features",
            "seed": 0,
            "progress": False,
        },
        lambda **kw: valuation.HostCP(**kw).fit(*_hostcp_data()),
        {
            "budget_fraction": "pos_real",
            "xi": "pos_real",
            "epochs": "pos_int",
            "batch_size": "pos_int",
            "max_old": "int",
            "lr": "pos_real",
            "lr_phi": "pos_real",
            "relaxation": "choice",
            "selector_inputs": "choice",
            "seed": "seed",
            "progress": "flag",
        },
    ),
    CallSpec(
        "HostCP.fit",
        lambda: {"X": _hostcp_data()[0], "y": _hostcp_data()[1]},
        lambda **kw: valuation.HostCP(epochs=1, batch_size=10, seed=0).fit(kw["X"], kw["y"]),
        {"X": "array(30, 3)", "y": "array(30)"},
    ),
    _curve_spec("addition_curve"),
    _curve_spec("removal_curve"),
    _ranking_spec("mislabel_detection", fractions=(0.5,)),
    _ranking_spec("ndcg_at_k", k=3),
    _ranking_spec("mislabel_auc"),
    _ranking_spec("mislabel_f1_2means"),
    CallSpec(
        "class_balance",
        lambda: {"selected": [0, 1], "y": _metric_data()["y"]},
        lambda **kw: valuation.class_balance(**kw),
        {"y": "array(8)"},
    ),
    CallSpec(
        "flip_labels",
        lambda: {"y": _metric_data()["y"], "fraction": 0.2, "seed": 0, "n_classes": None},
        lambda **kw: valuation.flip_labels(**kw),
        {"y": "array(8)", "fraction": "real", "seed": "seed", "n_classes": "pos_int"},
    ),
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "FacilityLPResult": "a result record the layer returns; users do not build it",
    "ValuationCurve": "a result record the curve functions return",
    "ClassBalance": "a result record class_balance returns",
}


def _fit_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    return {"X": X, "y": y, "X_val": X[:8], "y_val": y[:8]}


def _fit_spec(name, **settings):
    return CallSpec(
        f"{name}.fit",
        _fit_data,
        lambda **kw: getattr(valuation, name)(**settings).fit(**kw),
        {"X": "array(20, 3)", "y": "array(20)", "X_val": "array(8, 3)", "y_val": "array(8)"},
        skip={"X_val:empty": "checked: covered by the shape message of X_val"} if False else {},
    )


SPECS += [
    _fit_spec("RandomValuation", seed=0),
    _fit_spec("KNNShapley", k=3),
    _fit_spec("TMCShapley", max_iter=3, seed=0),
    _fit_spec("TracInCP", epochs=2, n_checkpoints=1, seed=0),
    _fit_spec("InfluenceFunction", method="direct"),
    _fit_spec("DVRL", n_iter=3, batch_size=8, seed=0),
]
