"""The registry of operators that the generic checks in ``tests/test_common_ops.py`` run on.

Each entry says how to call an operator with ``(scores, k, generator)``, whether it is random and
whether it is differentiable in the scores. A new operator joins the common checks by adding an
entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from subsel import ops


@dataclass(frozen=True)
class OpSpec:
    name: str
    call: Callable  # (scores, k, generator, **kw) -> Tensor
    random: bool
    differentiable: bool
    takes_tau: bool = False
    takes_dim: bool = True
    per_row_k: bool = True
    output: str = "mask"  # "mask": same shape as the scores; "indices": k along dim


OPS = [
    OpSpec(
        "gumbel_topk",
        lambda x, k, g, **kw: ops.gumbel_topk(x, k, generator=g, **kw),
        random=True,
        differentiable=False,
        per_row_k=False,
        output="indices",
    ),
    OpSpec(
        "sample_subset",
        lambda x, k, g, **kw: ops.sample_subset(x, k, generator=g, **kw),
        random=True,
        differentiable=False,
    ),
    OpSpec(
        "relaxed_topk",
        lambda x, k, g, **kw: ops.relaxed_topk(x, k, **kw),
        random=False,
        differentiable=True,
        takes_tau=True,
    ),
    OpSpec(
        "relaxed_topk[eager]",
        lambda x, k, g, **kw: ops.relaxed_topk(x, k, backend="eager", **kw),
        random=False,
        differentiable=True,
        takes_tau=True,
    ),
    OpSpec(
        "relaxed_topk_hard",
        lambda x, k, g, **kw: ops.relaxed_topk(x, k, hard=True, **kw),
        random=False,
        differentiable=False,
        takes_tau=True,
    ),
    OpSpec(
        "relaxed_subset_sample",
        lambda x, k, g, **kw: ops.relaxed_subset_sample(x, k, generator=g, **kw),
        random=True,
        differentiable=True,
        takes_tau=True,
    ),
    OpSpec(
        "SubsetDistribution.rsample",
        lambda x, k, g, **kw: ops.SubsetDistribution(x, k, **kw).rsample(generator=g),
        random=True,
        differentiable=True,
        takes_tau=True,
        takes_dim=False,
        per_row_k=False,
    ),
    OpSpec(
        "neuralsort_topk",
        lambda x, k, g, **kw: ops.neuralsort_topk(x, k, **kw),
        random=False,
        differentiable=True,
        takes_tau=True,
        takes_dim=False,
        per_row_k=False,
    ),
]


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
