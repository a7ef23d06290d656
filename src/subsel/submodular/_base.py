"""The set-function protocol: incremental state, marginal gains, weighted sums.

Every set function ``f`` on the ground set ``{0, ..., n - 1}`` exposes the same public API, which
is all that the optimizers use:

- ``f.n``: the ground-set size;
- ``state = f.init_state(initial=None)``: the state of a set (empty, or ``initial``);
- ``f.gains(state, candidates)``: the marginal gains ``f(S + i) - f(S)`` for an int array of
  candidates, as float64 (0 for items already in ``S``);
- ``f.update(state, i)``: add item ``i`` to the set (mutates ``state`` and returns it);
- ``f.evaluate(indices)``: ``f`` of a set, computed from its definition (not incrementally).

Gains are *batch invariant*: the gain of a candidate does not depend on which other candidates are
evaluated in the same call (bit for bit). The optimizers rely on it so that lazy greedy, which
re-evaluates one candidate at a time, chooses exactly what naive greedy chooses.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._validation import check_indices, check_vector, input_error, param_error

__all__ = ["SetFunction", "SetState", "Mixture"]


class SetState:
    """The incremental state of a set ``S`` for one set function.

    Attributes
    ----------
    selected : list of int
        The items of ``S`` in the order they were added.
    mask : ndarray of bool, shape (n,)
        ``mask[i]`` is True when ``i`` is in ``S``.
    value : float
        ``f(S)``, kept up to date by :meth:`SetFunction.update` (the sum of the gains added).
    stats
        The function's sufficient statistics (e.g. facility location's best similarity per
        point); private to the function that made the state.
    """

    __slots__ = ("owner", "selected", "mask", "value", "stats")

    def __init__(self, owner: SetFunction, stats: Any):
        self.owner = owner
        self.selected: list[int] = []
        self.mask = np.zeros(owner.n, dtype=bool)
        self.value = 0.0
        self.stats = stats

    def __len__(self) -> int:
        return len(self.selected)

    def __repr__(self) -> str:
        return (
            f"SetState(function={type(self.owner).__name__}, size={len(self.selected)}, "
            f"value={self.value:.6g})"
        )


class SetFunction:
    """Base class of the set functions: checks arguments, keeps the state, adds weighted sums.

    Subclasses define ``n`` and four private methods: ``_empty_stats()``,
    ``_gains(stats, candidates)`` (float64 gains of valid, distinct-or-not int candidates; any
    value for members of the set, which are zeroed here), ``_add(stats, i)`` (mutate the statistics)
    and ``_evaluate(indices)`` (``f`` of a set of distinct valid indices, from the definition).

    Sums and scalings build a :class:`Mixture`: ``f + 0.5 * g`` is
    ``Mixture([f, g], weights=[1.0, 0.5])``.
    """

    n: int
    #: short name used in error messages
    _name = "SetFunction"

    # ------------------------------------------------------------------ public API
    def init_state(self, initial=None) -> SetState:
        """The state of the empty set, or of ``initial`` (distinct item indices or a bool mask).

        Costs one :meth:`update` per initial item.
        """
        items = check_indices(initial, self.n, "initial", f"{self._name}.init_state")
        state = SetState(self, self._empty_stats())
        for i in items:
            self._update_unchecked(state, int(i))
        return state

    def gains(self, state: SetState, candidates) -> np.ndarray:
        """Marginal gains ``f(S + i) - f(S)`` of the candidates, float64 of shape (m,).

        Parameters
        ----------
        state : SetState
            A state made by this function's :meth:`init_state`.
        candidates : array-like of int, shape (m,)
            Item indices in ``[0, n)``; repeats are allowed. Items already in ``S`` get 0.
        """
        self._check_state(state, f"{self._name}.gains")
        c = self._check_candidates(candidates)
        return self._gains_of(state, c)

    def update(self, state: SetState, i) -> SetState:
        """Add item ``i`` (not yet in the set) to ``state``; returns the same, mutated, state."""
        func = f"{self._name}.update"
        self._check_state(state, func)
        i = self._check_item(i, "i", func)
        if state.mask[i]:
            raise param_error(
                func, "i", "an item not already in the set (update adds new items only)", i
            )
        self._update_unchecked(state, i)
        return state

    def evaluate(self, indices) -> float:
        """``f(S)`` for the set of the given distinct item indices (or a bool mask of shape (n,)).

        ``f`` of the empty set is 0 for every function here.
        """
        items = check_indices(indices, self.n, "indices", f"{self._name}.evaluate")
        if items.size == 0:
            return 0.0
        return float(self._evaluate(items))

    # ------------------------------------------------------------------ shared helpers
    def _gains_of(self, state: SetState, c: np.ndarray) -> np.ndarray:
        g = np.asarray(self._gains(state.stats, c), dtype=np.float64)
        if len(state.selected):
            member = state.mask[c]
            if member.any():
                g[member] = 0.0
        return g

    def _update_unchecked(self, state: SetState, i: int) -> None:
        gain = float(self._gains(state.stats, np.array([i], dtype=np.intp))[0])
        self._add(state.stats, i)
        state.selected.append(i)
        state.mask[i] = True
        state.value += gain

    def _check_state(self, state: Any, func: str) -> None:
        if not isinstance(state, SetState):
            raise param_error(
                func,
                "state",
                f"a SetState made by {self._name}.init_state()",
                state,
                kind=TypeError,
            )
        if state.owner is not self:
            raise param_error(
                func,
                "state",
                f"a state made by this function's init_state(), not by another function "
                f"({type(state.owner).__name__})",
                state,
            )

    def _check_candidates(self, candidates: Any) -> np.ndarray:
        """Item indices (repeats allowed) as intp; cheap, since optimizers call it every step."""
        func = f"{self._name}.gains"
        if isinstance(candidates, np.ndarray) and candidates.dtype.kind in "iu":
            c = candidates
        else:
            if isinstance(candidates, (str, bytes)) or candidates is None:
                raise input_error(
                    func,
                    "candidates",
                    f"must be an integer array of item indices; got {type(candidates).__name__}",
                    kind=TypeError,
                )
            try:
                c = np.asarray(candidates)
            except (TypeError, ValueError) as exc:  # ragged lists and the like
                raise input_error(
                    func,
                    "candidates",
                    f"must be a 1-d integer array of item indices; could not convert "
                    f"{type(candidates).__name__} ({exc})",
                    kind=TypeError,
                ) from exc
        if c.ndim == 0:
            c = c.reshape(1)
        if c.size == 0:
            return np.zeros(0, dtype=np.intp)
        if c.dtype.kind not in "iu":
            raise input_error(
                func,
                "candidates",
                f"must be an integer array of item indices; got dtype {c.dtype}",
                kind=TypeError,
            )
        if c.ndim != 1:
            raise input_error(func, "candidates", f"must be 1-d; got shape {c.shape}")
        lo, hi = int(c.min()), int(c.max())
        if lo < 0 or hi >= self.n:
            raise input_error(
                func,
                "candidates",
                f"must hold indices in [0, {self.n - 1}] (n={self.n}); got {lo if lo < 0 else hi}",
            )
        return c.astype(np.intp, copy=False)

    def _check_item(self, i: Any, name: str, func: str) -> int:
        if isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu":
            i = i.item()
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral):
            raise param_error(func, name, f"an int in [0, {self.n - 1}]", i, kind=TypeError)
        if not 0 <= int(i) < self.n:
            raise param_error(func, name, f"an int in [0, {self.n - 1}] (n={self.n})", i)
        return int(i)

    # ------------------------------------------------------------------ sums and scalings
    def __add__(self, other: Any) -> Mixture:
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return Mixture([self], [1.0])  # so that sum([f, g]) works
        if not isinstance(other, SetFunction):
            return NotImplemented
        return Mixture(_terms(self) + _terms(other))

    def __radd__(self, other: Any) -> Mixture:
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return Mixture([self], [1.0])
        if not isinstance(other, SetFunction):
            return NotImplemented
        return Mixture(_terms(other) + _terms(self))

    def __mul__(self, scale: Any) -> Mixture:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            return NotImplemented
        return Mixture([(f, w * float(scale)) for f, w in _terms(self)])

    __rmul__ = __mul__

    # ------------------------------------------------------------------ to implement
    def _empty_stats(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _gains(self, stats: Any, c: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _add(self, stats: Any, i: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _evaluate(self, items: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n})"


def _terms(f: SetFunction) -> list[tuple[SetFunction, float]]:
    if isinstance(f, Mixture):
        return list(zip(f.functions, f.weights.tolist(), strict=True))
    return [(f, 1.0)]


class Mixture(SetFunction):
    r"""A nonnegative weighted sum of set functions on the same ground set.

    .. math:: F(S) = \sum_k w_k f_k(S), \qquad w_k \ge 0,

    e.g. relevance plus diversity, ``F = R + \lambda D`` (eq. 1 of Prasad, Jegelka and Batra,
    "Submodular meets structured", NIPS 2014). A nonnegative sum of submodular (monotone) functions
    is submodular (monotone). ``f + lam * g`` builds the same object.

    Parameters
    ----------
    functions : sequence of SetFunction, or of (SetFunction, weight) pairs
        The parts; all must have the same ``n``.
    weights : array-like of float, shape (len(functions),), optional
        Finite weights >= 0 (default: all 1). Not allowed together with pairs.

    Notes
    -----
    ``gains`` and ``update`` cost the sum of the parts' costs. The state holds one state per part.
    """

    _name = "Mixture"

    def __init__(self, functions, weights=None):
        func = "Mixture"
        if isinstance(functions, SetFunction):
            items = [functions]
        elif isinstance(functions, (str, bytes)) or not isinstance(functions, Iterable):
            raise input_error(
                func,
                "functions",
                f"must be a sequence of set functions; got {type(functions).__name__}",
                kind=TypeError,
            )
        else:
            items = list(functions)
        if not items:
            raise input_error(func, "functions", "is empty", "pass at least one function")
        pairs = all(isinstance(x, tuple) and len(x) == 2 for x in items)
        if pairs:
            if weights is not None:
                raise param_error(
                    func, "weights", "None when 'functions' holds (function, weight) pairs", weights
                )
            items, weights = [x[0] for x in items], [x[1] for x in items]
        for k, f in enumerate(items):
            if not isinstance(f, SetFunction):
                raise input_error(
                    func,
                    "functions",
                    f"must hold set functions (FacilityLocation, Modular, ...); item {k} is a "
                    f"{type(f).__name__}",
                    kind=TypeError,
                )
        sizes = {f.n for f in items}
        if len(sizes) != 1:
            raise input_error(
                func,
                "functions",
                f"must share one ground set; got sizes {[f.n for f in items]}",
            )
        w = np.ones(len(items)) if weights is None else weights
        self.weights = check_vector(
            w, len(items), "weights", func, nonnegative=True, hint="weights of a sum are >= 0"
        )
        self.functions = tuple(items)
        self.n = items[0].n

    def _empty_stats(self):
        return [f.init_state() for f in self.functions]

    def _gains(self, stats, c):
        out = np.zeros(c.shape[0], dtype=np.float64)
        for f, w, s in zip(self.functions, self.weights, stats, strict=True):
            if w != 0.0:
                out += w * f._gains_of(s, c)
        return out

    def _add(self, stats, i):
        for f, s in zip(self.functions, stats, strict=True):
            f._update_unchecked(s, i)

    def _evaluate(self, items):
        return sum(
            w * f._evaluate(items) for f, w in zip(self.functions, self.weights, strict=True)
        )

    def __repr__(self) -> str:
        parts = " + ".join(
            f"{w:g} * {f!r}" for f, w in zip(self.functions, self.weights, strict=True)
        )
        return f"Mixture({parts})"
