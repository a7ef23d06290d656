"""Baseline data selectors: uniform sampling, k-center greedy and uncertainty sampling.

Every selector follows the library's convention: it is configured in ``__init__`` with keyword-only
arguments (stored as given) that are validated in ``select(X, ...)``, which returns a
:class:`~subsel.result.Selection`.

- :class:`Uniform`: ``budget`` distinct points drawn uniformly without replacement.
- :class:`KCenterGreedy`: farthest-first traversal (Gonzalez 1985; Sener & Savarese 2018, "Active
  Learning for Convolutional Neural Networks: A Core-Set Approach"), a 2-approximation of the
  k-center problem.
- :class:`Margin`, :class:`Entropy`, :class:`LeastConfidence`: the ``budget`` points on which a
  model's predicted class probabilities are the most uncertain.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._progress import progress_range
from .._validation import check_embeddings, check_int, check_seed, param_error
from ..result import Selection
from .clustering import row_sq_norms, update_min_dist

__all__ = ["Uniform", "KCenterGreedy", "Margin", "Entropy", "LeastConfidence"]

_METRICS = ("euclidean",)


def _check_budget(budget: Any, n: int, func: str) -> int:
    """Check ``budget`` is an int in ``[1, n]``; return it as ``int``."""
    return check_int(budget, "budget", func, low=1, high=n, high_label="n", extra=f" (n={n})")


# --------------------------------------------------------------------------------------------------
# Uniform
# --------------------------------------------------------------------------------------------------


class Uniform:
    """Uniform sampling of ``budget`` distinct points, without replacement.

    Every point is included with probability ``pi = budget / n``, so the Horvitz-Thompson weight
    ``1 / pi = n / budget`` makes ``sum_{i in S} w_i f(x_i)`` an unbiased estimate of
    ``sum_i f(x_i)``.

    Parameters
    ----------
    budget : int
        Number of points to select, in ``[1, n]``.
    seed : None, int or numpy.random.Generator, default=None
        Source of randomness; the global random state is never touched.
    """

    def __init__(self, *, budget: int, seed: int | np.random.Generator | None = None):
        self.budget = budget
        self.seed = seed

    def select(self, X: Any, oracle: Any = None) -> Selection:
        """Draw the sample.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Embeddings; only their number ``n`` is used.
        oracle : ignored
            Accepted so that every selector can be called the same way.

        Returns
        -------
        Selection
            ``indices`` (budget,) distinct, in draw order; ``weights`` all ``n / budget``;
            ``probabilities`` all ``budget / n`` (the inclusion probability); ``n_queries`` 0.

        Notes
        -----
        O(n) time and memory.
        """
        start = time.perf_counter()
        result = self.draw(check_embeddings(X, type(self).__name__, dtype=None).shape[0])
        return dataclasses.replace(result, seconds=time.perf_counter() - start)

    def draw(self, n: int) -> Selection:
        """The sample for ``n`` points, without looking at them (what ``select`` returns)."""
        start = time.perf_counter()
        name = type(self).__name__
        budget = _check_budget(self.budget, n, name)
        rng = check_seed(self.seed, name)
        indices = rng.choice(n, size=budget, replace=False)
        return Selection(
            indices=indices,
            weights=np.full(budget, n / budget),
            probabilities=np.full(budget, budget / n),
            n_queries=0,
            seconds=time.perf_counter() - start,
        )


# --------------------------------------------------------------------------------------------------
# k-center greedy
# --------------------------------------------------------------------------------------------------


def _check_initial(initial: Any, n: int, func: str) -> np.ndarray:
    """Check ``initial``: a 1-d array of distinct int indices in ``[0, n)``. Returns int64 array."""
    arr = np.asarray(initial)
    constraint = f"a 1-d array of distinct int indices in [0, n) (n={n})"
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise param_error(func, "initial", constraint, initial, kind=TypeError)
    arr = arr.astype(np.int64).ravel() if arr.ndim == 0 else arr.astype(np.int64)
    if arr.ndim != 1:
        raise param_error(func, "initial", constraint, initial)
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ValueError(
            f"The 'initial' parameter of {func} must hold indices in [0, n) (n={n}). Got "
            f"{int(bad.sum())} out of range (e.g. {int(arr[bad][0])}) instead."
        )
    if np.unique(arr).size != arr.size:
        raise ValueError(
            f"The 'initial' parameter of {func} must hold distinct indices. Got "
            f"{arr.size - np.unique(arr).size} repeated ones instead; pass np.unique(initial)."
        )
    return arr


class KCenterGreedy:
    """Farthest-first traversal for the k-center (core-set) problem.

    Each step adds the point farthest from the current centres, i.e. the point that defines the
    covering radius ``max_i min_{c in C} ||x_i - x_c||``. The result's radius is at most twice the
    optimal k-center radius with the same number of centres (Gonzalez, 1985).

    Parameters
    ----------
    budget : int
        Number of points to select, in ``[1, n - len(initial)]``. When ``initial`` is None, the
        uniformly random start point counts as the first of the ``budget`` points.
    seed : None, int or numpy.random.Generator, default=None
        Chooses the start point when ``initial`` is None.
    initial : array-like of int, optional
        Already selected points (e.g. the labelled pool). They are centres from the start and are
        never picked again; they are not part of the returned indices. Empty means None.
    metric : {"euclidean"}, default="euclidean"
        Distance between embeddings.
    chunk_size : int, default=65536
        Rows per block when updating distances; bounds the extra memory to ``chunk_size * d``.
    progress : bool, default=False
        Show a rich progress bar over the ``budget`` steps.

    Notes
    -----
    O(n d (budget + len(initial))) time and O(n + chunk_size d) extra memory: one ``(n,)`` array of
    distances to the nearest centre is kept, never an ``(n, budget)`` distance matrix.
    """

    def __init__(
        self,
        *,
        budget: int,
        seed: int | np.random.Generator | None = None,
        initial: Any = None,
        metric: str = "euclidean",
        chunk_size: int = 65536,
        progress: bool = False,
    ):
        self.budget = budget
        self.seed = seed
        self.initial = initial
        self.metric = metric
        self.chunk_size = chunk_size
        self.progress = progress

    def _check_options(self, name: str) -> int:
        """Validate ``metric``, ``chunk_size`` and ``progress``; return ``chunk_size``."""
        if not isinstance(self.metric, str) or self.metric not in _METRICS:
            raise param_error(name, "metric", f"one of {list(_METRICS)}", self.metric)
        if not isinstance(self.progress, bool):
            raise param_error(name, "progress", "a bool", self.progress, kind=TypeError)
        return check_int(self.chunk_size, "chunk_size", name, low=1)

    def select(self, X: Any, oracle: Any = None) -> Selection:
        """Run the traversal.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Embeddings.
        oracle : ignored
            Accepted so that every selector can be called the same way.

        Returns
        -------
        Selection
            ``indices`` (budget,): the chosen points in the order chosen (``initial`` excluded);
            ``gains`` (budget,): the covering radius just before each pick, which is the picked
            point's distance to its nearest centre (``inf`` for a random start point, as no centre
            exists yet), non-increasing; ``extra["radius"]``: the final covering radius over all
            centres (``initial`` included); ``n_queries`` 0.
        """
        start = time.perf_counter()
        name = type(self).__name__
        X = check_embeddings(X, name, dtype=None)
        n = X.shape[0]
        budget = _check_budget(self.budget, n, name)
        chunk = self._check_options(name)
        initial = None if self.initial is None else _check_initial(self.initial, n, name)
        if initial is not None and initial.size == 0:
            initial = None
        rng = check_seed(self.seed, name)

        min_dist = np.full(n, np.inf)
        sq = row_sq_norms(X)
        picked: list[int] = []
        gains: list[float] = []
        if initial is None:
            first = int(rng.integers(n))
            picked.append(first)
            gains.append(np.inf)
            self._add_center(X, first, min_dist, chunk, sq)
        else:
            m = initial.size
            budget = check_int(
                budget,
                "budget",
                name,
                low=1,
                high=n - m,
                high_label="n - len(initial)",
                extra=f" (n={n}, len(initial)={m})",
            )
            for c in initial:
                self._add_center(X, int(c), min_dist, chunk, sq)

        for _ in progress_range(budget - len(picked), self.progress, "k-center greedy"):
            new = int(np.argmax(min_dist))
            picked.append(new)
            gains.append(float(min_dist[new]))
            self._add_center(X, new, min_dist, chunk, sq)

        radius = float(max(min_dist.max(), 0.0))
        return Selection(
            indices=np.asarray(picked, dtype=np.int64),
            gains=np.asarray(gains),
            n_queries=0,
            seconds=time.perf_counter() - start,
            extra={"radius": radius},
        )

    @staticmethod
    def _add_center(X: np.ndarray, c: int, min_dist: np.ndarray, chunk: int, sq) -> None:
        """Make ``c`` a centre: update ``min_dist`` and mark ``c`` so it is never picked again.

        Centres hold ``-1`` in ``min_dist`` (true distances are >= 0), so ``argmax`` avoids them
        even when every remaining point duplicates a centre. O(n d).
        """
        update_min_dist(X, X[c], min_dist, chunk=chunk, sq_norms=sq)
        min_dist[c] = -1.0


# --------------------------------------------------------------------------------------------------
# Uncertainty sampling
# --------------------------------------------------------------------------------------------------

_PROB_ATOL = 1e-6
_SUM_ATOL = 1e-4


def _check_probabilities(P: Any, n: int, func: str) -> np.ndarray:
    """Check predicted class probabilities of shape (n, C), C >= 2, rows on the simplex.

    Entries may leave ``[0, 1]`` by up to 1e-6 (then clipped); rows must sum to 1 within 1e-4.
    Returns a float64 array of shape (n, C). O(n C).
    """
    try:
        arr = np.asarray(P, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"Input 'oracle' of {func} must be class probabilities of shape (n, C) (n={n}), or a "
            f"callable returning them; got {type(P).__name__}."
        ) from None
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 2:
        raise ValueError(
            f"Input 'oracle' of {func} must give class probabilities of shape (n, C) with n={n} "
            f"and C >= 2; got shape {arr.shape}. Pass one row of probabilities per point."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"Input 'oracle' of {func} gave NaN or infinite probabilities at {int(bad.sum())} "
            f"positions; check the model's outputs."
        )
    out = (arr < -_PROB_ATOL) | (arr > 1 + _PROB_ATOL)
    if out.any():
        raise ValueError(
            f"Input 'oracle' of {func} gave {int(out.sum())} probabilities outside [0, 1] (min "
            f"{arr.min():.4g}, max {arr.max():.4g}); apply softmax to logits first."
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_ATOL
    if off.any():
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(
            f"Input 'oracle' of {func} gave {int(off.sum())} rows that do not sum to 1 (row "
            f"{worst} sums to {sums[worst]:.6g}); normalise each row (softmax) first."
        )
    return np.clip(arr, 0.0, 1.0)


class _UncertaintySampling:
    """Shared logic: query the oracle once, score, take the ``budget`` most uncertain points.

    Subclasses define ``_scores(P) -> (key, gain)``, both of shape (n,): ``key`` ascending means
    more uncertain (ties go to the smaller index), ``gain`` is the reported uncertainty (larger
    means more uncertain).
    """

    def __init__(self, *, budget: int):
        self.budget = budget

    @staticmethod
    def _scores(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, X: Any, oracle: Callable[[np.ndarray], Any] | Any) -> Selection:
        """Select the ``budget`` points with the most uncertain predictions.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Embeddings; only their number ``n`` is used.
        oracle : callable or array-like of shape (n, C)
            Either the predicted class probabilities, or a callable ``oracle(indices)`` returning
            them for ``indices``; it is called once, on ``np.arange(n)``.

        Returns
        -------
        Selection
            ``indices`` (budget,), most uncertain first; ``gains`` (budget,) their uncertainty
            scores; ``weights`` ones; ``n_queries`` n.

        Notes
        -----
        O(n C + n log n) time, O(n C) memory.
        """
        start = time.perf_counter()
        name = type(self).__name__
        X = check_embeddings(X, name)
        n = X.shape[0]
        budget = _check_budget(self.budget, n, name)
        if oracle is None:
            raise TypeError(
                f"Input 'oracle' of {name} is required: pass class probabilities of shape (n, C) "
                f"or a callable oracle(indices) returning them."
            )
        raw = oracle(np.arange(n)) if callable(oracle) else oracle
        P = _check_probabilities(raw, n, name)
        key, gain = self._scores(P)
        order = np.argsort(key, kind="stable")[:budget]
        return Selection(
            indices=order,
            weights=np.ones(budget),
            gains=gain[order],
            n_queries=n,
            seconds=time.perf_counter() - start,
        )


class Margin(_UncertaintySampling):
    """Margin sampling: the smallest gap ``p_(1) - p_(2)`` between the two most probable classes.

    Parameters
    ----------
    budget : int
        Number of points to select, in ``[1, n]``.

    Notes
    -----
    ``gains`` reports ``1 - (p_(1) - p_(2))`` so that, as for the other uncertainty selectors,
    larger means more uncertain.
    """

    @staticmethod
    def _scores(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top2 = np.partition(P, P.shape[1] - 2, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        return margin, 1.0 - margin


class Entropy(_UncertaintySampling):
    """Entropy sampling: the largest predictive entropy ``-sum_c p_c log p_c`` (``0 log 0 = 0``).

    Parameters
    ----------
    budget : int
        Number of points to select, in ``[1, n]``.

    Notes
    -----
    ``gains`` reports the entropy in nats.
    """

    @staticmethod
    def _scores(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(P > 0, P * np.log(P), 0.0)
        entropy = -terms.sum(axis=1)
        return -entropy, entropy


class LeastConfidence(_UncertaintySampling):
    """Least-confidence sampling: the largest ``1 - max_c p_c``.

    Parameters
    ----------
    budget : int
        Number of points to select, in ``[1, n]``.

    Notes
    -----
    ``gains`` reports ``1 - max_c p_c``.
    """

    @staticmethod
    def _scores(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = P.max(axis=1)
        return top, 1.0 - top
