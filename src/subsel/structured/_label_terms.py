"""Label diversity and label-transition diversity (Sec. 3.1 of Prasad, Jegelka & Batra): groups of
labellings that use a label / a pair of labels on an edge, with a concave ``h`` of the group
counts (see :mod:`subsel.structured.diversity`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    NoneOr,
    Real,
    check_index_array,
    check_param,
    check_real,
    input_error,
    param_error,
)
from ..submodular import concave_function
from ._terms import DiversityTerm, Surrogate, _history
from .crf import PairwiseCRF

__all__ = ["LabelCost", "LabelTransition"]


class _GroupTerm(DiversityTerm):
    """Shared parts of the label-group terms: ``h``, parsimony, and the per-group costs."""

    def __init__(self, lam: float, h: Any, parsimony: float | None, ignore: Any, func: str):
        self._func = func
        self.lam = check_real(lam, "lam", func, low=0.0)
        self.h_name, self._h = concave_function(h, "h", func)
        self.h = h
        top = float(self._h(np.array([1.0]))[0] - self._h(np.array([0.0]))[0])
        parsimony = check_param(parsimony, NoneOr(Real(0.0)), "parsimony", func)
        if parsimony is None:
            parsimony = top
        if parsimony < top - 1e-12:
            raise param_error(
                func,
                "parsimony",
                f"None or a float >= h(1) - h(0) = {top:g} (the largest gain of a group, so that "
                "every group's net term is a cost that expansion can minimize)",
                parsimony,
            )
        self.parsimony = float(parsimony)
        labels = np.atleast_1d(check_index_array(ignore, "ignore", func, ndim=None))
        if labels.ndim != 1:
            raise input_error(func, "ignore", f"must be 1-d labels; got shape {labels.shape}")
        if (labels < 0).any():
            raise param_error(
                func,
                "ignore",
                "labels >= 0 (negative labels are not counted from the end)",
                ignore,
            )
        self.ignore = tuple(int(v) for v in labels)

    def check(self, crf: PairwiseCRF) -> None:
        if self.ignore and max(self.ignore) >= crf.n_labels:
            raise param_error(
                self._func,
                "ignore",
                f"labels in [0, {crf.n_labels}) (the CRF has {crf.n_labels} labels)",
                list(self.ignore),
            )

    def value_bound(self, crf, S):
        return 0.0  # every group's net term is a cost

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
        self.check(crf)
        costs = self._group_costs(self.counts(_history(S, crf.n_nodes), crf.n_labels))
        costs[list(self.ignore)] = 0.0
        return costs

    def value(self, crf, y, S):
        self.check(crf)
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
        self.check(crf)
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
