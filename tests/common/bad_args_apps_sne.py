"""Bad-input specs for the public callables of ``subsel.apps.sne`` (see ``bad_inputs.py``).

``NeighborSNE.save`` / ``NeighborSNE.load`` take a path only (checked by ``apps._weights``; no
path kind in the table): their errors are tested in ``tests/apps/test_sne.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from subsel.apps import sne
from tests.common.bad_inputs import CallSpec

M = 6


def _x(m=M, D=3, seed=0):
    return torch.rand(m, D, generator=torch.Generator().manual_seed(seed))


def _pop_call(fn, *positional):
    def call(**kw):
        args = [kw.pop(p) for p in positional]
        return fn(*args, **kw)

    return call


SPECS: list[CallSpec] = [
    CallSpec(
        "NeighborSNE",
        lambda: {
            "input_dim": 5,
            "d": 2,
            "hidden": (4,),
            "activation": "relu",
            "init_scale": 1.0,
            "seed": 0,
        },
        _pop_call(sne.NeighborSNE, "input_dim", "d"),
        {
            "input_dim": "pos_int",
            "d": "pos_int",
            "activation": "choice",
            "init_scale": "pos_real",
            "seed": "seed",
        },
    ),
    CallSpec(
        "NeighborSNE.transform",
        lambda: {"X": np.random.default_rng(0).random((4, 5)), "batch_size": 2},
        lambda **kw: sne.NeighborSNE(5, 2, hidden=(4,), seed=0).transform(kw.pop("X"), **kw),
        {"X": "array(4, 5)", "batch_size": "pos_int"},
    ),
    CallSpec(
        "train_neighbor_sne",
        lambda: {
            "X": np.random.default_rng(0).random((12, 3)),
            "d": 2,
            "method": "rss",
            "k": 1,
            "tau": 0.5,
            "bias": 1e-8,
            "neighbor_scale": "raw",
            "perplexity": 2.0,
            "alpha": 1.0,
            "epochs": 1,
            "batch_size": 6,
            "lr": 1e-3,
            "activation": "relu",
            "hidden": (4,),
            "init_scale": 1.0,
            "pretrain_epochs": 1,
            "seed": 0,
            "progress": False,
            "device": "cpu",
        },
        _pop_call(sne.train_neighbor_sne, "X"),
        {
            "X": "array(12, 3)",
            "d": "pos_int",
            "method": "choice",
            "k": "pos_int",
            "tau": "pos_real",
            "bias": "nonneg_real",
            "neighbor_scale": "choice",
            "perplexity": "pos_real",
            "alpha": "pos_real",
            "epochs": "pos_int",
            "batch_size": "pos_int",
            "lr": "pos_real",
            "activation": "choice",
            "init_scale": "pos_real",
            "pretrain_epochs": "int",
            "seed": "seed",
            "progress": "flag",
            "device": "choice",
        },
    ),
    CallSpec(
        "rss_sne_loss",
        lambda: {
            "X": _x(),
            "H": _x(D=2, seed=1),
            "k": 2,
            "tau": 0.1,
            "bias": 1e-8,
            "beta": torch.ones(M),
            "generator": torch.Generator().manual_seed(0),
        },
        _pop_call(sne.rss_sne_loss, "X", "H"),
        {
            "X": f"tensor({M}, 3)",
            "H": f"tensor({M}, 2)",
            "k": "pos_int",
            "tau": "pos_real",
            "bias": "nonneg_real",
            "beta": f"tensor({M})",
            "generator": "generator",
        },
    ),
    CallSpec(
        "sample_neighbors",
        lambda: {
            "X": _x(),
            "k": 2,
            "beta": torch.ones(M),
            "generator": torch.Generator().manual_seed(0),
        },
        _pop_call(sne.sample_neighbors, "X"),
        {"X": f"tensor({M}, 3)", "k": "pos_int", "beta": f"tensor({M})", "generator": "generator"},
    ),
    CallSpec(
        "parametric_tsne_loss",
        lambda: {
            "P": torch.from_numpy(sne.tsne_affinities(_x().numpy(), perplexity=2.0)),
            "H": _x(D=2, seed=1).double(),
            "alpha": 1.0,
        },
        _pop_call(sne.parametric_tsne_loss, "P", "H"),
        {"P": f"tensor({M}, {M})", "H": f"tensor({M}, 2)", "alpha": "pos_real"},
    ),
    CallSpec(
        "conditional_affinities",
        lambda: {"X": np.random.default_rng(0).random((8, 3)), "perplexity": 3.0, "tol": 1e-5},
        _pop_call(sne.conditional_affinities, "X"),
        {"X": "array(8, 3)", "perplexity": "pos_real", "tol": "pos_real"},
    ),
    CallSpec(
        "tsne_affinities",
        lambda: {"X": np.random.default_rng(0).random((8, 3)), "perplexity": 3.0},
        _pop_call(sne.tsne_affinities, "X"),
        {"X": "array(8, 3)", "perplexity": "pos_real"},
    ),
]
