"""Baseline data selectors: uniform sampling, k-center greedy and uncertainty sampling.

Every selector follows the library's convention: it is configured in ``__init__`` with keyword-only
arguments (stored as given) that are validated in ``select(X, ...)``, which returns a
:class:`~subsel.result.Selection`.

- :class:`Uniform`: ``budget`` distinct points drawn uniformly without replacement.
- :class:`KCenterGreedy`: farthest-first traversal (Gonzalez 1985; Sener & Savarese 2018, "Active
  Learning for Convolutional Neural Networks: A Core-Set Approach"), a 2-approximation of the
  k-center problem.
- :class:`Margin`, :class:`Entropy`, :class:`LeastConfidence`: the ``budget`` points on which a
  model's predicted class probabilities are the most uncertain (written in ``_uncertainty.py``,
  imported from here).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from .._progress import progress_range
from .._selector import ParamsMixin
from .._validation import (
    check_bool,
    check_choice,
    check_embeddings,
    check_indices,
    check_int,
    check_seed,
)
from ..result import Selection
from ._uncertainty import Entropy, LeastConfidence, Margin, _check_budget
from .clustering import row_sq_norms, update_min_dist

__all__ = ["Uniform", "KCenterGreedy", "Margin", "Entropy", "LeastConfidence"]

_METRICS = ("euclidean",)


# --------------------------------------------------------------------------------------------------
# Uniform
# --------------------------------------------------------------------------------------------------


class Uniform(ParamsMixin):
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
        result = self.draw(
            check_embeddings(X, f"{type(self).__name__}.select", dtype=None).shape[0]
        )
        return dataclasses.replace(result, seconds=time.perf_counter() - start)

    def check_params(self, n: int) -> tuple[int, np.random.Generator]:
        """Validate the parameters for ``n`` points; return ``(budget, rng)``. Shared by every
        engine (in memory and :mod:`subsel.distributed.dask`), so that they refuse the same."""
        name = type(self).__name__
        return _check_budget(self.budget, n, name), check_seed(self.seed, name)

    def draw(self, n: int) -> Selection:
        """The sample for ``n`` points, without looking at them (what ``select`` returns)."""
        start = time.perf_counter()
        budget, rng = self.check_params(n)
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


class KCenterGreedy(ParamsMixin):
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
        Already selected points (e.g. the labelled pool): distinct indices in ``[0, n)``, or a
        boolean mask of shape (n,). They are centres from the start and are never picked again;
        they are not part of the returned indices. Empty means None.
    metric : {"euclidean"}, default="euclidean"
        Distance between embeddings.
    chunk_size : int, default=65536
        Rows per block when updating distances; bounds the extra memory to ``chunk_size * d``.
    progress : bool, default=False
        Show a rich progress bar over the ``budget`` steps.

    Notes
    -----
    O(n d (budget + len(initial))) time and O(n + chunk_size d) extra memory: one ``(n,)`` array of
    distances to the nearest centre is kept, never an ``(n, budget)`` distance matrix. A step
    costs about one matrix-vector product (row norms, with the exact difference ``x - c`` for
    the rows where the norm expansion would cancel: near-duplicates, or every row of data with
    a large common offset). Such data (float32 points around 1e4) are handled exactly, at the
    cost of the difference path (about 6x a centred step); centring them first
    (``X - X.mean(0)``, if the copy fits) restores the fast path.
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

    def check_params(self, n: int) -> dict:
        """Validate every parameter for ``n`` points; return them in normal form (``budget``,
        ``initial`` (int64 indices, possibly empty), ``chunk_size``, ``progress``, ``rng``)."""
        name = type(self).__name__
        check_choice(self.metric, _METRICS, "metric", name)
        chunk = check_int(self.chunk_size, "chunk_size", name, low=1)
        progress = check_bool(self.progress, "progress", name)
        initial = check_indices(self.initial, n, "initial", name)
        m = initial.size
        if m == 0:
            budget = _check_budget(self.budget, n, name)
        else:
            budget = check_int(
                self.budget,
                "budget",
                name,
                low=1,
                high=n - m,
                high_label="n - len(initial)",
                extra=f" (n={n}, len(initial)={m})",
            )
        rng = check_seed(self.seed, name)
        return {
            "budget": budget,
            "initial": initial,
            "chunk_size": chunk,
            "progress": progress,
            "rng": rng,
        }

    def select(self, X: Any, oracle: Any = None) -> Selection:
        """Run the traversal.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Embeddings (float32 stays float32). Values so large that squared distances overflow
            are refused (rescale them).
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
        X = check_embeddings(X, f"{type(self).__name__}.select", dtype=None, distances=True)
        n = X.shape[0]
        p = self.check_params(n)
        budget, chunk = p["budget"], p["chunk_size"]

        min_dist = np.full(n, np.inf)
        sq = row_sq_norms(X)
        picked: list[int] = []
        gains: list[float] = []
        if p["initial"].size == 0:
            first = int(p["rng"].integers(n))
            picked.append(first)
            gains.append(np.inf)
            self._add_center(X, first, min_dist, chunk, sq)
        else:
            for c in p["initial"]:
                self._add_center(X, int(c), min_dist, chunk, sq)

        for _ in progress_range(budget - len(picked), p["progress"], "k-center greedy"):
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
        even when every remaining point duplicates a centre. Distances carry a small relative
        error whatever the offset of the data, and a duplicate of a centre is at distance
        exactly 0 (see :func:`~subsel.selection.clustering.update_min_dist`). O(n d).
        """
        update_min_dist(X, X[c], min_dist, chunk=chunk, sq_norms=sq)
        min_dist[c] = -1.0
