"""Bad-input specs for the public callables of ``subsel.selection`` (see ``bad_inputs.py``).

Selectors are walked through their constructor arguments and ``select``'s inputs (the
constructor stores, ``select`` validates); a second spec per selector (``Name[ranges]``) walks
the value ranges that a kind's generic bad values do not reach (``z >= 1``, ``lam >= 0``, ...).
"""

from __future__ import annotations

import numpy as np

from subsel import selection as S
from subsel.result import Selection
from tests.common.bad_inputs import CallSpec


def _X(n=30, d=2):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)) + 4.0 * rng.integers(0, 3, size=(n, 1))


def _losses(idx):
    return np.ones(len(idx))


def _ctor_select(cls, inputs=("X", "oracle")):
    """``cls(**params).select(*inputs)``: the keyword arguments named in ``inputs`` go to
    ``select``, the rest to the constructor."""

    def call(**kw):
        args = [kw.pop(name) for name in inputs if name in kw]
        return cls(**kw).select(*args)

    return call


def _sensitivity():
    return {"X": _X(), "oracle": _losses, "n_clusters": 3, "budget": 10, "z": 2.0, "lam": 1.0,
            "rounds": 1, "seed": 0, "progress": False, "backend": "auto"}  # fmt: skip


def _protocol():
    E = _X()
    return {"n": 30, "budget": 6, "train": lambda idx: None, "embed": lambda m: E,
            "oracle": lambda m: _losses, "warm_fraction": 0.2, "cluster_fraction": 0.2,
            "z": 2.0, "lam": 1.0, "seed": 0}  # fmt: skip


def _torch_setup():
    import torch

    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    X = torch.randn(8, 3, generator=g).double().numpy()
    y = np.arange(8) % 2
    return model, X, y


def _oracle_call(factory):
    def call(**kw):
        return factory(kw.pop("model"), kw.pop("X"), kw.pop("y"), **kw)(np.arange(4))

    return call


def _loss_valid():
    model, X, y = _torch_setup()
    return {"model": model, "X": X, "y": y, "batch_size": 3}


def _grad_valid():
    return {**_loss_valid(), "params": "last"}


_P = np.full((10, 2), 0.5)
_UNC = {"X": "array(10, 2)", "oracle": "array(10, 2)", "budget": "int"}

_TORCH_SHAPES = {
    "X:extra axis": "X may have any trailing shape (images, sequences): the model defines it, "
    "and a mismatch is the model's own error",
    "y:extra axis": "targets may have a trailing axis (class probabilities, multi-output "
    "regression): the loss defines it",
}

SPECS: list[CallSpec] = [
    # ------------------------------------------------------------------ sensitivity sampling
    CallSpec(
        "SensitivitySampling",
        _sensitivity,
        _ctor_select(S.SensitivitySampling),
        {
            "X": "array(30, 2)",
            "n_clusters": "int",
            "budget": "int",
            "z": "real",
            "lam": "real",
            "rounds": "int",
            "seed": "seed",
            "progress": "flag",
            "backend": "choice",
        },
    ),  # fmt: skip
    CallSpec(
        "SensitivitySampling[ranges]",
        lambda: {**_sensitivity(), "budget": None, "epsilon": 0.5},
        _ctor_select(S.SensitivitySampling),
        {
            "z": "pos_real",
            "lam": "nonneg_real",
            "epsilon": "pos_real",
            "n_clusters": "pos_int",
            "rounds": "pos_int",
        },
    ),  # fmt: skip
    CallSpec(
        "sensitivity_protocol",
        _protocol,
        lambda **kw: S.sensitivity_protocol(kw.pop("n"), **kw),
        {
            "n": "int",
            "budget": "int",
            "warm_fraction": "real",
            "cluster_fraction": "real",
            "z": "real",
            "lam": "real",
            "seed": "seed",
        },
    ),  # fmt: skip
    CallSpec(
        "sensitivity_protocol[ranges]",
        _protocol,
        lambda **kw: S.sensitivity_protocol(kw.pop("n"), **kw),
        {
            "z": "pos_real",
            "lam": "nonneg_real",
            "warm_fraction": "pos_real",
            "cluster_fraction": "pos_real",
            "budget": "pos_int",
        },
    ),  # fmt: skip
    CallSpec(
        "total_loss_estimate",
        lambda: {"selection": Selection(indices=np.arange(3)), "losses": np.ones(3)},
        lambda **kw: S.total_loss_estimate(kw["selection"], kw["losses"]),
        {"losses": "array(3)"},
    ),
    CallSpec(
        "sample_size_for_epsilon",
        lambda: {"epsilon": 0.1},
        lambda **kw: S.sample_size_for_epsilon(kw["epsilon"]),
        {"epsilon": "real"},
    ),
    CallSpec(
        "sample_size_for_epsilon[ranges]",
        lambda: {"epsilon": 0.1},
        lambda **kw: S.sample_size_for_epsilon(kw["epsilon"]),
        {"epsilon": "pos_real"},
    ),
    CallSpec(
        "sensitivity_probabilities",
        lambda: {"loss_hat": np.ones(4), "v": np.ones(4), "lam": 1.0},
        lambda **kw: S.sensitivity_probabilities(kw["loss_hat"], kw["v"], kw["lam"]),
        {"loss_hat": "array(4)", "v": "array(4)", "lam": "real"},
    ),
    CallSpec(
        "sensitivity_probabilities[ranges]",
        lambda: {"loss_hat": np.ones(4), "v": np.ones(4), "lam": 1.0},
        lambda **kw: S.sensitivity_probabilities(kw["loss_hat"], kw["v"], kw["lam"]),
        {"lam": "nonneg_real"},
    ),
    # ------------------------------------------------------------------ regression
    CallSpec(
        "RegressionSensitivitySampling",
        lambda: {
            "A": _X(30, 3),
            "oracle": _losses,
            "n_clusters": 3,
            "budget": 10,
            "zeta": 1.0,
            "seed": 0,
        },  # fmt: skip
        _ctor_select(S.RegressionSensitivitySampling, ("A", "oracle")),
        {
            "A": "array(30, 3)",
            "n_clusters": "int",
            "budget": "int",
            "zeta": "real",
            "seed": "seed",
        },  # fmt: skip
        skip={"zeta:inf": "math.inf is the paper's experimental variant (distance alone)"},
    ),
    CallSpec(
        "RegressionSensitivitySampling[ranges]",
        lambda: {"A": _X(30, 3), "oracle": _losses, "n_clusters": 3, "budget": 10, "zeta": 1.0},
        _ctor_select(S.RegressionSensitivitySampling, ("A", "oracle")),
        {"zeta": "nonneg_real", "budget": "pos_int", "n_clusters": "pos_int"},
        skip={"zeta:inf": "math.inf is the paper's experimental variant (distance alone)"},
    ),
    CallSpec(
        "LeverageScoreSampling",
        lambda: {"A": _X(30, 3), "budget": 10, "method": "sketch", "seed": 0},
        _ctor_select(S.LeverageScoreSampling, ("A",)),
        {"A": "array(30, 3)", "budget": "int", "method": "choice", "seed": "seed"},
    ),
    CallSpec(
        "leverage_scores",
        lambda: {
            "A": _X(30, 3),
            "method": "sketch",
            "sketch_size": 10,
            "n_projections": 5,
            "seed": 0,
        },  # fmt: skip
        lambda **kw: S.leverage_scores(kw.pop("A"), **kw),
        {
            "A": "array(30, 3)",
            "method": "choice",
            "sketch_size": "int",
            "n_projections": "int",
            "seed": "seed",
        },  # fmt: skip
        skip={
            "sketch_size:none": "None is the default (20 d rows)",
            "n_projections:none": "None is the default (ceil(8 log n) + 10)",
        },
    ),
    CallSpec(
        "leverage_scores[ranges]",
        lambda: {"A": _X(30, 3), "method": "sketch", "sketch_size": 10, "n_projections": 5},
        lambda **kw: S.leverage_scores(kw.pop("A"), **kw),
        {"sketch_size": "pos_int", "n_projections": "pos_int"},
    ),
    CallSpec(
        "weighted_least_squares",
        lambda: {"A": _X(6, 2), "b": np.arange(6.0), "weights": np.ones(6), "rcond": None},
        lambda **kw: S.weighted_least_squares(kw.pop("A"), kw.pop("b"), kw.pop("weights"), **kw),
        {"A": "array(6, 2)", "b": "array(6)", "weights": "array(6)", "rcond": "nonneg_real"},
    ),
    # ------------------------------------------------------------------ baselines
    CallSpec(
        "Uniform",
        lambda: {"X": _X(12), "budget": 3, "seed": 0},
        _ctor_select(S.Uniform, ("X",)),
        {"X": "array(12, 2)", "budget": "int", "seed": "seed"},
    ),
    CallSpec(
        "KCenterGreedy",
        lambda: {
            "X": _X(12),
            "budget": 3,
            "seed": 0,
            "initial": np.array([0, 5]),
            "metric": "euclidean",
            "chunk_size": 4,
            "progress": False,
        },  # fmt: skip
        _ctor_select(S.KCenterGreedy, ("X",)),
        {
            "X": "array(12, 2)",
            "budget": "int",
            "seed": "seed",
            "initial": "array(2)",
            "metric": "choice",
            "chunk_size": "pos_int",
            "progress": "flag",
        },  # fmt: skip
        skip={"initial:empty": "an empty initial set means none (documented)"},
    ),
    CallSpec(
        "Margin", lambda: {"X": _X(10), "oracle": _P, "budget": 3}, _ctor_select(S.Margin), _UNC
    ),  # fmt: skip
    CallSpec(
        "Entropy", lambda: {"X": _X(10), "oracle": _P, "budget": 3}, _ctor_select(S.Entropy), _UNC
    ),  # fmt: skip
    CallSpec(
        "LeastConfidence",
        lambda: {"X": _X(10), "oracle": _P, "budget": 3},
        _ctor_select(S.LeastConfidence),
        _UNC,
    ),  # fmt: skip
    # ------------------------------------------------------------------ oracles
    CallSpec(
        "loss_oracle",
        _loss_valid,
        _oracle_call(S.loss_oracle),
        {"X": "array(8, 3)", "y": "array(8)", "batch_size": "int"},
        skip=_TORCH_SHAPES,
    ),
    CallSpec(
        "gradient_norm_oracle",
        _grad_valid,
        _oracle_call(S.gradient_norm_oracle),
        {"X": "array(8, 3)", "y": "array(8)", "batch_size": "int", "params": "choice"},
        skip=_TORCH_SHAPES,
    ),
    # ------------------------------------------------------------------ clustering
    CallSpec(
        "assign",
        lambda: {"X": _X(10), "centers": _X(3), "z": 2.0, "block": 64},
        lambda **kw: S.assign(kw.pop("X"), kw.pop("centers"), kw.pop("z"), **kw),
        {"X": "array(10, 2)", "centers": "array(3, 2)", "z": "real", "block": "pos_int"},
    ),
    CallSpec(
        "dz_order",
        lambda: {
            "X": _X(10),
            "m": 3,
            "z": 2.0,
            "rng": np.random.default_rng(0),
            "first": None,
            "n_local_trials": 2,
            "chunk": 8,
        },  # fmt: skip
        lambda **kw: S.dz_order(kw.pop("X"), kw.pop("m"), **kw),
        {
            "X": "array(10, 2)",
            "m": "int",
            "z": "real",
            "n_local_trials": "pos_int",
            "chunk": "pos_int",
        },  # fmt: skip
    ),
    CallSpec(
        "kz_clustering",
        lambda: {
            "X": _X(20),
            "n_clusters": 3,
            "z": 2.0,
            "rng": np.random.default_rng(0),
            "max_iter": 5,
            "n_init": 1,
            "backend": "sklearn",
        },  # fmt: skip
        lambda **kw: S.kz_clustering(kw.pop("X"), kw.pop("n_clusters"), **kw),
        {
            "X": "array(20, 2)",
            "n_clusters": "int",
            "z": "real",
            "max_iter": "int",
            "n_init": "pos_int",
            "backend": "choice",
        },  # fmt: skip
    ),
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "Clustering": "a frozen result dataclass built by kz_clustering, not called by users",
}
