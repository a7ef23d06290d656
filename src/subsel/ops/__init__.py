"""Differentiable and exact subset operators (PyTorch).

Imports only torch and :mod:`subsel._validation`.
"""

from .distributions import KHot, SubsetDistribution
from .knapsack import (
    knapsack,
    knapsack_sample,
    knapsack_value,
    soft_knapsack,
    soft_topk,
    topk_sample,
)
from .neuralsort import neuralsort, neuralsort_topk
from .sampling import gumbel_topk, relaxed_subset_sample, sample_subset, subset_log_prob
from .topk import relaxed_topk

__all__ = [
    "gumbel_topk",
    "sample_subset",
    "subset_log_prob",
    "relaxed_topk",
    "relaxed_subset_sample",
    "SubsetDistribution",
    "KHot",
    "neuralsort",
    "neuralsort_topk",
    "knapsack",
    "soft_knapsack",
    "soft_topk",
    "knapsack_sample",
    "topk_sample",
    "knapsack_value",
]
