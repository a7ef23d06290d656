"""One greedy step of structured diversity: ``argmax_{y not excluded} r(y) + lam d(y | S)``.

Three stages (see :func:`run_step`):

1. the *raw step*: the term's surrogate folded into the CRF and solved by the best MAP solver
   for the result (iterated linearization from several starts for non-exact surrogates), or
   loopy max-product with cardinality factors (``solver="max_product"``);
2. the *search* for the best labelling not yet chosen (:mod:`._search`): branch and bound over
   an exact enumeration of the surrogate (forests; binary submodular graphs of modest size),
   which certifies the step; where no exact enumeration exists and the raw step only found
   chosen labellings, a forced change by Lawler-Murty partitioning with the step's own solver;
3. a *polish* by single-node moves on the true objective when the step is not certified.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .._validation import param_error
from . import _search
from ._cuts import _is_submodular, alpha_expansion, graph_cut
from ._max_product import max_product
from ._tree import tree_map
from .crf import PairwiseCRF
from .diversity import DiversityTerm, HammingBall, LabelCost, SumOfDiversities, Surrogate

_EXACT_LIMIT = 2**20  # solver="exact" enumerates at most this many labellings
_SMALL = 4096  # n * L up to this: search budgets for certification
_TINY = 256  # n * L up to this: heuristic branch and bound with approximate solvers too
_MURTY_NODES = 64  # exact Lawler-Murty (n solves a labelling) only up to this many nodes
_BUDGET_SMALL, _BUDGET_LARGE = 256, 16  # MAP / max-marginal solves per search stage
_BUDGET_HEURISTIC = 64  # solves of the heuristic branch and bound on tiny models


def with_surrogate(crf: PairwiseCRF, sur: Surrogate) -> PairwiseCRF:
    """The CRF with a surrogate's unary scores and per-edge pair costs folded in."""
    out = crf if sur.unary is None else crf.with_unary(sur.unary)
    if sur.pair_costs is not None and np.any(sur.pair_costs > 0):
        tables = out.edge_tables() - sur.pair_costs[None, :, :]
        out = PairwiseCRF(out.unary, out.edges, tables)
    return out


def _costs(sur: Surrogate) -> np.ndarray | None:
    h = sur.label_costs
    return h if h is not None and np.any(h > 0) else None


def map_solve(crf: PairwiseCRF, label_costs, init, seed) -> tuple[np.ndarray, bool]:
    """Best available MAP solver for the model: ``(y, exact)``; exact where the structure allows
    (graph cut on binary submodular models, max-product on forests), else alpha-expansion."""
    if label_costs is not None and np.any(label_costs > 0):
        return alpha_expansion(crf, label_costs=label_costs, init=init, seed=seed), False
    if crf.n_labels == 2 and _is_submodular(crf):
        return graph_cut(crf), True
    if crf.n_edges == 0 or crf.is_forest():
        return tree_map(crf), True
    return alpha_expansion(crf, init=init, seed=seed), False


def _terms(term: DiversityTerm) -> list[DiversityTerm]:
    return term.terms if isinstance(term, SumOfDiversities) else [term]


def _max_product_parts(crf, term, S) -> tuple[PairwiseCRF, list]:
    """The CRF with the linear terms folded in, and the Hamming balls as cardinality factors."""
    sur, card = Surrogate(), []
    for t in _terms(term):
        if isinstance(t, HammingBall):
            card.extend(t.cardinality(crf, S))
        elif t.exact_surrogate and not isinstance(t, LabelCost):
            sur = sur + t.surrogate(crf, None, S)
        else:
            raise param_error(
                "solve_step",
                "solver",
                f"'auto' or 'exact' for a {type(t).__name__} term ('max_product' handles "
                "Hamming-ball and DivMBest terms only)",
                "max_product",
            )
    return with_surrogate(crf, sur), card


def _raw_auto(crf, term, S, max_iter, seed, F):
    """Iterated linearization from several starts. Returns ``(candidates, calls, exact_y)``:
    every labelling visited with its objective, and the answer of one exact MAP of an exact
    surrogate (``None`` when the step had no such MAP)."""
    cands: list[tuple[np.ndarray, float]] = []
    calls = 0
    exact_y = None
    starts: list[np.ndarray | None] = [S[-1] if len(S) else None]
    if not term.exact_surrogate and len(S):
        flat = int(np.argmax(crf.unary.sum(axis=0)))
        starts.append(np.full(crf.n_nodes, flat, dtype=np.int64))
        for sur in term.starts(crf, S):
            y, _ = map_solve(with_surrogate(crf, sur), sur.label_costs, S[-1], seed)
            starts.append(y)
            calls += 1
    for y in starts:
        val = -np.inf if y is None else F(y)
        if y is not None:
            cands.append((y, val))
        for _ in range(1 if term.exact_surrogate else max_iter):
            point = np.zeros(crf.n_nodes, dtype=np.int64) if y is None else y
            sur = term.surrogate(crf, point, S)
            y_new, exact = map_solve(with_surrogate(crf, sur), sur.label_costs, y, seed)
            calls += 1
            new_val = F(y_new)
            cands.append((y_new, new_val))
            if exact and term.exact_surrogate:
                exact_y = y_new
            if new_val <= val + 1e-9 * (1.0 + abs(val)):
                break
            y, val = y_new, new_val
    return cands, calls, exact_y


def _search_model(crf, term, S, point, solver, seed, f_point) -> _search.Model:
    """The surrogate at ``point`` as a search model, shifted to equal ``F`` there."""
    sur = term.surrogate(crf, point, S)
    crf_s = with_surrogate(crf, sur)
    h = _costs(sur)
    if crf_s.n_edges == 0 or crf_s.is_forest():
        model = _search.Model(crf_s, "tree", h=h, seed=seed)
    elif h is None and _is_submodular(crf_s):
        model = _search.Model(crf_s, "cut", seed=seed)
    elif solver == "max_product":
        crf_mp, cards = _max_product_parts(crf, term, S)
        model = _search.Model(crf_mp, "max_product", cards=cards, seed=seed)
    else:
        model = _search.Model(crf_s, "expansion", h=h, seed=seed)
    model.offset = f_point - model.value(point)
    return model


def _exact_step(crf, term, S, excluded) -> np.ndarray:
    n, L = crf.n_nodes, crf.n_labels
    if L**n > _EXACT_LIMIT:
        raise param_error(
            "solve_step",
            "solver",
            f"'auto' or 'max_product' for this CRF ('exact' enumerates all L^n = {L}^{n} "
            f"labellings; at most {_EXACT_LIMIT} are allowed)",
            "exact",
        )
    Y = np.array(list(itertools.product(range(L), repeat=n)), dtype=np.int64)
    total = crf.score(Y) + np.array([term.value(crf, y, S) for y in Y])
    for j in np.argsort(-total, kind="stable"):
        if _search.key(Y[j]) not in excluded:
            return Y[j]
    raise AssertionError("every labelling is excluded")  # pragma: no cover - checked by callers


def _plain_model(crf: PairwiseCRF, offset: float, seed) -> _search.Model | None:
    """The CRF alone as an exactly solvable search model (forests, binary submodular), or None."""
    if crf.n_edges == 0 or crf.is_forest():
        return _search.Model(crf, "tree", offset=offset, seed=seed)
    if _is_submodular(crf):
        return _search.Model(crf, "cut", offset=offset, seed=seed)
    return None


def _exact_enumeration(model: _search.Model, budget: _search.Budget, forced: bool):
    """An exact enumeration of ``model`` in decreasing value, or None.

    Forests: best max-marginal first. Otherwise Lawler-Murty with an exact solver, which costs
    ``n`` solves a labelling: only for ``n <= 64`` nodes, or to force a change.
    """
    if model.kind == "tree":
        enum = _search.forest_enumeration(model, budget)
        if enum is not None:
            return enum
    n = model.crf.n_nodes
    if model.exact and (n <= _MURTY_NODES or forced) and budget.take():
        return _search.murty(model, model.solve(model.all()), budget)
    return None


def _best_new(crf, term, S, excluded, solver, seed, F, best, top):
    """Search for the best labelling outside ``excluded``: ``(y, F(y), certified, solves)``.

    1. Branch and bound over the surrogate at the best labelling found (an upper bound of
       ``F`` for exact and tangent surrogates), exactly enumerated where a model allows it.
    2. If not certified: branch and bound over ``r(y) + max d`` (any term with a known bound
       ``max_y d(y | S)``), enumerated exactly on forests and binary submodular CRFs.
    3. If still nothing new (or ``n L <= 256``): Lawler-Murty partitioning with the step's own
       (approximate) solver, and as a last resort the nearest labelling not chosen.
    Stages 1-2 run on models with ``n L <= 4096`` (or when the step found only chosen
    labellings), each within a budget of solves.
    """
    n, L = crf.unary.shape
    best_y, best_val = best
    top_y, top_val = top
    small = n * L <= _SMALL
    limit = _BUDGET_SMALL if small else _BUDGET_LARGE
    point, f_point = (best_y, best_val) if best_y is not None else (top_y, top_val)
    model = _search_model(crf, term, S, point, solver, seed, f_point)
    solves, exact = 0, False
    stages = []  # (enumeration maker, exact enumeration?, budget)
    if term.upper_surrogate and (small or best_y is None):
        stages.append((lambda b: _exact_enumeration(model, b, best_y is None), True, limit))
    bound = term.value_bound(crf, S)
    plain = None if bound is None else _plain_model(crf, bound, seed)
    if plain is not None and (small or best_y is None):
        stages.append((lambda b: _exact_enumeration(plain, b, best_y is None), True, limit))
    if (n * L <= _TINY and not model.exact) or best_y is None:
        # Lawler-Murty with the step's own (approximate) solver: a heuristic search on tiny
        # models, a forced change elsewhere
        stages.append((lambda b: _search.murty(model, point, b), False, _BUDGET_HEURISTIC))
    for make, enum_exact, size in stages:
        budget = _search.Budget(min(size, limit), excluded)
        enum = make(budget)
        if enum is not None:
            best_y, best_val, exact = _search.best_new(
                enum, F, excluded, (best_y, best_val), budget, exact=enum_exact
            )
        solves += budget.used
        if exact:
            break
    if best_y is None:  # the solver kept to chosen labellings: the nearest new one
        best_y = _search.any_new(top_y, excluded, L)
        best_val = F(best_y)
    return best_y, best_val, exact, solves


_FLIP_CANDIDATES = 64


def _better_flip(crf, top_y, y, excluded: set, F, F_batch) -> np.ndarray:
    """``y``, or a single-node change of the solver's best labelling ``top_y`` if one scores more.

    An approximate step solver (loopy max-product with the Hamming-ball factor on a grid) can
    return a new labelling far worse than the best one, e.g. one that breaks the hard strokes of a
    segmentation, while a change of one node of ``top_y`` (the MAP, already chosen) is new and
    nearly as good. The ``_FLIP_CANDIDATES`` changes that cost the least node score are scored
    with the true step objective (``O(64 (n + m))``, in batches of 16 rows).
    """
    n, L = crf.unary.shape
    if L < 2:
        return y
    top_y = np.asarray(top_y, dtype=np.int64)
    rows = np.arange(n)
    loss = crf.unary[rows, top_y][:, None] - crf.unary  # (n, L): node score given up
    loss[rows, top_y] = np.inf
    m = min(_FLIP_CANDIDATES, n * (L - 1))
    flat = np.argpartition(loss.ravel(), m - 1)[:m]
    nodes, labels = np.divmod(flat, L)
    best_y, best_val = y, F(y)
    for lo in range(0, m, 16):
        Y = np.repeat(top_y[None, :], min(16, m - lo), axis=0)
        Y[np.arange(Y.shape[0]), nodes[lo : lo + 16]] = labels[lo : lo + 16]
        vals = F_batch(Y)
        for j in np.argsort(-vals, kind="stable"):
            if vals[j] <= best_val:
                break
            if _search.key(Y[j]) not in excluded:
                best_y, best_val = Y[j].copy(), float(vals[j])
                break
    return best_y


def run_step(crf, term, S, excluded: set, solver: str, max_iter: int, seed: Any):
    """:func:`~subsel.structured.diverse.solve_step` on checked arguments."""
    L = crf.n_labels

    def F(y) -> float:
        return float(crf.score(y)) + float(term.value(crf, y, S))

    def F_batch(Y) -> np.ndarray:
        return np.asarray(crf.score(Y)) + np.array([term.value(crf, y, S) for y in Y])

    forced, exact, calls = False, False, 0
    if solver == "exact":
        y, exact, calls = _exact_step(crf, term, S, excluded), True, 1
    else:
        exact_y = None
        if solver == "max_product":
            crf_mp, cards = _max_product_parts(crf, term, S)
            y0 = max_product(crf_mp, cardinality=cards)
            cands, calls = [(y0, F(y0))], 1
        else:
            cands, calls, exact_y = _raw_auto(crf, term, S, max_iter, seed, F)
        top_y, top_val = max(cands, key=lambda c: c[1])
        new = [c for c in cands if _search.key(c[0]) not in excluded]
        best_y, best_val = max(new, key=lambda c: c[1]) if new else (None, -np.inf)
        forced = _search.key(top_y) in excluded
        if exact_y is not None and _search.key(exact_y) not in excluded:
            y, exact = exact_y, True
        else:
            y, _, exact, solves = _best_new(
                crf, term, S, excluded, solver, seed, F, (best_y, best_val), (top_y, top_val)
            )
            calls += solves
            if not exact:
                y, _, _ = _search.polish(F_batch, y, F(y), excluded, L)
                y = _better_flip(crf, top_y, y, excluded, F, F_batch)
    y = np.asarray(y, dtype=np.int64)
    relevance = float(crf.score(y))
    div = float(term.value(crf, y, S))
    info = {
        "objective": relevance + div,
        "relevance": relevance,
        "diversity": div,
        "map_calls": calls,
        "exact": bool(exact),
        "forced": bool(forced),
    }
    return y, info
