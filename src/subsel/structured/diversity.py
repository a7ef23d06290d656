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

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import param_error
from ..submodular import concave_function
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


def hamming(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Hamming distances ``(|S|,)`` from one labelling ``y (n,)`` to each row of ``S (k, n)``."""
    return (np.asarray(S) != np.asarray(y)[None, :]).sum(axis=1)


@dataclass
class Surrogate:
    """A model of ``lam d(y | S)`` that MAP solvers take: ``<unary, onehot(y)> - label costs -
    pair costs + const``.

    Attributes
    ----------
    unary : ndarray (n, L) or None
        Scores added to the CRF's node scores.
    label_costs : ndarray (L,) or None
        Nonnegative energies paid once per label present in ``y``.
    pair_costs : ndarray (L, L) or None
        Nonnegative, symmetric, zero-diagonal energies paid on every edge whose ends take the pair.
    const : float
    """

    unary: np.ndarray | None = None
    label_costs: np.ndarray | None = None
    pair_costs: np.ndarray | None = None
    const: float = 0.0

    def __add__(self, other: Surrogate) -> Surrogate:
        def add(a, b):
            if a is None:
                return b
            if b is None:
                return a
            return a + b

        return Surrogate(
            add(self.unary, other.unary),
            add(self.label_costs, other.label_costs),
            add(self.pair_costs, other.pair_costs),
            self.const + other.const,
        )


def _lam(value: Any, func: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise param_error(func, "lam", "a finite float >= 0", value, kind=TypeError)
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise param_error(func, "lam", "a finite float >= 0", value)
    return value


def _history(S: Any, n: int) -> np.ndarray:
    S = np.asarray(S, dtype=np.int64)
    return S.reshape(0, n) if S.size == 0 else S.reshape(-1, n)


def _mismatch_unary(crf: PairwiseCRF, S: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """``sum_k slopes[k] [l != S[k, i]]`` as ``(n, L)`` unary scores, in ``O(|S| n + nL)``."""
    n, L = crf.n_nodes, crf.n_labels
    out = np.full((n, L), float(slopes.sum()))
    rows = np.arange(n)
    for y_prev, a in zip(S, slopes, strict=True):
        np.subtract.at(out, (rows, y_prev), a)
    return out


class DiversityTerm:
    """Base class: ``lam * d(y | S)``; subclasses define :meth:`value` and :meth:`surrogate`."""

    lam: float = 1.0
    #: True when the surrogate equals the term for every y (no outer iterations needed).
    exact_surrogate: bool = False

    def value(self, crf: PairwiseCRF, y: np.ndarray, S: Any) -> float:  # pragma: no cover
        raise NotImplementedError

    def surrogate(self, crf: PairwiseCRF, y: np.ndarray, S: Any) -> Surrogate:  # pragma: no cover
        raise NotImplementedError

    def starts(self, crf: PairwiseCRF, S: Any) -> list[Surrogate]:
        """Extra surrogates whose MAPs seed the iterated linearization (none by default)."""
        return []

    def __add__(self, other: Any) -> SumOfDiversities:
        return SumOfDiversities([self, other])

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class DivMBest(DiversityTerm):
    """Linear Hamming diversity of DivMBest (Batra et al., ECCV 2012): ``lam sum_{y' in S} Ham(y, y')``.

    Modular in the node labels, so the greedy step is a plain MAP with unary scores
    ``theta_i(l) + lam |{y' in S : y'_i != l}|``. ``O(|S| n)`` per step on top of the MAP.
    """

    exact_surrogate = True

    def __init__(self, lam: float = 1.0):
        self.lam = _lam(lam, "DivMBest")

    def value(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        return self.lam * float(hamming(y, S).sum()) if len(S) else 0.0

    def surrogate(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        if not len(S):
            return Surrogate()
        return Surrogate(unary=_mismatch_unary(crf, S, np.full(len(S), self.lam)))


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
        self.lam = _lam(lam, "HammingBall")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)):
            raise param_error("HammingBall", "gamma", "a finite float > 0", gamma, kind=TypeError)
        if not np.isfinite(gamma) or gamma <= 0:
            raise param_error("HammingBall", "gamma", "a finite float > 0", gamma)
        self.gamma = float(gamma)
        self.clamp = bool(clamp)

    def raw(self, n: int, dists: np.ndarray) -> float:
        """``d`` before clamping, from the distances ``(|S|,)`` to the previous solutions."""
        return n * (1.0 - float(np.exp(-self.gamma * np.asarray(dists) / n).sum()))

    def value(self, crf, y, S):
        S = _history(S, crf.n_nodes)
        d = self.raw(crf.n_nodes, hamming(y, S) if len(S) else np.zeros(0))
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


class _GroupTerm(DiversityTerm):
    """Shared parts of the label-group terms: ``h``, parsimony, and the per-group costs."""

    def __init__(self, lam: float, h: Any, parsimony: float | None, ignore: Any, func: str):
        self.lam = _lam(lam, func)
        self.h_name, self._h = concave_function(h, "h", func)
        self.h = h
        top = float(self._h(np.array([1.0]))[0] - self._h(np.array([0.0]))[0])
        if parsimony is None:
            parsimony = top
        if isinstance(parsimony, bool) or not isinstance(parsimony, (int, float, np.floating)):
            raise param_error(func, "parsimony", "a float >= 0 or None", parsimony, kind=TypeError)
        if not np.isfinite(parsimony) or parsimony < 0:
            raise param_error(func, "parsimony", "a finite float >= 0 or None", parsimony)
        if parsimony < top - 1e-12:
            raise ValueError(
                f"The 'parsimony' parameter of {func} must be >= h(1) - h(0) = {top:g} (the largest "
                f"gain of a group) so that every group's net term is a cost that expansion can "
                f"minimize. Got {parsimony!r} instead."
            )
        self.parsimony = float(parsimony)
        self.ignore = tuple(int(v) for v in np.atleast_1d(np.asarray(ignore, dtype=np.int64)))

    def _group_costs(self, counts: np.ndarray) -> np.ndarray:
        """Energy of having a group present: ``lam (parsimony - (h(c + 1) - h(c)))`` (>= 0).

        The paper's parsimony factor ``p(y) = -parsimony * (groups present)`` keeps every group's
        net term a cost, so label costs stay nonnegative (what expansion can minimize). With the
        default parsimony ``h(1) - h(0)`` (the largest gain), a never-seen group costs 0.
        """
        c = counts.astype(np.float64)
        gain = self._h(c + 1.0) - self._h(c)
        return self.lam * np.maximum(self.parsimony - gain, 0.0)


class LabelCost(_GroupTerm):
    """Label diversity (section 3.1): groups ``G_l`` = labellings that use label ``l``.

    ``d(y | S) = sum_{l in y} [h(1 + lcount_S(l)) - h(lcount_S(l))]`` (eq. 8 for ``h = min(1, .)``)
    plus the parsimony factor ``p(y) = -parsimony * |{l in y}|``. The value is
    ``lam (d + p)``; each label present contributes ``-lam (parsimony - gain_l)``, a label cost.
    Labels in ``ignore`` (e.g. background) contribute nothing.

    Greedy steps are alpha-expansion with label costs (Delong et al. 2010), ``O(L)`` graph cuts
    a sweep.
    """

    exact_surrogate = True

    def __init__(
        self, lam: float = 1.0, *, h: Any = "min1", parsimony: float | None = None, ignore=()
    ):
        super().__init__(lam, h, parsimony, ignore, "LabelCost")

    def counts(self, S: np.ndarray, L: int) -> np.ndarray:
        """``lcount_S(l)``: how many labellings of ``S`` use each label, ``(L,)``."""
        out = np.zeros(L, dtype=np.int64)
        for y_prev in S:
            out[np.unique(y_prev)] += 1
        return out

    def _costs(self, crf, S):
        costs = self._group_costs(self.counts(_history(S, crf.n_nodes), crf.n_labels))
        costs[list(self.ignore)] = 0.0
        return costs

    def value(self, crf, y, S):
        present = np.zeros(crf.n_labels, dtype=bool)
        present[np.unique(y)] = True
        present[list(self.ignore)] = False
        return -float(self._costs(crf, S)[present].sum())

    def surrogate(self, crf, y, S):
        return Surrogate(label_costs=self._costs(crf, S))


class LabelTransition(_GroupTerm):
    """Label-transition diversity: groups ``G_{l,l'}`` = labellings with an edge labelled ``{l, l'}``.

    Unordered pairs ``l != l'`` of labels on the two ends of some edge; ``d`` and the parsimony
    factor as in :class:`LabelCost`, with pairs in place of labels. The HOP is a cooperative cut
    (Jegelka & Bilmes 2011); greedy steps minimize it by majorize-minimize: a pair's presence
    ``[count >= 1]`` is bounded by its count when absent from the current ``y`` and by 1 when
    present, so each step is an alpha-expansion with per-edge pair costs that never lowers the
    true objective.
    """

    def __init__(
        self, lam: float = 1.0, *, h: Any = "min1", parsimony: float | None = None, ignore=()
    ):
        super().__init__(lam, h, parsimony, ignore, "LabelTransition")

    @staticmethod
    def pairs(crf: PairwiseCRF, y: np.ndarray) -> np.ndarray:
        """Bool ``(L, L)``: symmetric, which unordered pairs ``l != l'`` occur on an edge of ``y``."""
        L = crf.n_labels
        out = np.zeros((L, L), dtype=bool)
        if crf.n_edges:
            a, b = y[crf.edges[:, 0]], y[crf.edges[:, 1]]
            diff = a != b
            out[a[diff], b[diff]] = True
        out |= out.T
        return out

    def counts(self, crf: PairwiseCRF, S: np.ndarray) -> np.ndarray:
        out = np.zeros((crf.n_labels, crf.n_labels), dtype=np.int64)
        for y_prev in S:
            out += self.pairs(crf, y_prev)
        return out

    def _costs(self, crf, S):
        costs = self._group_costs(self.counts(crf, _history(S, crf.n_nodes)))
        np.fill_diagonal(costs, 0.0)
        if self.ignore:
            costs[list(self.ignore), :] = 0.0
            costs[:, list(self.ignore)] = 0.0
        return costs

    def value(self, crf, y, S):
        present = np.triu(self.pairs(crf, np.asarray(y)), 1)
        return -float(self._costs(crf, S)[present].sum())

    def surrogate(self, crf, y, S):
        costs = self._costs(crf, S)
        present = self.pairs(crf, np.asarray(y))
        # Majorizer of the cost: pairs present in y are paid once (constant), absent pairs per edge.
        const = -float(np.triu(costs * present, 1).sum())
        return Surrogate(pair_costs=np.where(present, 0.0, costs), const=const)


class SumOfDiversities(DiversityTerm):
    """The weighted sum (section 4's combined diversity): ``sum_t lam_t d_t(y | S)``."""

    def __init__(self, terms: Any):
        flat: list[DiversityTerm] = []
        for t in terms:
            if isinstance(t, SumOfDiversities):
                flat.extend(t.terms)
            elif isinstance(t, DiversityTerm):
                flat.append(t)
            else:
                raise param_error(
                    "SumOfDiversities",
                    "terms",
                    "a list of DiversityTerm objects",
                    t,
                    kind=TypeError,
                )
        if not flat:
            raise param_error("SumOfDiversities", "terms", "a non-empty list", terms)
        self.terms = flat
        self.lam = 1.0
        self.exact_surrogate = all(t.exact_surrogate for t in flat)

    def value(self, crf, y, S):
        return float(sum(t.value(crf, y, S) for t in self.terms))

    def surrogate(self, crf, y, S):
        out = Surrogate()
        for t in self.terms:
            out = out + t.surrogate(crf, y, S)
        return out

    def starts(self, crf, S):
        return [s for t in self.terms for s in t.starts(crf, S)]

    def __repr__(self) -> str:
        return " + ".join(repr(t) for t in self.terms)
