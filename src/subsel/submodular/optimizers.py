"""Greedy maximization of a set function under a cardinality or a knapsack (cost) budget.

Three optimizers, one result:

- ``"naive"``: every remaining candidate's gain at every step (n evaluations a step);
- ``"lazy"``: Minoux's accelerated greedy: a max-heap of stale gains, which are upper bounds on
  the current ones by submodularity; the head is re-evaluated until a fresh gain stays on top.
  Stale heads are re-evaluated in small batches (1, 2, 4, ... up to 16 within one step) so that
  one vectorized call replaces many single ones;
- ``"stochastic"``: "lazier than lazy greedy" (Mirzasoleiman et al., AAAI 2015): each step
  evaluates a uniform sample of ``ceil((n / k) log(1 / eps))`` remaining candidates, for a
  ``(1 - 1/e - eps)`` guarantee in expectation.

Ties are broken towards the lowest index, and the functions' gains are batch invariant, so that
``"lazy"`` returns exactly what ``"naive"`` returns (same items, same order, same gains).
"""

from __future__ import annotations

import heapq
import math
import time
from typing import Any

import numpy as np

from .._progress import progress_range
from .._selector import resolve_alias
from .._validation import (
    check_bool,
    check_choice,
    check_indices,
    check_int,
    check_real,
    check_seed,
    check_vector,
    input_error,
    param_error,
)
from ..result import Selection

__all__ = ["maximize", "OPTIMIZERS"]

OPTIMIZERS = ("naive", "lazy", "stochastic")
_LAZY_MAX_BATCH = 16
_COST_TOL = 1e-9  # relative slack on the cost budget, for sums of float costs


def _check_function(function: Any, func: str) -> int:
    missing = [a for a in ("n", "init_state", "gains", "update") if not hasattr(function, a)]
    if missing:
        raise param_error(
            func,
            "function",
            f"a set function with n, init_state, gains and update (e.g. FacilityLocation); "
            f"this {type(function).__name__} lacks {', '.join(missing)}",
            function,
            kind=TypeError,
        )
    n = function.n
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise param_error(func, "function", "a set function with an int n >= 1", function)
    return int(n)


def maximize(
    function,
    budget,
    *,
    optimizer: str = "lazy",
    seed=None,
    initial=None,
    costs=None,
    progress: bool = False,
    stochastic_epsilon: float = 0.1,
    initial_subset=None,
) -> Selection:
    r"""Greedily maximize a submodular set function.

    Parameters
    ----------
    function : SetFunction
        Anything with ``n``, ``init_state``, ``gains`` and ``update`` (see
        :mod:`subsel.submodular.functions`).
    budget : int or float
        Without ``costs``: the number of items to add, an int in ``[1, n - len(initial)]``.
        With ``costs``: the total cost allowed for the added items, a float > 0.
    optimizer : {"naive", "lazy", "stochastic"}, default "lazy"
        See the module docstring. ``"lazy"`` and ``"naive"`` return the same selection.
    seed : None, int or numpy.random.Generator
        Randomness of ``"stochastic"`` (a ``numpy.random.Generator``; no global state).
    initial : array-like of int, or bool mask of shape (n,), optional
        Items already chosen (apricot's ``initial_subset``): gains are measured given them, they
        are not returned, and they do not count against ``budget`` (nor their costs). The same
        name as :class:`~subsel.selection.KCenterGreedy`'s ``initial``.
    costs : array-like of float, shape (n,), optional
        Item costs > 0. Then greedy picks the best gain-to-cost ratio among the affordable items
        until none is affordable, and the result is the better of that and the best single
        affordable item (the fix that gives a constant-factor guarantee: Leskovec et al. 2007,
        Krause and Guestrin 2005); ``extra["cost_benefit"]`` says which won.
    progress : bool, default False
        Show a progress bar over the steps.
    stochastic_epsilon : float in (0, 1), default 0.1
        ``eps`` of ``"stochastic"``: sample size ``ceil((n' / k) log(1 / eps))`` with ``n'`` the
        candidates left at the start and ``k = budget`` (with costs, ``k`` = ``budget`` over the
        mean candidate cost, at least 1).
    initial_subset : optional
        The earlier name of ``initial`` (an alias; give one of the two).

    Returns
    -------
    Selection
        ``indices``: the added items in the order chosen; ``gains``: the marginal gain of each
        when it was added (raw gains, not gain/cost ratios); ``seconds``; ``extra``: ``optimizer``,
        ``evaluations`` (number of single-candidate gain evaluations), ``value`` (``f`` of the
        initial subset plus the selection, when the state tracks it), ``budget``, and with costs
        ``cost`` (total cost spent) and ``cost_benefit``; ``sample_size`` for ``"stochastic"``.

    Notes
    -----
    Greedy does not stop when the best gain is <= 0: it adds items until the budget is used up
    (as apricot does), so for a non-monotone function (``GraphCut`` with ``lam > 1/2``, negative
    ``Modular`` weights) later gains can be negative; truncate the result at the first gain <= 0
    (``sel.indices[: np.argmax(sel.gains <= 0)]``) if that is not wanted.

    For a monotone submodular ``f`` under a cardinality budget, ``"naive"``/``"lazy"`` achieve
    ``f(S) >= (1 - 1/e) max_{|T| <= k} f(T)`` and ``"stochastic"`` ``(1 - 1/e - eps)`` in
    expectation.
    """
    t0 = time.perf_counter()
    func = "maximize"
    n = _check_function(function, func)
    check_choice(optimizer, OPTIMIZERS, "optimizer", func)
    rng = check_seed(seed, func)
    eps = check_real(
        stochastic_epsilon,
        "stochastic_epsilon",
        func,
        low=0.0,
        low_open=True,
        high=1.0,
        high_open=True,
    )
    check_bool(progress, "progress", func)
    iname = "initial" if initial_subset is None else "initial_subset"
    initial = resolve_alias(func, "initial", initial, "initial_subset", initial_subset)
    initial = check_indices(initial, n, iname, func)
    free = n - initial.shape[0]
    if free == 0:
        raise input_error(
            func,
            iname,
            f"holds all n={n} items; nothing is left to select",
            "leave at least one item out of it",
        )
    if costs is None:
        k = check_int(
            budget,
            "budget",
            func,
            low=1,
            high=free,
            high_label=f"n - len({iname})",
            extra=f" (= {free})",
        )
        cost, total = None, None
    else:
        cost = check_vector(costs, n, "costs", func, nonnegative=True)
        if (cost <= 0).any():
            raise input_error(
                func,
                "costs",
                f"must be > 0; got {int((cost <= 0).sum())} zero costs",
                "give free items a small positive cost",
            )
        total = check_real(budget, "budget", func, low=0.0, low_open=True)
        k = None
    state = function.init_state(initial if initial.shape[0] else None)
    chosen = np.zeros(n, dtype=bool)
    chosen[initial] = True
    cand = np.flatnonzero(~chosen)
    if cost is not None:
        cand = cand[cost[cand] <= total * (1 + _COST_TOL)]
        if cand.size == 0:
            raise param_error(
                func,
                "budget",
                f"at least the cheapest item's cost ({float(cost[~chosen].min()):.4g}) for "
                f"anything to be affordable",
                budget,
            )
    steps = k if k is not None else int(cand.size)
    bar = progress_range(steps, progress, f"greedy ({optimizer})")
    run = _Run(function, state, cost, total)
    extra: dict[str, Any] = {"optimizer": optimizer}
    if optimizer == "naive":
        run.naive(cand, bar)
    elif optimizer == "lazy":
        run.lazy(cand, bar)
    else:
        k_eff = k if k is not None else max(1, int(round(total / float(cost[cand].mean()))))
        size = min(cand.size, max(1, math.ceil(cand.size / k_eff * math.log(1.0 / eps))))
        extra["sample_size"] = size
        run.stochastic(cand, bar, rng, size)
    order, gains = run.order, run.gains
    value = getattr(state, "value", None)
    if cost is not None:
        single_idx, single_gain = run.best_single()
        greedy_total = float(np.sum(gains)) if gains else -math.inf
        if single_idx is not None and single_gain > greedy_total:
            order, gains = [single_idx], [single_gain]
            extra["cost_benefit"] = "single"
            if value is not None:
                value = value - greedy_total + single_gain
        else:
            extra["cost_benefit"] = "greedy"
        extra["cost"] = float(cost[np.asarray(order, dtype=np.int64)].sum()) if order else 0.0
    extra["evaluations"] = run.evaluations
    extra["budget"] = budget
    if value is not None:
        extra["value"] = float(value)
    if initial.shape[0]:
        extra["initial"] = initial.tolist()
    return Selection(
        indices=np.asarray(order, dtype=np.int64),
        gains=np.asarray(gains, dtype=np.float64),
        seconds=time.perf_counter() - t0,
        extra=extra,
    )


class _Run:
    """One greedy run: the function, its state, the budget, and what was chosen so far."""

    def __init__(self, function, state, cost, total):
        self.f = function
        self.state = state
        self.cost = cost
        self.total = total
        self.spent = 0.0
        self.order: list[int] = []
        self.gains: list[float] = []
        self.evaluations = 0
        self.singles: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ helpers
    def evaluate(self, c: np.ndarray) -> np.ndarray:
        self.evaluations += int(c.shape[0])
        return np.asarray(self.f.gains(self.state, c), dtype=np.float64)

    def key(self, g: np.ndarray, c: np.ndarray) -> np.ndarray:
        return g if self.cost is None else g / self.cost[c]

    def left(self) -> float:
        return self.total * (1 + _COST_TOL) - self.spent

    def affordable(self, c: np.ndarray) -> np.ndarray:
        return c if self.cost is None else c[self.cost[c] <= self.left()]

    def add(self, i: int, gain: float) -> None:
        self.f.update(self.state, i)
        self.order.append(i)
        self.gains.append(gain)
        if self.cost is not None:
            self.spent += float(self.cost[i])

    def remember_singles(self, c: np.ndarray, g: np.ndarray) -> None:
        if self.cost is not None and self.singles is None:
            ok = self.cost[c] <= self.total * (1 + _COST_TOL)
            self.singles = (c[ok].copy(), g[ok].copy())

    def best_single(self) -> tuple[int | None, float]:
        if self.singles is None or self.singles[0].size == 0:
            return None, -math.inf
        c, g = self.singles
        j = int(np.argmax(g))  # lowest index among ties (c is sorted)
        return int(c[j]), float(g[j])

    # ------------------------------------------------------------------ optimizers
    def naive(self, cand: np.ndarray, bar) -> None:
        for _ in bar:
            cand = self.affordable(cand)
            if cand.size == 0:
                break
            g = self.evaluate(cand)
            self.remember_singles(cand, g)
            j = int(np.argmax(self.key(g, cand)))  # first maximum: lowest index
            self.add(int(cand[j]), float(g[j]))
            cand = np.delete(cand, j)

    def lazy(self, cand: np.ndarray, bar) -> None:
        g = self.evaluate(cand)
        self.remember_singles(cand, g)
        last = dict(zip(cand.tolist(), g.tolist(), strict=True))
        # entries (-key, item, step at which the key was computed); ties -> lowest item first
        heap = list(zip((-self.key(g, cand)).tolist(), cand.tolist(), [0] * cand.size, strict=True))
        heapq.heapify(heap)
        cost = self.cost
        for step in bar:
            left = self.left() if cost is not None else 0.0
            pick, batch_size = None, 1
            while heap:
                _, i, stamp = heap[0]
                if cost is not None and cost[i] > left:
                    heapq.heappop(heap)  # can never become affordable again
                    continue
                if stamp == step:  # fresh and on top: the exact greedy choice
                    heapq.heappop(heap)
                    pick = i
                    break
                batch = []
                while heap and len(batch) < batch_size and heap[0][2] != step:
                    _, i, _ = heapq.heappop(heap)
                    if cost is None or cost[i] <= left:
                        batch.append(i)
                if not batch:
                    continue
                idx = np.asarray(batch, dtype=np.intp)
                gb = self.evaluate(idx)
                for item, negkey, gain in zip(
                    batch, (-self.key(gb, idx)).tolist(), gb.tolist(), strict=True
                ):
                    heapq.heappush(heap, (negkey, item, step))
                    last[item] = gain
                batch_size = min(2 * batch_size, _LAZY_MAX_BATCH)
            if pick is None:
                break
            self.add(pick, last.pop(pick))

    def stochastic(self, cand: np.ndarray, bar, rng: np.random.Generator, size: int) -> None:
        if self.cost is not None:  # the single-item fix needs every affordable item's gain
            self.remember_singles(cand, self.evaluate(cand))
        pool = cand.copy()
        where = np.full(int(cand.max()) + 1, -1, dtype=np.int64)
        where[pool] = np.arange(pool.size)
        live = pool.size
        for _ in bar:
            if self.cost is not None:
                pool = self.affordable(pool[:live])
                live = pool.size
                where[pool] = np.arange(live)
            if live == 0:
                break
            m = min(size, live)
            c = np.sort(pool[rng.choice(live, size=m, replace=False)])
            g = self.evaluate(c)
            j = int(np.argmax(self.key(g, c)))
            i = int(c[j])
            self.add(i, float(g[j]))
            slot, tail = where[i], pool[live - 1]  # swap-remove i from the pool
            pool[slot], where[tail] = tail, slot
            live -= 1
