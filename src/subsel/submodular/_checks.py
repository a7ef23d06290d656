"""Input checks for set functions and their maximizers, in the one format of ``_validation``."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import param_error

__all__ = [
    "as_matrix",
    "as_weights",
    "as_subset",
    "as_real",
    "check_choice",
    "check_symmetric",
    "concave_function",
    "CONCAVE",
]

_BLOCK = 4_194_304  # elements per block when scanning large matrices (16-32 MB)


def _count_bad(arr: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> int:
    """Number of entries of ``arr`` where ``test`` holds, scanned in blocks of rows."""
    if arr.ndim < 2:
        return int(np.count_nonzero(test(arr)))
    step = max(1, _BLOCK // max(1, arr.shape[1]))
    return sum(int(np.count_nonzero(test(arr[lo : lo + step]))) for lo in range(0, len(arr), step))


def _check_values(
    values: np.ndarray, name: str, func: str, *, nonnegative: bool, hint: str, binary: bool
) -> None:
    """NaN / inf / negative / non-binary checks on the stored values of a dense or sparse matrix."""
    nan = _count_bad(values, np.isnan)
    if nan:
        raise ValueError(
            f"Input '{name}' of {func} contains NaN at {nan} positions; remove or impute them."
        )
    inf = _count_bad(values, np.isinf)
    if inf:
        raise ValueError(
            f"Input '{name}' of {func} contains infinite values at {inf} positions; "
            f"clip or remove them."
        )
    if binary:
        other = _count_bad(values, lambda a: (a != 0) & (a != 1))
        if other:
            raise ValueError(
                f"Input '{name}' of {func} must hold only 0 and 1 (or booleans); found {other} "
                f"other values. {hint}"
            )
    elif nonnegative:
        neg = _count_bad(values, lambda a: a < 0)
        if neg:
            low = min(
                float(values[lo : lo + 1_000_000].min()) for lo in range(0, len(values), 1_000_000)
            )
            raise ValueError(
                f"Input '{name}' of {func} must be >= 0; got {neg} negative values "
                f"(min {low:.4g}). {hint}"
            )


def as_matrix(
    value: Any,
    name: str,
    func: str,
    *,
    square: bool = False,
    nonnegative: bool = True,
    binary: bool = False,
    sparse_format: str = "csr",
    hint: str = "",
    check: bool = True,
) -> np.ndarray | sp.csr_matrix | sp.csc_matrix:
    """A 2-d float matrix (dense numpy or scipy.sparse in ``sparse_format``), checked.

    float32 input stays float32; any other numeric dtype becomes float64. Dense output is a numpy
    array (not necessarily contiguous); sparse output has sorted indices and no duplicates.
    """
    if sp.issparse(value):
        if value.ndim != 2:
            raise ValueError(f"Input '{name}' of {func} must be 2-d; got shape {value.shape}.")
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise TypeError(f"Input '{name}' of {func} must be numeric; got dtype {value.dtype}.")
        dtype = np.float32 if value.dtype == np.float32 else np.float64
        mat = (value.tocsc() if sparse_format == "csc" else value.tocsr()).astype(dtype, copy=False)
        mat = sp.csc_matrix(mat) if sparse_format == "csc" else sp.csr_matrix(mat)
        if not mat.has_canonical_format:
            mat = mat.copy()
            mat.sum_duplicates()
        data = mat.data
    else:
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError(
                f"Input '{name}' of {func} must be a 2-d numeric array or a scipy.sparse matrix; "
                f"got {type(value).__name__}."
            )
        try:
            mat = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(
                f"Input '{name}' of {func} must be a 2-d numeric array or a scipy.sparse "
                f"matrix; could not convert {type(value).__name__} ({exc})."
            ) from exc
        if mat.dtype == object or not (np.issubdtype(mat.dtype, np.number) or mat.dtype == bool):
            raise TypeError(f"Input '{name}' of {func} must be numeric; got dtype {mat.dtype}.")
        if mat.ndim != 2:
            raise ValueError(f"Input '{name}' of {func} must be 2-d; got shape {mat.shape}.")
        if mat.dtype != np.float32:
            mat = mat.astype(np.float64, copy=False)
        data = mat
    if mat.shape[0] == 0 or mat.shape[1] == 0:
        raise ValueError(f"Input '{name}' of {func} is empty (shape {mat.shape}).")
    if square and mat.shape[0] != mat.shape[1]:
        raise ValueError(
            f"Input '{name}' of {func} must be a square (n, n) matrix of similarities between "
            f"the n items; got shape {mat.shape}. Build it with a pairwise similarity of the "
            f"items with themselves (e.g. {func}.from_features(X) where available)."
        )
    if check:
        _check_values(data, name, func, nonnegative=nonnegative, hint=hint, binary=binary)
    return mat


def check_symmetric(mat, name: str, func: str, *, raise_error: bool) -> bool:
    """Whether a square dense or sparse matrix is exactly symmetric; optionally raise if not."""
    if sp.issparse(mat):
        diff = abs(mat - mat.T)
        worst = float(diff.max()) if diff.nnz else 0.0
        ok = worst == 0.0
    else:
        n = mat.shape[0]
        step = max(1, min(n, 256))
        worst, ok = 0.0, True
        for lo in range(0, n, step):
            block = mat[lo : lo + step]
            mirror = mat[:, lo : lo + step].T
            if not np.array_equal(block, mirror):
                ok = False
                if not raise_error:
                    return False
                worst = max(worst, float(np.abs(block - mirror).max()))
    if not ok and raise_error:
        raise ValueError(
            f"Input '{name}' of {func} must be symmetric; the largest |S - S.T| entry is "
            f"{worst:.4g}. Symmetrize it with (S + S.T) / 2."
        )
    return ok


def as_weights(value: Any, size: int, name: str, func: str, *, nonnegative: bool) -> np.ndarray:
    """A 1-d float64 array of ``size`` finite values (``nonnegative`` also rejects < 0)."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(
            f"Input '{name}' of {func} must be a 1-d array of {size} numbers; "
            f"got {type(value).__name__}."
        )
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"Input '{name}' of {func} must be numeric; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.shape != (size,):
        raise ValueError(
            f"Input '{name}' of {func} must have shape ({size},), one value per item; "
            f"got shape {arr.shape}."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        what = "NaN" if np.isnan(arr).any() else "infinite values"
        raise ValueError(
            f"Input '{name}' of {func} contains {what} at {int(bad.sum())} positions; "
            f"remove or impute them."
        )
    if nonnegative and (arr < 0).any():
        raise ValueError(
            f"Input '{name}' of {func} must be >= 0; got {int((arr < 0).sum())} negative "
            f"values (min {arr.min():.4g})."
        )
    return arr


def as_subset(value: Any, n: int, name: str, func: str) -> np.ndarray:
    """Distinct item indices in [0, n) as int64 (sorted as given); a bool mask (n,) is accepted."""
    if value is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(value, (str, bytes)) or isinstance(value, numbers.Number):
        raise param_error(
            func,
            name,
            "a 1-d array of distinct item indices or a boolean mask",
            value,
            kind=TypeError,
        )
    arr = np.asarray(value)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(
                f"Input '{name}' of {func} given as a boolean mask must have shape ({n},); "
                f"got shape {arr.shape}."
            )
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"Input '{name}' of {func} must be 1-d; got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(
                f"Input '{name}' of {func} must hold integer item indices; got dtype {arr.dtype}."
            )
    arr = arr.astype(np.int64, copy=False)
    out = (arr < 0) | (arr >= n)
    if out.any():
        raise ValueError(
            f"Input '{name}' of {func} must hold indices in [0, {n - 1}] (n={n}); got "
            f"{int(out.sum())} out of range (e.g. {int(arr[out][0])})."
        )
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"Input '{name}' of {func} must hold distinct indices; index "
            f"{int(uniq[counts > 1][0])} appears {int(counts.max())} times. Remove duplicates "
            f"with np.unique."
        )
    return arr


def as_real(
    value: Any,
    name: str,
    func: str,
    *,
    low: float | None = None,
    low_open=False,
    high: float | None = None,
    high_open=False,
) -> float:
    """A finite real in the given interval, as float."""
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    constraint = (
        f"a finite float in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
    )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise param_error(func, name, constraint, value, kind=TypeError)
    x = float(value)
    bad = not np.isfinite(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    if bad:
        raise param_error(func, name, constraint, value)
    return x


def check_choice(value: Any, options: tuple[str, ...], name: str, func: str) -> str:
    """``value`` must be one of the strings ``options``."""
    constraint = "one of " + ", ".join(repr(o) for o in options)
    if not isinstance(value, str):
        raise param_error(func, name, constraint, value, kind=TypeError)
    if value not in options:
        raise param_error(func, name, constraint, value)
    return value


def _min1(x: np.ndarray) -> np.ndarray:
    return np.minimum(x, 1.0)


CONCAVE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "log1p": np.log1p,
    "min1": _min1,
}


def concave_function(value: Any, name: str, func: str) -> tuple[str, Callable]:
    """Resolve a concave-function argument: a name in :data:`CONCAVE` or a vectorized callable.

    Returns ``(label, phi)``. A callable is probed on ``[0, 1, 2]``: it must return a float array
    of the same shape with finite values.
    """
    if isinstance(value, str):
        if value not in CONCAVE:
            raise param_error(func, name, "one of 'sqrt', 'log1p', 'min1' or a callable", value)
        return value, CONCAVE[value]
    if not callable(value):
        raise param_error(
            func, name, "one of 'sqrt', 'log1p', 'min1' or a callable", value, kind=TypeError
        )
    probe = np.array([0.0, 1.0, 2.0])
    try:
        out = np.asarray(value(probe), dtype=np.float64)
    except Exception as exc:
        raise TypeError(
            f"The '{name}' parameter of {func} must be a vectorized function (ndarray -> ndarray "
            f"of the same shape); calling it on np.array([0., 1., 2.]) raised {exc!r}."
        ) from exc
    if out.shape != probe.shape or not np.all(np.isfinite(out)):
        raise ValueError(
            f"The '{name}' parameter of {func} must map an ndarray to finite values of the same "
            f"shape; on np.array([0., 1., 2.]) it returned {out!r}. Wrap scalar functions with "
            f"np.vectorize."
        )
    return getattr(value, "__name__", "callable"), value
