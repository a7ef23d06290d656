"""Models built from the subset operators.

- :mod:`subsel.apps.dfl`: decision-focused learning of knapsack item values through the smoothed
  DP knapsack layer (:func:`train_knapsack_predictor`, :func:`normalized_regret`, and
  ``KnapsackDP``, a PyEPO adapter imported lazily: it needs the ``bench`` extra).
- :mod:`subsel.apps.knn`: deep stochastic k-nearest neighbours (Xie & Ermon 2019, section 4.3):
  an embedding trained through :func:`~subsel.ops.relaxed_subset_sample` over sampled neighbour
  candidates (:func:`train_stochastic_knn`, :func:`knn_loss`), NeuralSort as the peer.
- :mod:`subsel.apps.explain`: instance-wise feature selection, L2X with its k independent
  Concrete samples replaced by a relaxed k-subset (section 4.2; :func:`train_explainer`,
  :func:`posthoc_accuracy`).
- :mod:`subsel.apps.sne`: neighbour-sampling SNE, a parametric embedding trained by matching
  neighbour samples through the relaxed steps of :func:`~subsel.ops.relaxed_topk` (section 4.4),
  parametric t-SNE as the peer.

Every model takes a seed, shows progress on request, and saves / loads its weights atomically
(``torch.load(weights_only=True)``).
"""

from .dfl import (
    fy_loss,
    normalized_regret,
    regret_loss,
    spo_loss,
    train_knapsack_predictor,
)
from .explain import (
    Explainer,
    concrete_max_sample,
    distinct_features,
    expand_group_mask,
    explanation_loss,
    group_index,
    mask_input,
    posthoc_accuracy,
    sample_mask,
    train_explainer,
)
from .knn import (
    StochasticKNN,
    knn_loss,
    knn_predict,
    knn_scores,
    knn_selection,
    train_stochastic_knn,
)
from .sne import (
    NeighborSNE,
    conditional_affinities,
    parametric_tsne_loss,
    rss_sne_loss,
    sample_neighbors,
    train_neighbor_sne,
    tsne_affinities,
)

__all__ = [
    "fy_loss",
    "normalized_regret",
    "regret_loss",
    "spo_loss",
    "train_knapsack_predictor",
    "KnapsackDP",  # lazy: module __getattr__ imports PyEPO on first use
    # stochastic kNN
    "StochasticKNN",
    "knn_loss",
    "knn_predict",
    "knn_scores",
    "knn_selection",
    "train_stochastic_knn",
    # explanations
    "Explainer",
    "concrete_max_sample",
    "distinct_features",
    "expand_group_mask",
    "explanation_loss",
    "group_index",
    "mask_input",
    "posthoc_accuracy",
    "sample_mask",
    "train_explainer",
    # neighbour-sampling SNE
    "NeighborSNE",
    "conditional_affinities",
    "parametric_tsne_loss",
    "rss_sne_loss",
    "sample_neighbors",
    "train_neighbor_sne",
    "tsne_affinities",
]


def __getattr__(name: str):
    if name == "KnapsackDP":  # imports PyEPO: only on first use
        from ._dfl_pyepo import _knapsack_dp_class

        return _knapsack_dp_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
