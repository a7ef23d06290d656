"""Which training data are worth the most: the HOST-CP selection layer (`FacilityLocationLP`,
`HostCP`), the valuation baselines (random, KNN-Shapley, TMC Shapley, TracIn-CP, influence
functions, DVRL) and the evaluations of data valuation (`metrics`).

Imports torch, numpy and :mod:`subsel._validation`; scikit-learn inside the curve functions; cvxpy
and cvxpylayers inside the one function that needs them (the reference solver).
"""

from .baselines import DVRL, InfluenceFunction, KNNShapley, RandomValuation, TMCShapley, TracInCP
from .facility_lp import FacilityLocationLP, FacilityLPResult
from .hostcp import HostCP
from .metrics import (
    DEFAULT_CURVE_FRACTIONS,
    DEFAULT_INSPECT_FRACTIONS,
    ClassBalance,
    ValuationCurve,
    addition_curve,
    class_balance,
    flip_labels,
    mislabel_auc,
    mislabel_detection,
    mislabel_f1_2means,
    ndcg_at_k,
    removal_curve,
)

__all__ = [
    "FacilityLocationLP",
    "FacilityLPResult",
    "HostCP",
    "RandomValuation",
    "KNNShapley",
    "TMCShapley",
    "TracInCP",
    "InfluenceFunction",
    "DVRL",
    "addition_curve",
    "removal_curve",
    "mislabel_detection",
    "mislabel_f1_2means",
    "mislabel_auc",
    "ndcg_at_k",
    "class_balance",
    "flip_labels",
    "ValuationCurve",
    "ClassBalance",
    "DEFAULT_CURVE_FRACTIONS",
    "DEFAULT_INSPECT_FRACTIONS",
]
