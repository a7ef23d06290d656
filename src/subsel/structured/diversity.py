"""Diversity terms ``d(y | S)`` over labellings: the high-order potentials of structured greedy.

Prasad, Jegelka & Batra (NeurIPS 2014) build monotone submodular diversities ``D(S)`` over a set
of labellings from groups of labellings (eq. 6, ``D(S) = sum_i h(|G_i cap S|)``); the greedy step
``argmax_y r(y) + lam d(y | S)`` then needs MAP inference with the marginal gain ``d(y | S)`` as a
high-order potential (HOP):

=================  ===============================  ==========================================
term               groups ``G_i``                   HOP / how a greedy step is solved
=================  ===============================  ==========================================
:class:`LabelCost`        labellings using label l         label costs: alpha-expansion (Delong)
:class:`LabelTransition`  labellings with adjacent (l, l')  cooperative cut: majorize-minimize
:class:`HammingBall`      Hamming balls around labellings  cardinality potentials (eq. 10)
:class:`DivMBest`         (linear Hamming; Batra et al.)   unary terms: plain MAP
=================  ===============================  ==========================================

Every term has ``lam`` (its weight) and two methods used by
:func:`~subsel.structured.diverse.diverse_solutions`:

- ``value(crf, y, S)``: the exact ``lam * d(y | S)`` (scores; parsimony included), and
- ``surrogate(crf, y, S)``: a :class:`Surrogate` that a MAP solver can handle, touching ``value`` at
  ``y``: extra unary scores, nonnegative label costs, nonnegative per-edge label-pair costs.

Terms add up (``DivMBest(0.5) + HammingBall(1.0)``: the weighted sum of section 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_bool, check_real
from ._label_terms import LabelCost, LabelTransition
from ._terms import (
    DiversityTerm,
    SumOfDiversities,
    Surrogate,
    _history,
    _mismatch_unary,
    hamming,
)
from .crf import PairwiseCRF

__all__ = [
    "Surrogate",
    "DiversityTerm",
    "DivMBest",
    "HammingBall",
    "LabelCost",
    "LabelTransition",
    "SumOfDiversities",
    "hamming",
]


class DivMBest(DiversityTerm):
    """Linear Hamming diversity of DivMBest (Batra et al., ECCV 2012): ``lam sum_{y' in S} Ham(y, y')``.

    Modular in the node labels, so the greedy step is a plain MAP with unary scores
    ``theta_i(l) + lam |{y' in S : y'_i != l}|``. ``O(|S| n)`` per step on top of the MAP.
    """

    exact_surrogate = True

    def __init__(self, lam: float = 1.0):
        self.lam = check_real(lam, "lam", "DivMBest", low=0.0)

    def value(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        return self.lam * float(hamming(y, S).sum()) if len(S) else 0.0

    def surrogate(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        if not len(S):
            return Surrogate()
        return Surrogate(unary=_mismatch_unary(crf, S, np.full(len(S), self.lam)))

    def value_bound(self, crf, S):
        return self.lam * len(_history(S, crf.n_nodes)) * crf.n_nodes


class HammingBall(DiversityTerm):
    """Hamming-ball diversity, the lower bound of eq. 10 with ``I(y) = exp(-gamma Ham / n)``.

    ``d(y | S) = n (1 - sum_{y' in S} exp(-gamma Ham(y, y') / n))``, measured in nodes so that
    ``lam`` is on the scale of DivMBest's: for small distances ``d ~ gamma Ham`` (linear, like
    DivMBest with ``lam gamma``), and ``d`` saturates at ``n`` once ``y`` is far from every
    previous solution. ``gamma`` is relative to the fraction of nodes that differ (``gamma = 10``:
    the reward is 63% saturated when 10% of the nodes differ). With ``clamp=True`` the gain is
    ``max(0, d)`` (the paper's fix for over-counting); for ``|S| = 0`` it is the constant ``n``.

    The HOP is a sum of cardinality potentials, one per ``y' in S``. Greedy steps solve it by
    iterated linearization: the tangent at the current ``y`` is DivMBest with a per-solution
    slope ``lam gamma exp(-gamma Ham(y, y') / n)``, which one exact MAP maximizes; or by
    max-product with O(n log n) cardinality messages (``solver="max_product"`` in
    :func:`diverse_solutions`).
    """

    def __init__(self, lam: float = 1.0, gamma: float = 10.0, *, clamp: bool = False):
        self.lam = check_real(lam, "lam", "HammingBall", low=0.0)
        self.gamma = check_real(gamma, "gamma", "HammingBall", low=0.0, low_open=True)
        self.clamp = check_bool(clamp, "clamp", "HammingBall")

    @property
    def upper_surrogate(self) -> bool:
        # -exp(-gamma H / n) is concave in H, so its tangent lies above it; max(0, .) is not.
        return not self.clamp

    def raw(self, n: int, dists: np.ndarray) -> float:
        """``d`` before clamping, from the distances ``(|S|,)`` to the previous solutions."""
        return n * (1.0 - float(np.exp(-self.gamma * np.asarray(dists) / n).sum()))

    def value(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        d = self.raw(crf.n_nodes, hamming(y, S) if len(S) else np.zeros(0))
        return self.lam * (max(d, 0.0) if self.clamp else d)

    def value_bound(self, crf, S):
        # every distance is at most n: d <= n (1 - |S| exp(-gamma))
        d = self.raw(crf.n_nodes, np.full(len(_history(S, crf.n_nodes)), crf.n_nodes))
        return self.lam * (max(d, 0.0) if self.clamp else d)

    def surrogate(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        if not len(S):
            return Surrogate(const=self.lam * crf.n_nodes)
        n = crf.n_nodes
        slopes = self.lam * self.gamma * np.exp(-self.gamma * hamming(y, S) / n)
        return Surrogate(unary=_mismatch_unary(crf, S, slopes))

    def starts(self, crf: PairwiseCRF, S: Any) -> list[Surrogate]:
        """Extra linearizations to start from: DivMBest with slopes ``c lam gamma`` for a few ``c``.

        The tangent at one point only sees one slope; a short parametric sweep over the slope
        (0.05x to 2x the largest tangent slope) finds the far-away optima that saturation makes
        attractive (the same parametric idea as Lagrangian search over the Hamming budget).
        """
        S = _history(S, crf.n_nodes)
        if not len(S):
            return []
        return [
            Surrogate(unary=_mismatch_unary(crf, S, np.full(len(S), c * self.lam * self.gamma)))
            for c in (0.05, 0.2, 0.5, 2.0)
        ]

    def cardinality(self, crf: PairwiseCRF, S: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """The HOP as (reference, phi) cardinality factors for ``max_product`` (unclamped)."""
        S = _history(S, crf.n_nodes)
        n = crf.n_nodes
        counts = np.arange(n + 1)
        share = self.lam * n / max(len(S), 1)
        return [(y_prev, share - self.lam * n * np.exp(-self.gamma * counts / n)) for y_prev in S]
