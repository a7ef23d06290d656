"""Data selection over embeddings: sensitivity sampling and the baselines it is compared with.

numpy and scikit-learn only (no torch, no dask at import time).
"""

from .baselines import Entropy, KCenterGreedy, LeastConfidence, Margin, Uniform
from .clustering import Clustering, assign, dz_order, kz_clustering
from .oracles import gradient_norm_oracle, loss_oracle
from .protocol import sensitivity_protocol
from .regression import (
    LeverageScoreSampling,
    RegressionSensitivitySampling,
    leverage_scores,
    weighted_least_squares,
)
from .sensitivity import (
    SensitivitySampling,
    sample_size_for_epsilon,
    sensitivity_probabilities,
    total_loss_estimate,
)

__all__ = [
    "SensitivitySampling",
    "sensitivity_protocol",
    "total_loss_estimate",
    "sample_size_for_epsilon",
    "sensitivity_probabilities",
    "RegressionSensitivitySampling",
    "LeverageScoreSampling",
    "leverage_scores",
    "weighted_least_squares",
    "Uniform",
    "KCenterGreedy",
    "Margin",
    "Entropy",
    "LeastConfidence",
    "loss_oracle",
    "gradient_norm_oracle",
    "Clustering",
    "assign",
    "dz_order",
    "kz_clustering",
]
