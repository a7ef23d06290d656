"""Bad-input specs for the public callables of ``subsel.ops`` (see ``bad_inputs.py``)."""

from __future__ import annotations

import torch

from subsel import ops
from tests.common.bad_inputs import CallSpec


def _x():
    return torch.randn(2, 5, generator=torch.Generator().manual_seed(0))


def _gen():
    return torch.Generator().manual_seed(0)


def _valid_mask():
    return torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0, 0.0]])


def _dist(**kw):
    logits, k, tau = kw.pop("logits"), kw.pop("k"), kw.pop("tau")
    return ops.SubsetDistribution(logits, k, tau=tau, generator=kw.pop("generator"))


_DP_KINDS = {
    "tau": "pos_real",
    "regularizer": "choice",
    "hard": "flag",
    "num_samples": "pos_int",
    "generator": "generator",
}

SPECS: list[CallSpec] = [
    CallSpec(
        "gumbel_topk",
        lambda: {"logits": _x(), "k": 2, "dim": -1, "generator": _gen()},
        lambda **kw: ops.gumbel_topk(kw.pop("logits"), kw.pop("k"), **kw),
        {"logits": "tensor(2, 5)", "k": "int", "dim": "int", "generator": "generator"},
        skip={"dim:negative": "-1 is the last axis, a valid dim"},
    ),
    CallSpec(
        "sample_subset",
        lambda: {"logits": _x(), "k": 2, "dim": -1, "generator": _gen()},
        lambda **kw: ops.sample_subset(kw.pop("logits"), kw.pop("k"), **kw),
        {"logits": "tensor(2, 5)", "k": "int", "dim": "int", "generator": "generator"},
        skip={"dim:negative": "-1 is the last axis, a valid dim"},
    ),
    CallSpec(
        "subset_log_prob",
        lambda: {"logits": _x(), "mask": _valid_mask(), "method": "auto", "num_nodes": 64},
        lambda **kw: ops.subset_log_prob(kw.pop("logits"), kw.pop("mask"), **kw),
        {"logits": "tensor(2, 5)", "mask": "tensor(2, 5)", "method": "choice", "num_nodes": "int"},
        skip={
            "mask:nan": "checked as 0/1 values: NaN is 'another value' (ValueError), covered",
            "num_nodes:none": "None means 'choose the number of nodes'",
            "mask:int dtype": "0/1 integer masks are valid subsets",
        },
    ),
    CallSpec(
        "relaxed_topk",
        lambda: {
            "scores": _x(),
            "k": 2,
            "tau": 0.5,
            "dim": -1,
            "hard": False,
            "return_steps": False,
            "backend": "auto",
        },
        lambda **kw: ops.relaxed_topk(kw.pop("scores"), kw.pop("k"), **kw),
        {
            "scores": "tensor(2, 5)",
            "k": "int",
            "tau": "real",
            "dim": "int",
            "hard": "flag",
            "return_steps": "flag",
            "backend": "choice",
        },
        skip={"dim:negative": "-1 is the last axis, a valid dim"},
    ),
    CallSpec(
        "relaxed_subset_sample",
        lambda: {"logits": _x(), "k": 2, "tau": 0.5, "dim": -1, "hard": False, "generator": _gen()},
        lambda **kw: ops.relaxed_subset_sample(kw.pop("logits"), kw.pop("k"), **kw),
        {
            "logits": "tensor(2, 5)",
            "k": "int",
            "tau": "pos_real",
            "dim": "int",
            "hard": "flag",
            "generator": "generator",
        },
        skip={"dim:negative": "-1 is the last axis, a valid dim"},
    ),
    CallSpec(
        "SubsetDistribution",
        lambda: {"logits": _x(), "k": 2, "tau": 0.5, "generator": _gen(), "sample_shape": (3,)},
        lambda **kw: _dist(**kw).rsample(kw["sample_shape"]),
        {
            "logits": "tensor(2, 5)",
            "k": "int",
            "tau": "real",
            "generator": "generator",
            "sample_shape": "int",
        },
    ),
    CallSpec(
        "SubsetDistribution.log_prob",
        lambda: {"value": _valid_mask()},
        lambda **kw: ops.SubsetDistribution(_x(), 2).log_prob(kw["value"]),
        {"value": "tensor(2, 5)"},
        skip={"value:int dtype": "0/1 integer masks are valid k-hot values"},
    ),
    CallSpec(
        "neuralsort",
        lambda: {"scores": _x(), "tau": 0.5},
        lambda **kw: ops.neuralsort(kw.pop("scores"), **kw),
        {"scores": "tensor(2, 5)", "tau": "pos_real"},
    ),
    CallSpec(
        "neuralsort_topk",
        lambda: {"scores": _x(), "k": 2, "tau": 0.5},
        lambda **kw: ops.neuralsort_topk(kw.pop("scores"), kw.pop("k"), **kw),
        {"scores": "tensor(2, 5)", "k": "int", "tau": "real"},
    ),
    *[
        CallSpec(
            name,
            lambda extra=extra: {
                "values": _x(),
                "weights": torch.tensor([1, 2, 1, 3, 2]),
                "capacity": 3,
                "resolution": None,
                "checkpoint": "auto",
                "backend": "auto",
                **extra,
            },
            (
                lambda f: (
                    lambda **kw: f(kw.pop("values"), kw.pop("weights"), kw.pop("capacity"), **kw)
                )
            )(getattr(ops, name)),
            {
                "values": "tensor(2, 5)",
                "weights": "ints(5)",
                "capacity": "int",
                "resolution": "pos_real",
                "checkpoint": "pos_int",
                "backend": "choice",
                **{k: v for k, v in _DP_KINDS.items() if k in extra},
            },
            skip={
                "capacity:float": "1.5 is refused as a non-integer (covered by weights:fraction)",
                "checkpoint:float": "covered: 2.5 is neither 'auto', a bool nor an int",
            },
        )
        for name, extra in [
            ("knapsack", {}),
            ("soft_knapsack", {"tau": 0.5, "regularizer": "gini", "hard": False}),
            ("knapsack_value", {"tau": 0.5, "regularizer": "tsallis"}),
            (
                "knapsack_sample",
                {"tau": 0.5, "regularizer": "shannon", "num_samples": 2, "generator": _gen()},
            ),
        ]
    ],
    *[
        CallSpec(
            name,
            lambda extra=extra: {
                "values": _x(),
                "k": 2,
                "tau": 0.5,
                "regularizer": "shannon",
                "at_most": False,
                "checkpoint": "auto",
                "backend": "auto",
                **extra,
            },
            (lambda f: lambda **kw: f(kw.pop("values"), kw.pop("k"), **kw))(getattr(ops, name)),
            {
                "values": "tensor(2, 5)",
                "k": "int",
                "tau": "pos_real",
                "regularizer": "choice",
                "at_most": "flag",
                "checkpoint": "pos_int",
                "backend": "choice",
                **{k: v for k, v in _DP_KINDS.items() if k in extra},
            },
            skip={"checkpoint:float": "covered: 2.5 is neither 'auto', a bool nor an int"},
        )
        for name, extra in [
            ("soft_topk", {"hard": True}),
            ("topk_sample", {"num_samples": 3, "generator": _gen()}),
        ]
    ],
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "KHot": "a torch.distributions constraint (its check() answers True/False by design)",
}
