"""The best labelling *not yet chosen*: enumeration, branch and bound, forced changes, polish.

A greedy step over a set never returns an element twice: step ``t`` is the argmax of
``F(y) = r(y) + lam d(y | S)`` over labellings outside ``S`` (and outside any other labellings
the caller excludes). This module answers that query on top of the MAP solvers.

*Model.* A step's surrogate model ``M(y) = crf'.score(y) - sum_{l in y} h_l + offset`` (the CRF
with the diversity term's surrogate folded in, optional label costs ``h`` or cardinality
factors) is shifted to touch ``F`` at the linearization point. For exact surrogates (DivMBest,
label costs) ``M = F``; for tangents of concave terms (the Hamming ball) ``M >= F`` everywhere.

*Enumeration in decreasing ``M``.* Regions of labellings are described by an ``allowed (n, L)``
mask, imposed on any MAP solver as unary penalties larger than the model's score range.

- Forests: :func:`_bmmf`, best max-marginal first (Yanover & Weiss 2004; Nilsson 1998): the
  second-best labelling of a region comes from its max-marginals, and the region is split in two
  on the node where it differs. Exact; two tree passes per labelling. Label costs are handled
  exactly by one enumeration per subset of the costly labels (``M_U = score - h(U)`` over
  labellings using labels in ``U``), merged.
- Any solver: :func:`murty`, Lawler-Murty partitioning: the rest of a region minus its best
  labelling is split into ``n`` regions (first ``j - 1`` nodes fixed, node ``j`` must change),
  one MAP each. Exact with an exact solver (graph cut, tree), a heuristic otherwise.

*Branch and bound* (:func:`best_new`): scan the enumeration, evaluate ``F`` on labellings not
excluded, stop when the next ``M`` is no better than the best ``F`` found. With an exact
enumeration of an upper bound this certifies the best new labelling.

*Polish* (:func:`polish`): best-improvement single-node moves on ``F`` itself, never onto an
excluded labelling, when the neighbourhood is small.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator

import numpy as np

from ._cuts import alpha_expansion, graph_cut
from ._max_product import max_product
from ._objective import _objective
from ._tree import _forest_layout, _tree_max_marginals, tree_map
from .crf import PairwiseCRF

_POLISH_NEIGHBOURS = 512  # polish only when n (L - 1) single-node moves are at most this many
_MAX_COSTLY_LABELS = 6  # forests with label costs: one enumeration per subset of costly labels
_EDGE_TABLE_ELEMS = 1 << 22  # node order by local flip cost: edge part only below this size


def key(y: np.ndarray) -> bytes:
    """A hashable identity of one labelling."""
    return np.ascontiguousarray(y, dtype=np.int64).tobytes()


def _tol(v: float) -> float:
    return 1e-9 * (1.0 + abs(v))


class Budget:
    """At most ``limit`` MAP / max-marginal solves, a soft limit until a labelling outside
    ``excluded`` has been seen (:meth:`saw`)."""

    def __init__(self, limit: int, excluded: set):
        self.limit, self.used, self.found, self.cut = limit, 0, False, False
        self.excluded = excluded

    def saw(self, y: np.ndarray) -> None:
        if not self.found and key(y) not in self.excluded:
            self.found = True

    def take(self) -> bool:
        if self.used >= self.limit and self.found:
            self.cut = True
            return False
        self.used += 1
        return True


def score_range(crf: PairwiseCRF) -> float:
    """An upper bound on ``max_y crf.score(y) - min_y crf.score(y)``, ``O(nL + m L^2)``."""
    u = crf.unary
    r = float((u.max(axis=1) - u.min(axis=1)).sum())
    if crf.n_edges:
        w = crf.weights()
        if crf.shared_table:
            r += float(w.sum() * (crf.pairwise.max() - crf.pairwise.min()))
        else:
            p = crf.pairwise.reshape(crf.n_edges, -1)
            r += float((w * (p.max(axis=1) - p.min(axis=1))).sum())
    return r


class Model:
    """``M(y) = crf.score(y) - h(labels of y) + sum phi_k[H(y, ref_k)] + offset`` and its solver.

    ``kind``: ``"tree"`` (exact :func:`tree_map`), ``"cut"`` (exact :func:`graph_cut`),
    ``"expansion"`` (:func:`alpha_expansion`, with label costs) or ``"max_product"`` (loopy
    max-product with cardinality factors).
    """

    def __init__(self, crf, kind: str, *, h=None, cards=(), offset: float = 0.0, seed=None):
        self.crf, self.kind, self.h, self.cards, self.offset, self.seed = (
            crf,
            kind,
            h,
            list(cards),
            offset,
            seed,
        )
        bound = score_range(crf) + (0.0 if h is None else float(h.sum()))
        bound += sum(float(p.max() - p.min()) for _, p in self.cards)
        self.big = 4.0 * (bound + 1.0)  # a constraint penalty beyond any score difference
        if kind == "tree" and crf.n_edges:
            _forest_layout(crf, "solve_step")  # cached: the constrained models share it

    @property
    def exact(self) -> bool:
        """Whether :meth:`solve` is an exact MAP (label costs make a forest a heuristic)."""
        return self.kind in ("tree", "cut") and self.h is None

    def all(self) -> np.ndarray:
        return np.ones(self.crf.unary.shape, dtype=bool)

    def value(self, y: np.ndarray) -> float:
        return float(_objective(self.crf, y, self.h, self.cards)) + self.offset

    def constrained(self, allowed: np.ndarray) -> PairwiseCRF:
        return self.crf.with_unary(np.where(allowed, 0.0, -self.big))

    def solve(self, allowed: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        c = self.constrained(allowed)
        if self.kind == "max_product":
            return max_product(c, cardinality=self.cards)
        if self.h is not None or self.kind == "expansion":
            if init is None or not _feasible(init, allowed):
                init = np.argmax(np.where(allowed, c.unary, -np.inf), axis=1)
            return alpha_expansion(c, label_costs=self.h, init=init, seed=self.seed)
        return tree_map(c) if self.kind == "tree" else graph_cut(c)


def flip_deltas(crf: PairwiseCRF, y: np.ndarray) -> np.ndarray:
    """Score change ``(n, L)`` of moving one node to each label, others fixed (0 at ``y``).

    Edges are included when their tables fit in memory (``m L^2`` numbers), else unary only.
    """
    n, L = crf.unary.shape
    rows = np.arange(n)
    out = crf.unary - crf.unary[rows, y][:, None]
    if crf.n_edges and crf.n_edges * L * L <= _EDGE_TABLE_ELEMS:
        t = crf.edge_tables()
        i, j = crf.edges[:, 0], crf.edges[:, 1]
        e = np.arange(crf.n_edges)
        now = t[e, y[i], y[j]][:, None]
        np.add.at(out, i, t[e, :, y[j]] - now)
        np.add.at(out, j, t[e, y[i], :] - now)
    return out


def _feasible(y: np.ndarray, allowed: np.ndarray) -> bool:
    return bool(allowed[np.arange(y.size), y].all())


def _bmmf(model: Model, allowed0: np.ndarray, const: float, budget: Budget) -> Iterator:
    """Labellings of a forest model within ``allowed0`` in decreasing ``score + const``."""
    crf = model.crf
    n, L = crf.unary.shape
    rows = np.arange(n)
    if not allowed0.any(axis=1).all() or not budget.take():
        return
    counter = itertools.count()
    heap: list = []

    def push_second(allowed: np.ndarray, y_best: np.ndarray) -> None:
        if not budget.take():
            return
        mm = _tree_max_marginals(model.constrained(allowed))
        cand = np.where(allowed, mm, -np.inf)
        cand[rows, y_best] = -np.inf
        k = int(np.argmax(cand))
        if not np.isfinite(cand.flat[k]) or not budget.take():
            return
        i, lab = divmod(k, L)
        sub = allowed.copy()
        sub[i] = False
        sub[i, lab] = True
        y2 = model.solve(sub)
        if _feasible(y2, sub):
            budget.saw(y2)
            v2 = float(crf.score(y2)) + const
            heapq.heappush(heap, (-v2, next(counter), y2, allowed, y_best, i))

    y1 = model.solve(allowed0)
    if not _feasible(y1, allowed0):
        return
    yield float(crf.score(y1)) + const, y1
    push_second(allowed0, y1)
    while heap:  # after a cut, the labellings already solved are still yielded
        neg, _, y2, allowed, y_r, i = heapq.heappop(heap)
        yield -neg, y2
        keep = allowed.copy()  # y_i fixed to y_r[i]: best y_r
        keep[i] = False
        keep[i, y_r[i]] = True
        other = allowed.copy()  # y_i != y_r[i]: best y2
        other[i, y_r[i]] = False
        push_second(keep, y_r)
        push_second(other, y2)


def forest_enumeration(model: Model, budget: Budget) -> Iterator | None:
    """Exact enumeration of a forest model in decreasing ``M`` (``None`` if not applicable)."""
    n, L = model.crf.unary.shape
    if model.cards:
        return None
    h = model.h
    if h is None or not np.any(h > 0):
        return _bmmf(model, np.ones((n, L), dtype=bool), model.offset, budget)
    costly = np.flatnonzero(h > 0)
    if costly.size > _MAX_COSTLY_LABELS:
        return None
    free = np.setdiff1d(np.arange(L), costly)
    plain = Model(model.crf, "tree", seed=model.seed)
    plain.big = model.big
    gens = []
    for r in range(costly.size + 1):
        for subset in itertools.combinations(costly.tolist(), r):
            labels = np.concatenate([free, np.array(subset, dtype=np.int64)])
            if labels.size == 0:
                continue
            allowed = np.zeros((n, L), dtype=bool)
            allowed[:, labels] = True
            const = model.offset - float(h[list(subset)].sum())
            gens.append(_bmmf(plain, allowed, const, budget))
    return heapq.merge(*gens, key=lambda item: -item[0])


def murty(model: Model, y1: np.ndarray, budget: Budget) -> Iterator:
    """Lawler-Murty enumeration from the model's (approximate) best ``y1``, best first."""
    crf = model.crf
    n, L = crf.unary.shape
    counter = itertools.count()
    heap: list = []

    def split(allowed: np.ndarray, y: np.ndarray) -> None:
        deltas = np.where(allowed, flip_deltas(crf, y), -np.inf)
        deltas[np.arange(n), y] = -np.inf
        cheapest = deltas.max(axis=1)
        fixed = allowed.copy()
        for i in np.argsort(-cheapest, kind="stable"):  # cheapest change first
            if not np.isfinite(cheapest[i]):
                continue  # node i has no other allowed label
            if not budget.take():
                return
            sub = fixed.copy()
            sub[i, y[i]] = False
            init = y.copy()
            init[i] = int(np.argmax(np.where(sub[i], deltas[i], -np.inf)))
            y_s = np.asarray(model.solve(sub, init), dtype=np.int64)
            if _feasible(y_s, sub):
                budget.saw(y_s)
                heapq.heappush(heap, (-model.value(y_s), next(counter), y_s, sub))
            fixed[i] = False
            fixed[i, y[i]] = True

    yield model.value(y1), y1
    split(np.ones((n, L), dtype=bool), y1)
    while heap:
        neg, _, y, allowed = heapq.heappop(heap)
        yield -neg, y
        split(allowed, y)


def best_new(
    enumeration: Iterator,
    F: Callable[[np.ndarray], float],
    excluded: set,
    best: tuple[np.ndarray | None, float],
    budget: Budget,
    *,
    exact: bool,
) -> tuple[np.ndarray | None, float, bool]:
    """Branch and bound over an enumeration in decreasing ``M``: the best ``F`` outside
    ``excluded``. ``exact``: the enumeration is exact and ``M >= F``; then the scan stops on the
    bound and the answer is certified when it stops there or runs out. Otherwise the scan runs
    until the budget is spent. Returns ``(y, F(y), certified)``.
    """
    best_y, best_val = best
    budget.found = budget.found or best_y is not None
    for m_val, y in enumeration:
        if exact and best_y is not None and m_val <= best_val + _tol(best_val):
            return best_y, best_val, not budget.cut
        if key(y) not in excluded:
            v = F(y)
            if best_y is None or v > best_val:
                best_y, best_val = y, v
            budget.found = True
    return best_y, best_val, exact and not budget.cut


def any_new(y: np.ndarray, excluded: set, n_labels: int) -> np.ndarray:
    """A labelling outside ``excluded`` nearest to ``y`` (breadth-first over single-node moves).

    The last resort of a forced change; terminates when ``excluded`` has fewer than ``L^n``
    labellings (visits at most ``len(excluded) + 1`` labellings' neighbourhoods).
    """
    if key(y) not in excluded:
        return y
    seen = {key(y)}
    frontier = [y]
    while frontier:
        nxt = []
        for z in frontier:
            for i in range(z.size):
                for lab in range(n_labels):
                    if lab != z[i]:
                        w = z.copy()
                        w[i] = lab
                        k = key(w)
                        if k not in excluded:
                            return w
                        if k not in seen:
                            seen.add(k)
                            nxt.append(w)
        frontier = nxt
    raise ValueError("every labelling is excluded")  # pragma: no cover - checked by callers


def polish(
    F_batch: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    val: float,
    excluded: set,
    n_labels: int,
    *,
    rounds: int = 50,
) -> tuple[np.ndarray, float, int]:
    """Best-improvement single-node moves on ``F`` that never land on an excluded labelling.

    Only when the ``n (L - 1)`` moves are at most ``_POLISH_NEIGHBOURS``; each round evaluates
    them all in one batch. Returns ``(y, F(y), number of moves made)``.
    """
    n = y.size
    if n * (n_labels - 1) > _POLISH_NEIGHBOURS:
        return y, val, 0
    nodes = np.repeat(np.arange(n), n_labels - 1)
    shift = np.tile(np.arange(1, n_labels), n)
    moves = 0
    for _ in range(rounds):
        Y = np.repeat(y[None, :], nodes.size, axis=0)
        Y[np.arange(nodes.size), nodes] = (y[nodes] + shift) % n_labels
        vals = F_batch(Y)
        improved = False
        for idx in np.argsort(-vals, kind="stable"):
            if vals[idx] <= val + _tol(val):
                break
            if key(Y[idx]) not in excluded:
                y, val, improved = Y[idx], float(vals[idx]), True
                moves += 1
                break
        if not improved:
            break
    return y, val, moves
