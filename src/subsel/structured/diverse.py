"""Greedy selection of M diverse, high-scoring labellings (eq. 2 of Prasad, Jegelka & Batra).

``S^t = S^{t-1} + argmax_y r(y) + lam d(y | S^{t-1})`` where ``r`` is a :class:`PairwiseCRF`'s
score and ``d`` a diversity term of :mod:`subsel.structured.diversity`. Each step is one MAP
query with a high-order potential; :func:`solve_step` answers it.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from .._progress import progress_range
from .._validation import check_int, param_error
from .crf import PairwiseCRF
from .diversity import (
    DiversityTerm,
    DivMBest,
    HammingBall,
    LabelCost,
    LabelTransition,
    SumOfDiversities,
    Surrogate,
)
from .inference import alpha_expansion, graph_cut, max_product, tree_map

__all__ = ["diverse_solutions", "solve_step", "make_diversity", "oracle_curve", "DIVERSITIES"]

DIVERSITIES = ("hamming", "divmbest", "hamming_ball", "label_cost", "label_transition")
SOLVERS = ("auto", "max_product", "exact")
_EXACT_LIMIT = 2**20


def make_diversity(spec: Any, lam: float = 1.0, **params: Any) -> DiversityTerm:
    """A diversity term from a name (``"hamming"`` = ``"divmbest"``, ``"hamming_ball"``,
    ``"label_cost"``, ``"label_transition"``) with weight ``lam`` and its parameters (``gamma``,
    ``clamp`` for Hamming balls; ``h``, ``parsimony``, ``ignore`` for the label terms), or a
    :class:`DiversityTerm` passed through unchanged."""
    if isinstance(spec, DiversityTerm):
        return spec
    if not isinstance(spec, str) or spec not in DIVERSITIES:
        raise param_error(
            "diverse_solutions",
            "diversity",
            f"one of {DIVERSITIES}, a DiversityTerm, or a list of them",
            spec,
            kind=TypeError if not isinstance(spec, str) else ValueError,
        )
    allowed = {
        "hamming": (),
        "divmbest": (),
        "hamming_ball": ("gamma", "clamp"),
        "label_cost": ("h", "parsimony", "ignore"),
        "label_transition": ("h", "parsimony", "ignore"),
    }[spec]
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise TypeError(
            f"diverse_solutions got parameter(s) {extra} that diversity={spec!r} does not take; "
            f"it takes {list(allowed) or 'none'}."
        )
    kw = {k: v for k, v in params.items() if k in allowed}
    if spec in ("hamming", "divmbest"):
        return DivMBest(lam)
    if spec == "hamming_ball":
        return HammingBall(lam, **kw)
    if spec == "label_cost":
        return LabelCost(lam, **kw)
    return LabelTransition(lam, **kw)


# --------------------------------------------------------------------------- one greedy step
def _with_surrogate(crf: PairwiseCRF, sur: Surrogate) -> PairwiseCRF:
    out = crf if sur.unary is None else crf.with_unary(sur.unary)
    if sur.pair_costs is not None and np.any(sur.pair_costs > 0):
        tables = out.edge_tables() - sur.pair_costs[None, :, :]
        out = PairwiseCRF(out.unary, out.edges, tables)
    return out


def _map(crf: PairwiseCRF, label_costs: np.ndarray | None, init: np.ndarray | None, seed):
    """Best available MAP solver for the model: exact where the structure allows it."""
    if label_costs is not None and np.any(label_costs > 0):
        return alpha_expansion(crf, label_costs=label_costs, init=init, seed=seed)
    if crf.n_labels == 2:
        try:
            return graph_cut(crf)
        except ValueError:
            pass  # not submodular: fall through to expansion
    if crf.n_edges == 0 or crf.is_forest():
        return tree_map(crf)
    return alpha_expansion(crf, init=init, seed=seed)


def _exact_step(crf: PairwiseCRF, term: DiversityTerm, S: np.ndarray) -> np.ndarray:
    n, L = crf.n_nodes, crf.n_labels
    if L**n > _EXACT_LIMIT:
        raise ValueError(
            f"solver='exact' enumerates all L^n = {L}^{n} labellings; that is over "
            f"{_EXACT_LIMIT}. Use solver='auto' for graphs this large."
        )
    Y = np.array(list(itertools.product(range(L), repeat=n)), dtype=np.int64)
    total = crf.score(Y) + np.array([term.value(crf, y, S) for y in Y])
    seen = {tuple(y) for y in S}
    for j in np.argsort(-total, kind="stable"):
        if tuple(Y[j]) not in seen:
            return Y[j]
    return Y[0]  # pragma: no cover - every labelling already chosen


def solve_step(
    crf: PairwiseCRF,
    term: DiversityTerm,
    S: Any,
    *,
    solver: str = "auto",
    max_iter: int = 10,
    seed: Any = None,
) -> tuple[np.ndarray, dict]:
    """One greedy augmentation: approximately ``argmax_y crf.score(y) + term.value(crf, y, S)``.

    ``solver="auto"``: the diversity term's :meth:`surrogate` at the current ``y`` is folded into
    the CRF (unary scores, label costs, per-edge pair costs) and solved by the best MAP solver for
    the result: graph cut (binary, submodular), exact max-product (forests), alpha-expansion
    (with Delong label costs when present). Terms whose surrogate is not exact (Hamming balls,
    label transitions) are re-linearized at the new ``y`` up to ``max_iter`` times, from two
    starts (the last solution, and a labelling with no label transitions); the best labelling by
    the true objective is returned. ``"max_product"``: Hamming-ball terms become cardinality
    factors of loopy max-product (Tarlow et al.); other terms must have exact surrogates.
    ``"exact"``: enumeration of all ``L^n`` labellings (tiny graphs; never repeats a labelling).

    Returns ``(y, info)`` with ``info = {"objective", "relevance", "diversity", "map_calls"}``.
    Cost: ``map_calls`` MAP solves, each ``O(n + m)`` graph cuts (times ``L`` for expansion).
    """
    S = np.asarray(S, dtype=np.int64).reshape(-1, crf.n_nodes)

    def total(y):
        return crf.score(y) + term.value(crf, y, S)

    calls = 0
    if solver == "exact":
        y = _exact_step(crf, term, S)
        calls = 1
    elif solver == "max_product":
        terms = term.terms if isinstance(term, SumOfDiversities) else [term]
        sur, card = Surrogate(), []
        for t in terms:
            if isinstance(t, HammingBall):
                card.extend(t.cardinality(crf, S))
            elif t.exact_surrogate and not isinstance(t, LabelCost):
                sur = sur + t.surrogate(crf, None, S)
            else:
                raise ValueError(
                    f"solver='max_product' handles Hamming-ball and DivMBest terms; got "
                    f"{type(t).__name__}. Use solver='auto'."
                )
        y = max_product(_with_surrogate(crf, sur), cardinality=card)
        calls = 1
    else:
        starts: list[np.ndarray | None] = [S[-1] if len(S) else None]
        if not term.exact_surrogate and len(S):
            flat = int(np.argmax(crf.unary.sum(axis=0)))
            starts.append(np.full(crf.n_nodes, flat, dtype=np.int64))
            for sur in term.starts(crf, S):
                starts.append(_map(_with_surrogate(crf, sur), sur.label_costs, S[-1], seed))
                calls += 1
        best_y, best_val = None, -np.inf
        for y0 in starts:
            y = y0
            val = -np.inf if y is None else total(y)
            for _ in range(1 if term.exact_surrogate else max_iter):
                if y is None:
                    sur = term.surrogate(crf, np.zeros(crf.n_nodes, dtype=np.int64), S)
                else:
                    sur = term.surrogate(crf, y, S)
                y_new = _map(_with_surrogate(crf, sur), sur.label_costs, y, seed)
                calls += 1
                new_val = total(y_new)
                if new_val <= val + 1e-9 * (1.0 + abs(val)):
                    break
                y, val = y_new, new_val
            if y is not None and val > best_val:
                best_y, best_val = y, val
        y = best_y
    relevance = float(crf.score(y))
    div = float(term.value(crf, y, S))
    info = {"objective": relevance + div, "relevance": relevance, "diversity": div}
    info["map_calls"] = calls
    return np.asarray(y, dtype=np.int64), info


# --------------------------------------------------------------------------- the greedy
def _terms_from(diversity: Any, lam: float, params: dict) -> list[DiversityTerm]:
    specs = diversity if isinstance(diversity, (list, tuple)) else [diversity]
    if not specs:
        raise param_error("diverse_solutions", "diversity", "a non-empty list", diversity)
    return [make_diversity(s, lam, **params) for s in specs]


def diverse_solutions(
    crf: PairwiseCRF,
    M: int,
    *,
    diversity: Any = "hamming",
    lam: float = 1.0,
    combine: str = "sum",
    weights: Any = None,
    solver: str = "auto",
    max_iter: int = 10,
    seed: Any = None,
    progress: bool = False,
    return_info: bool = False,
    **params: Any,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """``M`` diverse labellings by the greedy of eq. 2: ``y^t = argmax_y r(y) + lam d(y | S)``.

    Parameters
    ----------
    crf : PairwiseCRF
        The relevance model ``r(y) = crf.score(y)``.
    M : int >= 1
        Number of labellings; the first is the MAP.
    diversity : str, DiversityTerm, or a list of them
        ``"hamming"`` / ``"divmbest"`` (linear Hamming, Batra et al.), ``"hamming_ball"`` (eq. 10,
        ``gamma=``, ``clamp=``), ``"label_cost"`` / ``"label_transition"`` (``h=`` in
        ``"min1" | "sqrt" | "log1p"`` or a callable, ``parsimony=``, ``ignore=``). A list is
        combined by ``combine``.
    lam : float >= 0
        Weight of the diversity (for names; a DiversityTerm carries its own).
    combine : {"sum", "concat"}
        For a list: ``"sum"`` greedily maximizes the weighted sum of the terms (``weights``
        multiply them; section 4's (+)); ``"concat"`` (section 4's (x)) keeps the MAP first and
        gives the other ``M - 1`` places to the terms in turn, each term running its own greedy
        from ``[MAP]``, and concatenates the lists.
    solver : {"auto", "max_product", "exact"}
        See :func:`solve_step`.
    return_info : bool
        Also return a dict with per-step ``objective``, ``relevance``, ``diversity``,
        ``map_calls``, and ``seconds``.

    Returns
    -------
    solutions : ndarray of int64, shape (M, n)
        In the order chosen. Approximate solvers may repeat a labelling when no better one exists.
    """
    func = "diverse_solutions"
    if not isinstance(crf, PairwiseCRF):
        raise param_error(func, "crf", "a PairwiseCRF", crf, kind=TypeError)
    M = check_int(M, "M", func, low=1)
    if combine not in ("sum", "concat"):
        raise param_error(func, "combine", "'sum' or 'concat'", combine)
    if solver not in SOLVERS:
        raise param_error(func, "solver", f"one of {SOLVERS}", solver)
    max_iter = check_int(max_iter, "max_iter", func, low=1)
    terms = _terms_from(diversity, lam, params)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(terms),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise param_error(
                func, "weights", f"{len(terms)} finite floats >= 0 (one per term)", weights
            )
        terms = [_scaled(t, float(c)) for t, c in zip(terms, w, strict=True)]

    start = time.perf_counter()
    info: dict[str, list] = {"objective": [], "relevance": [], "diversity": [], "map_calls": []}
    if combine == "sum" or len(terms) == 1:
        plan = [(SumOfDiversities(terms) if len(terms) > 1 else terms[0], M)]
    else:
        share = [(M - 1) // len(terms) + (i < (M - 1) % len(terms)) for i in range(len(terms))]
        plan = [(t, 1 + s) for t, s in zip(terms, share, strict=True)]
    # One entry per greedy step: (term, its list so far). Under "concat" every list starts from
    # the shared MAP, which is computed once (by the first term) and counted once.
    schedule = [(k, t) for k, (_, count) in enumerate(plan) for t in range(count)]
    lists: list[list[np.ndarray]] = [[] for _ in plan]
    out: list[np.ndarray] = []
    steps = iter(schedule)
    for _ in progress_range(M, progress, "diverse solutions"):
        k, t = next(steps)
        while t == 0 and k > 0:
            lists[k].append(lists[0][0])
            k, t = next(steps)
        y, step = solve_step(crf, plan[k][0], lists[k], solver=solver, max_iter=max_iter, seed=seed)
        lists[k].append(y)
        out.append(y)
        for key in info:
            info[key].append(step[key])
    sols = np.stack(out[:M])
    if return_info:
        return sols, {**info, "seconds": time.perf_counter() - start}
    return sols


class _Scaled(DiversityTerm):
    def __init__(self, term: DiversityTerm, c: float):
        self.term, self.c, self.lam = term, c, c
        self.exact_surrogate = term.exact_surrogate

    def value(self, crf, y, S):
        return self.c * self.term.value(crf, y, S)

    def _mul(self, s: Surrogate) -> Surrogate:
        def mul(a):
            return None if a is None else self.c * a

        return Surrogate(mul(s.unary), mul(s.label_costs), mul(s.pair_costs), self.c * s.const)

    def surrogate(self, crf, y, S):
        return self._mul(self.term.surrogate(crf, y, S))

    def starts(self, crf, S):
        return [self._mul(s) for s in self.term.starts(crf, S)]


def _scaled(term: DiversityTerm, c: float) -> DiversityTerm:
    return term if c == 1.0 else _Scaled(term, c)


def oracle_curve(scores: Any) -> np.ndarray:
    """Oracle accuracy of the first ``M`` solutions for every ``M``: the running maximum ``(M,)``
    of per-solution scores (e.g. IoU with the ground truth)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"Input 'scores' of oracle_curve must be 1-d and non-empty; got {s.shape}."
        )
    return np.maximum.accumulate(s)
