"""Diverse subsets of exponentially large structured item sets (labellings of a CRF).

Prasad, Jegelka & Batra (NeurIPS 2014): greedy maximization of ``r(y) + lam D(S)`` over sets of
labellings, each greedy step a MAP query with a high-order potential; the ``M`` labellings are
distinct, each step the best labelling not yet chosen (certified on chains, trees and small
binary grids; see :func:`solve_step`).

>>> import numpy as np
>>> from subsel.structured import PairwiseCRF, diverse_solutions, grid_edges, potts
>>> rng = np.random.default_rng(0)
>>> crf = PairwiseCRF(rng.normal(size=(16, 2)), grid_edges(4, 4), potts(2, 0.5))
>>> diverse_solutions(crf, 3, diversity="hamming_ball", lam=1.0, gamma=5.0).shape
(3, 16)
"""

from .crf import PairwiseCRF, grid_edges, potts
from .diverse import DIVERSITIES, diverse_solutions, make_diversity, oracle_curve, solve_step
from .diversity import (
    DiversityTerm,
    DivMBest,
    HammingBall,
    LabelCost,
    LabelTransition,
    SumOfDiversities,
    Surrogate,
)
from .inference import (
    alpha_expansion,
    cardinality_map,
    cardinality_messages,
    graph_cut,
    max_product,
    objective,
    tree_map,
)
from .segmentation import check_scribbles, interactive_segmentation, segmentation_crf

__all__ = [
    "PairwiseCRF",
    "grid_edges",
    "potts",
    "diverse_solutions",
    "solve_step",
    "make_diversity",
    "oracle_curve",
    "DIVERSITIES",
    "DiversityTerm",
    "DivMBest",
    "HammingBall",
    "LabelCost",
    "LabelTransition",
    "SumOfDiversities",
    "Surrogate",
    "graph_cut",
    "alpha_expansion",
    "tree_map",
    "max_product",
    "cardinality_messages",
    "cardinality_map",
    "objective",
    "interactive_segmentation",
    "segmentation_crf",
    "check_scribbles",
]
