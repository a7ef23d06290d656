"""Submodular set functions and their greedy maximizers.

numpy and scipy only at import time (scikit-learn and faiss are imported when a kNN graph is
built).

>>> from subsel.submodular import FacilityLocation, Modular, maximize
>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(50, 3))
>>> f = FacilityLocation.from_features(X) + 0.1 * Modular(np.ones(50))
>>> maximize(f, 5).indices.shape
(5,)
"""

from ._concave import concave_function
from .functions import (
    Coverage,
    FacilityLocation,
    FeatureBased,
    GraphCut,
    GroupCoverage,
    Mixture,
    Modular,
    SetFunction,
    SetState,
)
from .optimizers import OPTIMIZERS, maximize
from .selector import SubmodularSelector

__all__ = [
    "FacilityLocation",
    "FeatureBased",
    "GraphCut",
    "Coverage",
    "GroupCoverage",
    "Modular",
    "Mixture",
    "SetFunction",
    "SetState",
    "maximize",
    "OPTIMIZERS",
    "SubmodularSelector",
    "concave_function",
]
