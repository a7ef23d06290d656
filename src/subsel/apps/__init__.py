"""Models built from the subset operators.

:mod:`subsel.apps.dfl`: decision-focused learning of knapsack item values through the smoothed DP
knapsack layer (:func:`train_knapsack_predictor`, :func:`normalized_regret`, and ``KnapsackDP``,
a PyEPO adapter imported lazily: it needs the ``bench`` extra).
"""

from .dfl import (
    fy_loss,
    normalized_regret,
    regret_loss,
    spo_loss,
    train_knapsack_predictor,
)

__all__ = [
    "fy_loss",
    "normalized_regret",
    "regret_loss",
    "spo_loss",
    "train_knapsack_predictor",
    "KnapsackDP",  # lazy: module __getattr__ imports PyEPO on first use
]


def __getattr__(name: str):
    if name == "KnapsackDP":  # imports PyEPO: only on first use
        from .dfl import _knapsack_dp_class

        return _knapsack_dp_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
