"""Input checks shared by the valuation metrics and baselines (private)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    as_real_array,
    check_vector,
    input_error,
    param_error,
)

#: The fractions of the addition / removal curves: 5%, 10%, ..., 50% (paper Fig. 1).
DEFAULT_CURVE_FRACTIONS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 11))
#: The inspected fractions of :func:`mislabel_detection` (the benchmark's 20-80%).
DEFAULT_INSPECT_FRACTIONS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)

_FRACTIONS = "a non-empty sequence of floats in (0, 1]"


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------
def _check_fractions(fractions: Any, func: str, name: str = "fractions") -> np.ndarray:
    """A float or a 1-d sequence of floats in (0, 1], as a float64 array (F,), order kept."""
    if isinstance(fractions, (str, bytes, dict, set)):
        raise param_error(func, name, _FRACTIONS, fractions, kind=TypeError)
    arr = np.asarray(fractions) if not isinstance(fractions, np.ndarray) else fractions
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise param_error(func, name, _FRACTIONS, fractions, kind=TypeError)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise param_error(func, name, _FRACTIONS, fractions, kind=TypeError)
    arr = np.atleast_1d(arr).astype(np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise param_error(func, name, _FRACTIONS, fractions)
    bad = ~(np.isfinite(arr) & (arr > 0) & (arr <= 1))
    if bad.any():
        raise param_error(
            func, name, f"{_FRACTIONS} (entry {float(arr[bad][0])!r} is not)", fractions
        )
    return arr


def _check_labels(y: Any, n: int | None, func: str, name: str = "y") -> np.ndarray:
    """Integer class labels (ints, bools or whole floats) of shape (n,), as int64."""
    if isinstance(y, (list, tuple, np.ndarray)) and np.asarray(y).dtype.kind in "US":
        raise input_error(
            func,
            name,
            f"must hold integer class labels; got strings (dtype {np.asarray(y).dtype})",
            "encode the classes with np.unique(y, return_inverse=True)",
            kind=TypeError,
        )
    arr = as_real_array(
        y,
        name,
        func,
        what="a 1-d array of integer class labels (encode strings with "
        "np.unique(y, return_inverse=True))",
    )
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},), one label per row of X" if n is not None else "(n,)"
        raise input_error(func, name, f"must have shape {want}; got shape {arr.shape}")
    if arr.size == 0:
        raise input_error(func, name, "is empty", "pass at least one label")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        if not np.isfinite(arr).all():
            raise input_error(
                func, name, f"contains {int((~np.isfinite(arr)).sum())} NaN or infinite labels"
            )
        frac = arr != np.round(arr)
        if frac.any():
            raise input_error(
                func,
                name,
                f"must hold integer class labels; got {int(frac.sum())} values with fractions "
                f"(e.g. {float(arr[frac][0])!r})",
                "encode the classes with np.unique(y, return_inverse=True)",
                kind=TypeError,
            )
    return arr.astype(np.int64, copy=False)


def _check_flipped(flipped: Any, n: int | None, func: str, *, both: bool = False) -> np.ndarray:
    """The ground-truth mask (n,): booleans or 0/1, at least one True (and one False if both)."""
    arr = check_vector(flipped, n, "flipped", func)
    other = (arr != 0) & (arr != 1)
    if other.any():
        raise input_error(
            func,
            "flipped",
            f"must hold only booleans or 0/1; found {int(other.sum())} other values "
            f"(e.g. {float(arr[other][0]):g})",
            "pass the mask returned by flip_labels",
        )
    mask = arr.astype(bool)
    if not mask.any():
        raise input_error(
            func,
            "flipped",
            "marks no point as flipped, so there is nothing to detect",
            "flip some labels first (flip_labels) or skip this metric",
        )
    if both and mask.all():
        raise input_error(
            func,
            "flipped",
            "marks every point as flipped, so the metric is undefined",
            "keep at least one clean point",
        )
    return mask


def _count(fraction: float, n: int) -> int:
    return int(round(fraction * n))
