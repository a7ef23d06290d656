"""Bad-input specs for the deep stochastic kNN (``subsel.apps.knn``), see ``bad_inputs.py``."""

from __future__ import annotations

import numpy as np
import torch

from subsel.apps import knn
from tests.common.bad_inputs import CallSpec

B, M, P = 4, 6, 3  # queries, candidates, embedding width
N, NV, D = 40, 10, 144  # training / validation images of 12 x 12
SMALL = {"channels": (2, 4), "kernel_size": 3, "embedding_dim": 8}

LABELS_SKIP = {
    "negative": "any integer is a valid class label (-1 included)",
}


def _emb(n, seed):
    return torch.randn(n, P, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _labels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 3, n)


def _images(n, seed=0):
    return np.random.default_rng(seed).random((n, D), dtype=np.float32)


def _model():
    return knn.StochasticKNN((1, 12, 12), seed=0, **SMALL)


def _skip_labels(*names):
    return {f"{n}:{label}": why for n in names for label, why in LABELS_SKIP.items()}


_RELAX_ARGS = {
    "k": "pos_int",
    "tau": "pos_real",
    "relaxation": "choice",
    "stochastic": "flag",
    "num_samples": "pos_int",
    "generator": "generator",
}


def _relax_valid():
    return {
        "k": 3,
        "tau": 0.5,
        "relaxation": "subset",
        "stochastic": True,
        "num_samples": 2,
        "generator": torch.Generator().manual_seed(0),
    }


SPECS: list[CallSpec] = [
    CallSpec(
        "knn_scores",
        lambda: {"query": _emb(B, 0), "candidates": _emb(M, 1)},
        lambda **kw: knn.knn_scores(kw.pop("query"), kw.pop("candidates")),
        {"query": f"tensor({B}, {P})", "candidates": f"tensor({M}, {P})"},
    ),
    CallSpec(
        "knn_selection",
        lambda: {"query": _emb(B, 0), "candidates": _emb(M, 1), **_relax_valid()},
        lambda **kw: knn.knn_selection(kw.pop("query"), kw.pop("candidates"), **kw),
        {"query": f"tensor({B}, {P})", "candidates": f"tensor({M}, {P})", **_RELAX_ARGS},
    ),
    CallSpec(
        "knn_loss",
        lambda: {
            "query": _emb(B, 0),
            "candidates": _emb(M, 1),
            "query_labels": _labels(B),
            "candidate_labels": _labels(M, 1),
            **_relax_valid(),
            "reduction": "mean",
        },
        lambda **kw: knn.knn_loss(
            kw.pop("query"),
            kw.pop("candidates"),
            kw.pop("query_labels"),
            kw.pop("candidate_labels"),
            **kw,
        ),
        {
            "query": f"tensor({B}, {P})",
            "candidates": f"tensor({M}, {P})",
            "query_labels": f"ints({B})",
            "candidate_labels": f"ints({M})",
            **_RELAX_ARGS,
            "reduction": "choice",
        },
        skip=_skip_labels("query_labels", "candidate_labels"),
    ),
    CallSpec(
        "knn_predict",
        lambda: {
            "query": _emb(B, 0),
            "reference": _emb(M, 1),
            "reference_labels": _labels(M),
            "k": 3,
        },
        lambda **kw: knn.knn_predict(
            kw.pop("query"), kw.pop("reference"), kw.pop("reference_labels"), **kw
        ),
        {
            "query": f"tensor({B}, {P})",
            "reference": f"tensor({M}, {P})",
            "reference_labels": f"ints({M})",
            "k": "pos_int",
        },
        skip=_skip_labels("reference_labels"),
    ),
    CallSpec(
        "StochasticKNN",
        lambda: {"kernel_size": 3, "embedding_dim": 8, "k": 3, "seed": 0},
        lambda **kw: knn.StochasticKNN((1, 12, 12), channels=(2, 4), **kw),
        {"kernel_size": "pos_int", "embedding_dim": "pos_int", "k": "pos_int", "seed": "seed"},
    ),
    CallSpec(
        "StochasticKNN.embed",
        lambda: {"X": _images(5), "batch_size": 2},
        lambda **kw: _model().embed(kw.pop("X"), **kw),
        {"X": f"array(5, {D})", "batch_size": "pos_int"},
    ),
    CallSpec(
        "StochasticKNN.predict",
        lambda: {
            "X": _images(5),
            "X_ref": _images(8, 1),
            "y_ref": _labels(8),
            "k": 3,
            "batch_size": 4,
        },
        lambda **kw: _model().predict(kw.pop("X"), kw.pop("X_ref"), kw.pop("y_ref"), **kw),
        {
            "X": f"array(5, {D})",
            "X_ref": f"array(8, {D})",
            "y_ref": "ints(8)",
            "k": "pos_int",
            "batch_size": "pos_int",
        },
        skip=_skip_labels("y_ref"),
    ),
    CallSpec(
        "train_stochastic_knn",
        lambda: {
            "X": _images(N),
            "y": _labels(N),
            "k": 3,
            "m": 10,
            "tau": 1.0,
            "relaxation": "neuralsort",
            "stochastic": True,
            "num_samples": 1,
            "epochs": 1,
            "batch_size": 20,
            "lr": 1e-3,
            "optimizer": "adam",
            "seed": 0,
            "progress": False,
            "X_val": _images(NV, 1),
            "y_val": _labels(NV, 1),
            "n_ref": 20,
            "model": _model(),
        },
        lambda **kw: knn.train_stochastic_knn(kw.pop("X"), kw.pop("y"), **kw),
        {
            "X": f"array({N}, {D})",
            "y": f"ints({N})",
            "k": "pos_int",
            "m": "pos_int",
            "tau": "pos_real",
            "relaxation": "choice",
            "stochastic": "flag",
            "num_samples": "pos_int",
            "epochs": "pos_int",
            "batch_size": "pos_int",
            "lr": "pos_real",
            "optimizer": "choice",
            "seed": "seed",
            "progress": "flag",
            "X_val": f"array({NV}, {D})",
            "y_val": f"ints({NV})",
            "n_ref": "pos_int",
        },
        skip=_skip_labels("y", "y_val"),
    ),
]
