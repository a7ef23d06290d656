"""Bad-input specs for :mod:`subsel.apps.explain` (the L2X-style explainer), wired into
``bad_args_apps.py``. ``Explainer.save`` / ``Explainer.load`` take a path (checked by
``subsel.apps._weights``; their errors are tested in ``tests/apps/test_explain.py``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from subsel.apps import explain as E
from tests.common.bad_inputs import CallSpec

N, D, G, C = 4, 5, 5, 2


def _logits():
    return torch.randn(N, G, generator=torch.Generator().manual_seed(0))


def _bb():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, C), nn.Softmax(-1))


def _X(n=N):
    return np.random.default_rng(0).random((n, D)) + 0.1


def _sampler_args(hard=True):
    a = {"logits": f"tensor({N}, {G})", "k": "pos_int", "tau": "pos_real", "generator": "generator"}
    if hard:
        a["hard"] = "flag"
    return a


SPECS: list[CallSpec] = [
    CallSpec(
        "group_index",
        lambda: {"groups": None, "d": D},
        lambda **kw: E.group_index(kw.pop("groups"), kw.pop("d")),
        {"groups": "choice", "d": "pos_int"},
    ),
    CallSpec(
        "expand_group_mask",
        lambda: {"mask": torch.ones(3, 4), "index": torch.tensor([0, 1, 2, 3, 0])},
        lambda **kw: E.expand_group_mask(kw["mask"], kw["index"]),
        {"mask": "tensor(3, 4)", "index": "ints(5)"},
    ),
    CallSpec(
        "mask_input",
        lambda: {"X": torch.ones(3, 5), "feature_mask": torch.ones(3, 5)},
        lambda **kw: E.mask_input(kw["X"], kw["feature_mask"]),
        {"X": "tensor(3, 5)", "feature_mask": "tensor(3, 5)"},
        skip={"X:int dtype": "integer X are token ids (text), set to the pad id"},
    ),
    CallSpec(
        "concrete_max_sample",
        lambda: {
            "logits": _logits(),
            "k": 2,
            "tau": 0.5,
            "hard": False,
            "generator": torch.Generator().manual_seed(0),
        },
        lambda **kw: E.concrete_max_sample(kw.pop("logits"), kw.pop("k"), **kw),
        _sampler_args(),
    ),
    CallSpec(
        "sample_mask",
        lambda: {
            "logits": _logits(),
            "k": 2,
            "sampler": "subset",
            "tau": 0.5,
            "hard": False,
            "generator": torch.Generator().manual_seed(0),
        },
        lambda **kw: E.sample_mask(kw.pop("logits"), kw.pop("k"), **kw),
        {**_sampler_args(), "sampler": "choice"},
    ),
    CallSpec(
        "distinct_features",
        lambda: {
            "logits": _logits(),
            "k": 2,
            "sampler": "l2x",
            "tau": 0.5,
            "generator": torch.Generator().manual_seed(0),
        },
        lambda **kw: E.distinct_features(kw.pop("logits"), kw.pop("k"), **kw),
        {**_sampler_args(hard=False), "sampler": "choice"},
    ),
    CallSpec(
        "Explainer",
        lambda: {"d": D, "k": 2, "n_classes": C, "groups": None, "vocab_size": None, "hidden": 8},
        lambda **kw: E.Explainer(kw.pop("d"), kw.pop("k"), kw.pop("n_classes"), **kw),
        {
            "d": "pos_int",
            "k": "pos_int",
            "n_classes": "pos_int",
            "groups": "choice",
            "vocab_size": "pos_int",
            "hidden": "pos_int",
        },
    ),
    CallSpec(
        "Explainer.select",
        lambda: {"X": _X(), "batch_size": 2},
        lambda **kw: E.Explainer(D, 2, C, hidden=8).select(kw["X"], batch_size=kw["batch_size"]),
        {"X": f"array({N}, {D})", "batch_size": "pos_int"},
    ),
    CallSpec(
        "explanation_loss",
        lambda: {
            "explainer": E.Explainer(D, 2, C, hidden=8),
            "X": torch.rand(N, D),
            "target": torch.full((N, C), 0.5),
            "sampler": "subset",
            "tau": 0.5,
            "generator": torch.Generator().manual_seed(0),
        },
        lambda **kw: E.explanation_loss(kw.pop("explainer"), kw.pop("X"), kw.pop("target"), **kw),
        {
            "explainer": "choice",
            "X": f"tensor({N}, {D})",
            "target": f"tensor({N}, {C})",
            "sampler": "choice",
            "tau": "pos_real",
            "generator": "generator",
        },
        skip={
            "X:int dtype": "integer features are valid dense input",
            "X:numpy": "arrays are accepted",
        },
    ),
    CallSpec(
        "posthoc_accuracy",
        lambda: {
            "model": _bb(),
            "X": _X(),
            "explanation": np.ones((N, D)),
            "groups": None,
            "batch_size": 2,
        },
        lambda **kw: E.posthoc_accuracy(kw.pop("model"), kw.pop("X"), kw.pop("explanation"), **kw),
        {
            "model": "choice",
            "X": f"array({N}, {D})",
            "explanation": f"array({N}, {D})",
            "groups": "choice",
            "batch_size": "pos_int",
        },
    ),
    CallSpec(
        "train_explainer",
        lambda: {
            "model": _bb(),
            "X": _X(20),
            "k": 2,
            "groups": None,
            "sampler": "l2x",
            "tau": 0.5,
            "epochs": 1,
            "batch_size": 10,
            "lr": 1e-3,
            "seed": 0,
            "progress": False,
            "device": "cpu",
            "X_val": _X(6),
            "vocab_size": None,
            "hidden": 8,
        },
        lambda **kw: E.train_explainer(kw.pop("model"), kw.pop("X"), **kw),
        {
            "model": "choice",
            "X": f"array(20, {D})",
            "k": "pos_int",
            "groups": "choice",
            "sampler": "choice",
            "tau": "pos_real",
            "epochs": "pos_int",
            "batch_size": "pos_int",
            "lr": "pos_real",
            "seed": "seed",
            "progress": "flag",
            "device": "choice",
            "X_val": f"array(6, {D})",
            "vocab_size": "pos_int",
            "hidden": "pos_int",
        },
    ),
]
