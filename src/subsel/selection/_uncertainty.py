"""Uncertainty sampling: the ``budget`` points on which a model's predicted class probabilities
are the most uncertain (:class:`Margin`, :class:`Entropy`, :class:`LeastConfidence`).

Re-exported by :mod:`subsel.selection.baselines`, where users import them from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._selector import ParamsMixin
from .._validation import as_real_array, check_embeddings, check_int, input_error
from ..result import Selection

__all__ = ["Margin", "Entropy", "LeastConfidence"]


def _check_budget(budget: Any, n: int, func: str) -> int:
    """Check ``budget`` is an int in ``[1, n]``; return it as ``int``."""
    return check_int(budget, "budget", func, low=1, high=n, high_label="n", extra=f" (n={n})")


# --------------------------------------------------------------------------------------------------
# Uncertainty sampling
# --------------------------------------------------------------------------------------------------

_PROB_ATOL = 1e-6
_SUM_ATOL = 1e-4


def _check_probabilities(P: Any, n: int, func: str) -> np.ndarray:
    """Check predicted class probabilities of shape (n, C), C >= 2, rows on the simplex.

    Entries may leave ``[0, 1]`` by up to 1e-6 (then clipped); rows must sum to 1 within 1e-4.
    Complex, string and object input is refused. Returns a float64 array (n, C). O(n C).
    """
    what = f"class probabilities of shape (n, C) (n={n}), or a callable returning them"
    arr = as_real_array(P, "oracle", func, what=what).astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 2:
        raise input_error(
            func,
            "oracle",
            f"must give class probabilities of shape (n, C) with n={n} and C >= 2; got shape "
            f"{arr.shape}",
            "pass one row of probabilities per point",
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise input_error(
            func,
            "oracle",
            f"gave NaN or infinite probabilities at {int(bad.sum())} positions",
            "check the model's outputs",
        )
    out = (arr < -_PROB_ATOL) | (arr > 1 + _PROB_ATOL)
    if out.any():
        raise input_error(
            func,
            "oracle",
            f"gave {int(out.sum())} probabilities outside [0, 1] (min {arr.min():.4g}, max "
            f"{arr.max():.4g})",
            "apply softmax to logits first",
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_ATOL
    if off.any():
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise input_error(
            func,
            "oracle",
            f"gave {int(off.sum())} rows that do not sum to 1 (row {worst} sums to "
            f"{sums[worst]:.6g})",
            "normalise each row (softmax) first",
        )
    return np.clip(arr, 0.0, 1.0)


class _UncertaintySampling(ParamsMixin):
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
        n = check_embeddings(X, f"{name}.select", dtype=None).shape[0]
        budget = _check_budget(self.budget, n, name)
        if oracle is None:
            raise input_error(
                f"{name}.select",
                "oracle",
                "is required",
                "pass class probabilities of shape (n, C) or a callable oracle(indices) "
                "returning them",
                kind=TypeError,
            )
        raw = oracle(np.arange(n)) if callable(oracle) else oracle
        P = _check_probabilities(raw, n, f"{name}.select")
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
