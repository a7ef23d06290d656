"""Greedy selection of M diverse, high-scoring labellings (eq. 2 of Prasad, Jegelka & Batra).

``S^t = S^{t-1} + argmax_{y not in S^{t-1}} r(y) + lam d(y | S^{t-1})`` where ``r`` is a
:class:`PairwiseCRF`'s score and ``d`` a diversity term of :mod:`subsel.structured.diversity`.
The greedy is over a *set*: a labelling already chosen has gain 0, so every step is the best
labelling not yet chosen, and the ``M`` labellings returned are distinct. Each step is one MAP
query with a high-order potential plus, when needed, a search for the best new labelling;
:func:`solve_step` answers it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._progress import progress_range
from .._validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_seed,
    check_vector,
    param_error,
)
from ._search import key
from ._step import run_step
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

__all__ = ["diverse_solutions", "solve_step", "make_diversity", "oracle_curve", "DIVERSITIES"]

DIVERSITIES = ("hamming", "divmbest", "hamming_ball", "label_cost", "label_transition")
SOLVERS = ("auto", "max_product", "exact")
_PARAMS = {
    "hamming": (),
    "divmbest": (),
    "hamming_ball": ("gamma", "clamp"),
    "label_cost": ("h", "parsimony", "ignore"),
    "label_transition": ("h", "parsimony", "ignore"),
}


def _make(spec: Any, lam: Any, params: dict, func: str, name: str) -> DiversityTerm:
    if isinstance(spec, DiversityTerm):
        return spec
    what = f"one of {DIVERSITIES}, a DiversityTerm, or a list of them"
    if not isinstance(spec, str) or spec not in DIVERSITIES:
        kind = TypeError if not isinstance(spec, str) else ValueError
        raise param_error(func, name, what, spec, kind=kind)
    allowed = _PARAMS[spec]
    for extra in sorted(set(params) - set(allowed)):
        takes = f"takes {list(allowed)}" if allowed else "takes no parameters"
        raise param_error(
            func, extra, f"left out for {name}={spec!r} (it {takes})", params[extra], kind=TypeError
        )
    if spec in ("hamming", "divmbest"):
        return DivMBest(lam)
    if spec == "hamming_ball":
        return HammingBall(lam, **params)
    return (LabelCost if spec == "label_cost" else LabelTransition)(lam, **params)


def make_diversity(spec: Any, lam: float = 1.0, **params: Any) -> DiversityTerm:
    """A diversity term from a name (``"hamming"`` = ``"divmbest"``, ``"hamming_ball"``,
    ``"label_cost"``, ``"label_transition"``) with weight ``lam`` and its parameters (``gamma``,
    ``clamp`` for Hamming balls; ``h``, ``parsimony``, ``ignore`` for the label terms), or a
    :class:`DiversityTerm` passed through unchanged."""
    if not isinstance(spec, DiversityTerm):
        lam = check_real(lam, "lam", "make_diversity", low=0.0)
    return _make(spec, lam, params, "make_diversity", "spec")


def _labellings(crf: PairwiseCRF, value: Any, name: str, func: str) -> np.ndarray:
    """A batch of labellings ``(k, n)`` (``k`` may be 0; one labelling ``(n,)`` is one row)."""
    arr = as_real_array(value, name, func, what="an array of labellings (k, n)")
    if arr.size == 0:
        return np.zeros((0, crf.n_nodes), dtype=np.int64)
    return crf.check_labels(arr, func, name).reshape(-1, crf.n_nodes)


def _n_labellings(crf: PairwiseCRF) -> float:
    """``L^n`` (a float; ``inf`` past 2^1000)."""
    log = crf.n_nodes * math.log2(crf.n_labels)
    return float(crf.n_labels**crf.n_nodes) if log < 1000 else math.inf


def solve_step(
    crf: PairwiseCRF,
    term: DiversityTerm,
    S: Any,
    *,
    solver: str = "auto",
    max_iter: int = 10,
    seed: Any = None,
    distinct: bool = True,
    exclude: Any = None,
) -> tuple[np.ndarray, dict]:
    """One greedy augmentation: ``argmax_{y not in S} crf.score(y) + term.value(crf, y, S)``.

    Parameters
    ----------
    crf : PairwiseCRF
    term : DiversityTerm
    S : array_like of int, shape (k, n)
        The labellings chosen so far (``k`` may be 0).
    solver : {"auto", "max_product", "exact"}
        ``"auto"``: the term's :meth:`~DiversityTerm.surrogate` at the current ``y`` is folded
        into the CRF (unary scores, label costs, per-edge pair costs) and solved by the best
        MAP solver for the result: graph cut (binary, submodular), exact max-product (forests),
        alpha-expansion (with Delong label costs when present). Terms whose surrogate is not
        exact (Hamming balls, label transitions) are re-linearized at the new ``y`` up to
        ``max_iter`` times, from several starts. ``"max_product"``: Hamming-ball terms become
        cardinality factors of loopy max-product (Tarlow et al.); other terms must have exact
        surrogates. ``"exact"``: enumeration of all ``L^n`` labellings (tiny graphs).
    max_iter : int >= 1
    seed : None, int >= 0 or numpy.random.Generator
        Label orders of alpha-expansion (``None``: ``0..L-1``).
    distinct : bool
        ``True`` (default): never return a labelling of ``S`` or ``exclude``; the search below
        finds the best new one. ``False``: classic DivMBest, the step solver's answer as it is
        (it may repeat a labelling of ``S`` when the diversity weight is small).
    exclude : array_like of int, shape (j, n), optional
        More labellings that may not be returned (used by ``combine="concat"``).

    Returns
    -------
    y : ndarray of int64, shape (n,)
    info : dict
        ``objective``, ``relevance``, ``diversity`` of ``y``; ``map_calls`` (MAP and
        max-marginal solves); ``exact`` (``y`` is certified the best labelling outside ``S``
        and ``exclude``); ``forced`` (the step solver's best labelling was already chosen).

    Notes
    -----
    *Best new labelling.* After the step solver, the surrogate at the best labelling found is
    shifted to touch the objective there: for exact surrogates (DivMBest, label costs) it is the
    objective, for the (unclamped) Hamming ball a tangent that lies above it. Its labellings are
    enumerated best first and the objective is evaluated on the new ones until the next
    surrogate value is no better than the best found (branch and bound), which certifies the
    step (``info["exact"]``). A second bound, ``r(y) + max_y d(y | S)``, is tried when the first
    does not certify within its budget. Exact enumerations: on forests, best max-marginal first
    (two tree passes a labelling; label costs by one enumeration per subset of the at most 6
    costly labels); on binary submodular CRFs with at most 64 nodes, Lawler-Murty partitioning
    with graph cuts (``n`` cuts a labelling). They run when ``n L <= 4096`` (at most 256 solves
    each), or when the step solver found only chosen labellings (16 solves on larger models).
    Elsewhere (alpha-expansion, loopy max-product) Lawler-Murty partitioning with the step's
    own solver forces a change (cheapest node changes first) and, for ``n L <= 256``, searches
    64 solves for a better step. An uncertified answer is polished by single-node moves on the
    true objective when there are at most 512 of them. So: certified on chains, trees and small
    binary grids; distinct everywhere. Cost: ``map_calls`` solves, each ``O(n + m)`` graph cuts
    (times ``L`` for expansion) or ``O(m L^2)`` tree passes.
    """
    func = "solve_step"
    crf = check_instance(crf, PairwiseCRF, "crf", func)
    term = check_instance(term, DiversityTerm, "term", func)
    term.check(crf)
    S = _labellings(crf, S, "S", func)
    solver = check_choice(solver, SOLVERS, "solver", func)
    max_iter = check_int(max_iter, "max_iter", func, low=1)
    check_seed(seed, func)
    distinct = check_bool(distinct, "distinct", func)
    extra = (
        S if exclude is None else np.concatenate([S, _labellings(crf, exclude, "exclude", func)])
    )
    excluded = {key(y) for y in extra} if distinct else set()
    if distinct and len(excluded) >= _n_labellings(crf):
        raise param_error(
            func,
            "S",
            f"fewer labellings than the L^n = {_n_labellings(crf):g} that exist (with "
            "'exclude'), so that a new one remains; pass distinct=False to allow repeats",
            S,
        )
    return run_step(crf, term, S, excluded, solver, max_iter, seed)


# --------------------------------------------------------------------------- the greedy
def _terms_from(diversity: Any, lam: float, params: dict, func: str) -> list[DiversityTerm]:
    """The terms of ``diversity``; in a list, each named term takes the ``params`` it knows
    (every parameter must be known to one of them)."""
    if not isinstance(diversity, (list, tuple)):
        return [_make(diversity, lam, params, func, "diversity")]
    if not diversity:
        raise param_error(func, "diversity", "a non-empty list", diversity)
    names = [s for s in diversity if isinstance(s, str) and s in _PARAMS]
    known = {p for s in names for p in _PARAMS[s]}
    for extra in sorted(set(params) - known):
        raise param_error(
            func,
            extra,
            f"left out: no term of diversity={diversity!r} takes it",
            params[extra],
            kind=TypeError,
        )
    return [
        _make(
            s, lam, {k: v for k, v in params.items() if k in _PARAMS.get(s, ())}, func, "diversity"
        )
        if isinstance(s, str)
        else _make(s, lam, {}, func, "diversity")
        for s in diversity
    ]


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
    distinct: bool = True,
    progress: bool = False,
    return_info: bool = False,
    **params: Any,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """``M`` distinct diverse labellings by the greedy of eq. 2 over the set of labellings.

    ``y^t = argmax_{y not in S} r(y) + lam d(y | S)`` with ``S`` the labellings chosen so far.

    Parameters
    ----------
    crf : PairwiseCRF
        The relevance model ``r(y) = crf.score(y)``.
    M : int >= 1
        Number of labellings; the first is the MAP. With ``distinct=True`` at most the ``L^n``
        labellings that exist (a larger ``M`` raises ``ValueError``).
    diversity : str, DiversityTerm, or a list of them
        ``"hamming"`` / ``"divmbest"`` (linear Hamming, Batra et al.), ``"hamming_ball"`` (eq. 10,
        ``gamma=``, ``clamp=``), ``"label_cost"`` / ``"label_transition"`` (``h=`` in
        ``"min1" | "sqrt" | "log1p"`` or a callable, ``parsimony=``, ``ignore=``). A list is
        combined by ``combine``; each named term of a list takes the parameters it knows.
    lam : float >= 0
        Weight of the diversity (for names; a DiversityTerm carries its own).
    combine : {"sum", "concat"}
        For a list: ``"sum"`` greedily maximizes the weighted sum of the terms (``weights``
        multiply them; section 4's (+)); ``"concat"`` (section 4's (x)) keeps the MAP first and
        gives the other ``M - 1`` places to the terms in turn, each term running its own greedy
        from ``[MAP]``, and concatenates the lists (no labelling twice across the lists).
    weights : array_like, shape (len(diversity),), optional
        Nonnegative multipliers of the terms of a list.
    solver : {"auto", "max_product", "exact"}
        See :func:`solve_step`.
    max_iter : int >= 1
        Re-linearizations per start in a step (non-exact surrogates).
    seed : None, int >= 0 or numpy.random.Generator
        Label orders of alpha-expansion.
    distinct : bool
        ``True`` (default): ``M`` distinct labellings, each step the best new one (see
        :func:`solve_step`). ``False``: classic DivMBest, each step the step solver's answer,
        which may repeat a labelling when ``lam`` is small.
    progress : bool
        Show a progress bar.
    return_info : bool
        Also return a dict with per-step ``objective``, ``relevance``, ``diversity``,
        ``map_calls``, ``exact`` and ``forced`` (see :func:`solve_step`), and ``seconds``.

    Returns
    -------
    solutions : ndarray of int64, shape (M, n)
        In the order chosen; distinct rows unless ``distinct=False``.
    """
    func = "diverse_solutions"
    crf = check_instance(crf, PairwiseCRF, "crf", func)
    M = check_int(M, "M", func, low=1)
    lam = check_real(lam, "lam", func, low=0.0)
    combine = check_choice(combine, ("sum", "concat"), "combine", func)
    solver = check_choice(solver, SOLVERS, "solver", func)
    max_iter = check_int(max_iter, "max_iter", func, low=1)
    check_seed(seed, func)
    distinct = check_bool(distinct, "distinct", func)
    progress = check_bool(progress, "progress", func)
    return_info = check_bool(return_info, "return_info", func)
    if distinct and M > _n_labellings(crf):
        raise param_error(
            func,
            "M",
            f"an int in [1, L^n] (L^n = {crf.n_labels}^{crf.n_nodes} = "
            f"{_n_labellings(crf):g} distinct labellings exist; pass distinct=False to allow "
            "repeats)",
            M,
        )
    terms = _terms_from(diversity, lam, params, func)
    if weights is not None:
        w = check_vector(weights, len(terms), "weights", func, nonnegative=True)
        terms = [_scaled(t, float(c)) for t, c in zip(terms, w, strict=True)]
    for t in terms:
        t.check(crf)

    start = time.perf_counter()
    keys = ("objective", "relevance", "diversity", "map_calls", "exact", "forced")
    info: dict[str, list] = {k: [] for k in keys}
    if combine == "sum" or len(terms) == 1:
        plan = [(SumOfDiversities(terms) if len(terms) > 1 else terms[0], M)]
    else:
        share = [(M - 1) // len(terms) + (i < (M - 1) % len(terms)) for i in range(len(terms))]
        plan = [(t, 1 + s) for t, s in zip(terms, share, strict=True)]
    # One entry per greedy step: (term, its list so far). Under "concat" every list starts from
    # the shared MAP, which is computed once (by the first term) and counted once; a list's
    # steps measure diversity against its own list and exclude every labelling chosen so far.
    schedule = [(k, t) for k, (_, count) in enumerate(plan) for t in range(count)]
    lists: list[list[np.ndarray]] = [[] for _ in plan]
    out: list[np.ndarray] = []
    steps = iter(schedule)
    n = crf.n_nodes
    for _ in progress_range(M, progress, "diverse solutions"):
        k, t = next(steps)
        while t == 0 and k > 0:
            lists[k].append(lists[0][0])
            k, t = next(steps)
        S = np.array(lists[k], dtype=np.int64).reshape(-1, n)
        chosen = np.array(out, dtype=np.int64).reshape(-1, n)
        y, step = solve_step(
            crf,
            plan[k][0],
            S,
            solver=solver,
            max_iter=max_iter,
            seed=seed,
            distinct=distinct,
            exclude=chosen if len(plan) > 1 else None,
        )
        lists[k].append(y)
        out.append(y)
        for name in keys:
            info[name].append(step[name])
    sols = np.stack(out[:M])
    if return_info:
        return sols, {**info, "seconds": time.perf_counter() - start}
    return sols


class _Scaled(DiversityTerm):
    def __init__(self, term: DiversityTerm, c: float):
        self.term, self.c, self.lam = term, c, c
        self.exact_surrogate = term.exact_surrogate

    @property
    def upper_surrogate(self) -> bool:
        return self.term.upper_surrogate

    def check(self, crf: PairwiseCRF) -> None:
        self.term.check(crf)

    def value(self, crf, y, S):
        return self.c * self.term.value(crf, y, S)

    def value_bound(self, crf, S):
        bound = self.term.value_bound(crf, S)
        return None if bound is None else self.c * bound

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
    return np.maximum.accumulate(check_vector(scores, None, "scores", "oracle_curve"))
