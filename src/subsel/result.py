"""The one result type that every selector returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import as_real_array, check_int, input_error

__all__ = ["Selection"]


def _as_1d(value, name: str, dtype, n: int | None) -> np.ndarray | None:
    if value is None:
        return None
    arr = as_real_array(value, name, "Selection").astype(dtype, copy=False)
    if arr.ndim != 1:
        raise input_error("Selection", name, f"must be 1-d; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise input_error(
            "Selection", name, f"must have one entry per selected index ({n}); got {arr.shape[0]}"
        )
    return arr


@dataclass(frozen=True)
class Selection:
    """A chosen subset and what the method that chose it knows about it.

    Attributes
    ----------
    indices : ndarray of int64, shape (s,)
        Positions of the chosen items in the input, in the order the method chose them. May repeat
        for methods that sample with replacement (sensitivity sampling).
    weights : ndarray of float64, shape (s,)
        Importance weights (``1 / (s p)`` for importance sampling); all ones where not applicable.
    probabilities : ndarray of float64, shape (s,), optional
        The probability with which each chosen item was drawn.
    gains : ndarray of float64, shape (s,), optional
        Marginal gains, for greedy maximizers.
    center_indices : ndarray of int64, optional
        Indices of cluster centres, for clustering-based methods.
    n_queries : int, optional
        How many times the model / oracle was queried.
    seconds : float, optional
        Wall time of the selection.
    extra : dict
        Anything else a method reports (kept out of the fixed schema).
    """

    indices: np.ndarray
    weights: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    gains: np.ndarray | None = None
    center_indices: np.ndarray | None = None
    n_queries: int | None = None
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        idx = as_real_array(self.indices, "indices", "Selection")
        if idx.ndim != 1:
            raise input_error("Selection", "indices", f"must be 1-d; got shape {idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise input_error(
                "Selection", "indices", f"must be integers; got dtype {idx.dtype}", kind=TypeError
            )
        if idx.size and idx.min() < 0:
            raise input_error("Selection", "indices", f"must be >= 0; got {int(idx.min())}")
        idx = idx.astype(np.int64, copy=False)
        n = idx.shape[0]
        object.__setattr__(self, "indices", idx)
        weights = np.ones(n) if self.weights is None else self.weights
        object.__setattr__(self, "weights", _as_1d(weights, "weights", np.float64, n))
        object.__setattr__(
            self, "probabilities", _as_1d(self.probabilities, "probabilities", np.float64, n)
        )
        object.__setattr__(self, "gains", _as_1d(self.gains, "gains", np.float64, n))
        object.__setattr__(
            self, "center_indices", _as_1d(self.center_indices, "center_indices", np.int64, None)
        )

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def mask(self, n: int) -> np.ndarray:
        """Boolean mask of shape ``(n,)`` with the chosen positions set."""
        n = check_int(n, "n", "Selection.mask", low=0)
        if len(self) and int(self.indices.max()) >= n:
            raise ValueError(
                f"The 'n' parameter of Selection.mask must be an int > every index (the selection "
                f"has index {int(self.indices.max())}, out of range for a smaller n). Got {n} instead."
            )
        out = np.zeros(n, dtype=bool)
        out[self.indices] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view (lists and scalars), e.g. for JSON."""
        out: dict[str, Any] = {}
        for key in ("indices", "weights", "probabilities", "gains", "center_indices"):
            value = getattr(self, key)
            out[key] = None if value is None else value.tolist()
        out["n_queries"] = self.n_queries
        out["seconds"] = self.seconds
        out.update({key: _plain(value) for key, value in self.extra.items()})
        return out


def _plain(value: Any) -> Any:
    """numpy arrays and scalars inside (nested) dicts and lists -> plain Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
