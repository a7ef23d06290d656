"""Checks for numpy-side array inputs: embeddings, vectors, matrices, index sets.

Every check refuses (``TypeError``) what is not a real number: strings, objects, complex values
(which numpy would silently cast to their real part). Large arrays are scanned in blocks of rows,
so a check never allocates an ``n x d`` flag array.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._core import _is_tensor, input_error, param_error

__all__ = [
    "as_real_array",
    "check_embeddings",
    "check_vector",
    "check_values",
    "check_matrix",
    "check_symmetric",
    "check_indices",
    "check_index_array",
    "embedding_summary",
    "check_embedding_summary",
]

_BLOCK = 4_194_304  # elements per block when scanning large arrays (16-32 MB)


def _rows_per_block(arr: np.ndarray) -> int:
    return max(1, _BLOCK // max(1, int(np.prod(arr.shape[1:], dtype=np.int64))))


def _count_bad(arr: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> int:
    """Number of entries of ``arr`` where ``test`` holds, scanned in blocks of rows."""
    if arr.ndim < 2:
        return int(np.count_nonzero(test(arr)))
    step = _rows_per_block(arr)
    return sum(int(np.count_nonzero(test(arr[lo : lo + step]))) for lo in range(0, len(arr), step))


def _abs_max(arr: np.ndarray) -> float:
    """``max |arr|`` of a finite array, scanned in blocks of rows."""
    if arr.size == 0:
        return 0.0
    if arr.ndim < 2:
        return float(np.max(np.abs(arr)))
    step = _rows_per_block(arr)
    return max(float(np.max(np.abs(arr[lo : lo + step]))) for lo in range(0, len(arr), step))


def as_real_array(value: Any, name: str, func: str, *, what: str = "a numeric array") -> np.ndarray:
    """``np.asarray(value)`` of a real (integer, float or bool) dtype; nothing is cast yet.

    Refuses ``None``, strings, ragged or object input and complex numbers with a ``TypeError``.
    CPU and GPU torch tensors are detached and moved to the CPU.
    """
    if _is_tensor(value):
        if value.is_complex():
            raise input_error(
                func,
                name,
                f"must be real; got complex dtype {value.dtype}",
                "take .real or .abs() explicitly",
                kind=TypeError,
            )
        value = value.detach().cpu().numpy()
    if value is None or isinstance(value, (str, bytes)):
        raise input_error(func, name, f"must be {what}; got {type(value).__name__}", kind=TypeError)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise input_error(
            func,
            name,
            f"must be {what}; could not convert {type(value).__name__} ({exc})",
            kind=TypeError,
        ) from exc
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise input_error(
            func,
            name,
            f"must be real; got complex dtype {arr.dtype}",
            "take np.real or np.abs explicitly",
            kind=TypeError,
        )
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise input_error(func, name, f"must be numeric; got dtype {arr.dtype}", kind=TypeError)
    return arr


def _check_finite(arr: np.ndarray, name: str, func: str, fix: str = "remove or impute them"):
    """Raise on NaN or +-inf anywhere in a float array (blockwise)."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    nan = _count_bad(arr, np.isnan)
    if nan:
        raise input_error(func, name, f"contains NaN at {nan} positions", fix)
    inf = _count_bad(arr, np.isinf)
    if inf:
        raise input_error(func, name, f"contains infinite values at {inf} positions", fix)


def _check_magnitude(arr: np.ndarray, name: str, func: str, *, power: float) -> None:
    """Refuse values so large that ``sum of |x|^power`` over a row overflows the dtype.

    Distances between rows of ``d`` columns need ``d * (2 max|x|)^2`` to be finite.
    """
    if not np.issubdtype(arr.dtype, np.floating) or arr.size == 0:
        return
    big = _abs_max(arr)
    d = arr.shape[1] if arr.ndim == 2 else 1
    limit = (float(np.finfo(arr.dtype).max) / (4.0 * d)) ** (1.0 / power) / 4.0
    if big > limit:
        raise input_error(
            func,
            name,
            f"holds values up to {big:.3g} in magnitude, too large for squared distances in "
            f"{arr.dtype} (limit about {limit:.3g} for {d} columns)",
            "rescale it (e.g. X / np.abs(X).max())"
            + (" or cast it to float64" if arr.dtype != np.float64 else ""),
        )


def check_embeddings(
    X: Any, func: str, name: str = "X", *, dtype=np.float64, distances: bool = False
) -> np.ndarray:
    """Check a 2-d array of embeddings (n, d): real, non-empty, finite. Returns a numpy array.

    Accepts numpy arrays, array-likes and torch tensors (converted without copying where
    possible). ``dtype=None`` keeps float32 data in float32 (no copy) and makes anything else
    float64. Object and complex arrays are refused. ``distances=True`` also refuses values so
    large that squared Euclidean distances between rows would overflow.
    """
    arr = as_real_array(X, name, func, what="a 2-d numeric array (n, d)")
    if arr.ndim != 2:
        raise input_error(
            func,
            name,
            f"must be 2-d (n, d); got shape {arr.shape}",
            "reshape a single feature with X.reshape(-1, 1)",
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise input_error(
            func, name, f"is empty (shape {arr.shape})", "pass at least one row and one column"
        )
    if dtype is None:  # keep single or double precision; anything else becomes float64
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = arr.astype(dtype, copy=False)
    _check_finite(arr, name, func)
    if distances:
        _check_magnitude(arr, name, func, power=2.0)
    return arr


def check_vector(
    value: Any,
    size: int | None,
    name: str,
    func: str,
    *,
    nonnegative: bool = False,
    hint: str = "",
    dtype=np.float64,
) -> np.ndarray:
    """A 1-d array of ``size`` finite reals (``size=None``: any non-empty length) as ``dtype``.

    A column or row vector ``(n, 1)`` / ``(1, n)`` is flattened. ``nonnegative`` rejects values
    below 0, with ``hint`` appended to the message.
    """
    arr = as_real_array(value, name, func, what=f"a 1-d array of {size or 'n'} numbers")
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or (size is not None and arr.shape != (size,)):
        want = f"({size},), one value per item" if size is not None else "(n,)"
        raise input_error(func, name, f"must have shape {want}; got shape {arr.shape}")
    if arr.size == 0:
        raise input_error(func, name, "is empty", "pass at least one value")
    arr = arr.astype(dtype, copy=False)
    _check_finite(arr, name, func)
    if nonnegative and (arr < 0).any():
        raise input_error(
            func,
            name,
            f"must be >= 0; got {int((arr < 0).sum())} negative values (min {arr.min():.4g})",
            hint.rstrip(".") if hint else "",
        )
    return arr


def check_values(v: Any, n: int, func: str, name: str, *, nonnegative: bool = False) -> np.ndarray:
    """Per-item losses / scores: :func:`check_vector` in the argument order selection uses."""
    hint = "losses are non-negative by definition" if nonnegative else ""
    return check_vector(v, n, name, func, nonnegative=nonnegative, hint=hint)


def check_matrix(
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

    float32 input stays float32; any other real dtype becomes float64. Dense output is a numpy
    array (not necessarily contiguous); sparse output has sorted indices and no duplicates.
    ``check=False`` skips the scan of the values (NaN, inf, sign) for trusted input.
    """
    if sp.issparse(value):
        if np.issubdtype(value.dtype, np.complexfloating):
            raise input_error(
                func, name, f"must be real; got complex dtype {value.dtype}", kind=TypeError
            )
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise input_error(
                func, name, f"must be numeric; got dtype {value.dtype}", kind=TypeError
            )
        if value.ndim != 2:
            raise input_error(func, name, f"must be 2-d; got shape {value.shape}")
        dtype = np.float32 if value.dtype == np.float32 else np.float64
        mat = (value.tocsc() if sparse_format == "csc" else value.tocsr()).astype(dtype, copy=False)
        mat = sp.csc_matrix(mat) if sparse_format == "csc" else sp.csr_matrix(mat)
        if not mat.has_canonical_format:
            mat = mat.copy()
            mat.sum_duplicates()
        data = mat.data
    else:
        mat = as_real_array(value, name, func, what="a 2-d numeric array or a scipy.sparse matrix")
        if mat.ndim != 2:
            raise input_error(func, name, f"must be 2-d; got shape {mat.shape}")
        if mat.dtype != np.float32:
            mat = mat.astype(np.float64, copy=False)
        data = mat
    if mat.shape[0] == 0 or mat.shape[1] == 0:
        raise input_error(func, name, f"is empty (shape {mat.shape})")
    if square and mat.shape[0] != mat.shape[1]:
        raise input_error(
            func,
            name,
            f"must be a square (n, n) matrix of similarities between the n items; got shape "
            f"{mat.shape}",
            "build it with a pairwise similarity of the items with themselves",
        )
    if check:
        _check_finite(data, name, func, "clip or remove them")
        if binary:
            other = _count_bad(data, lambda a: (a != 0) & (a != 1))
            if other:
                raise input_error(
                    func,
                    name,
                    f"must hold only 0 and 1 (or booleans); found {other} other values",
                    hint.rstrip("."),
                )
        elif nonnegative:
            neg = _count_bad(data, lambda a: a < 0)
            if neg:
                step = 1_000_000
                low = min(
                    float(data.ravel()[lo : lo + step].min()) for lo in range(0, data.size, step)
                )
                raise input_error(
                    func,
                    name,
                    f"must be >= 0; got {neg} negative values (min {low:.4g})",
                    hint.rstrip("."),
                )
    return mat


def check_symmetric(mat, name: str, func: str, *, raise_error: bool, rtol: float = 1e-10):
    """Whether a square dense or sparse matrix is symmetric up to rounding.

    Entries may differ from their mirror by ``rtol * max|S|`` (``pairwise_distances`` and friends
    leave asymmetries of about 1e-12 in float64, 1e-6 in float32). Returns ``(ok, S)`` where
    ``S`` is symmetrized as ``(S + S.T) / 2`` when it was only nearly symmetric, else unchanged;
    with ``raise_error`` an asymmetry beyond the tolerance raises ``ValueError``.
    """
    eps = float(np.finfo(mat.dtype).eps) if np.issubdtype(mat.dtype, np.floating) else 0.0
    if sp.issparse(mat):
        scale = float(abs(mat).max()) if mat.nnz else 0.0
        diff = abs(mat - mat.T)
        worst = float(diff.max()) if diff.nnz else 0.0
    else:
        n = mat.shape[0]
        step = max(1, min(n, 256))
        worst = scale = 0.0
        for lo in range(0, n, step):
            block = mat[lo : lo + step]
            scale = max(scale, float(np.abs(block).max()))
            if not np.array_equal(block, mat[:, lo : lo + step].T):
                worst = max(worst, float(np.abs(block - mat[:, lo : lo + step].T).max()))
    tol = max(rtol, 64 * eps) * scale
    if worst == 0.0:
        return True, mat
    if worst <= tol:
        sym = (mat + mat.T) / 2
        return True, (sp.csr_matrix(sym) if sp.issparse(mat) else sym.astype(mat.dtype, copy=False))
    if raise_error:
        raise input_error(
            func,
            name,
            f"must be symmetric; the largest |S - S.T| entry is {worst:.4g} (tolerance "
            f"{tol:.3g}, relative to max |S| = {scale:.4g})",
            "symmetrize it with (S + S.T) / 2",
        )
    return False, mat


def check_index_array(value: Any, name: str, func: str, *, ndim: int | None = 1) -> np.ndarray:
    """An integer array (int64); floats that hold whole numbers are accepted, others refused."""
    if isinstance(value, numbers.Number) and ndim == 1:
        raise param_error(func, name, "a 1-d array of integer indices", value, kind=TypeError)
    arr = as_real_array(value, name, func, what="an array of integer indices")
    if arr.dtype == bool:
        raise input_error(
            func,
            name,
            "must hold integer indices; got a boolean array",
            "use np.flatnonzero(mask) to turn a mask into indices",
            kind=TypeError,
        )
    if not np.issubdtype(arr.dtype, np.integer):
        whole = arr.size == 0 or (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        if not whole:
            raise input_error(
                func,
                name,
                f"must hold integer indices; got dtype {arr.dtype} with fractions",
                kind=TypeError,
            )
    arr = arr.astype(np.int64, copy=False)
    if ndim is not None and arr.ndim != ndim and arr.size:
        raise input_error(func, name, f"must be {ndim}-d; got shape {arr.shape}")
    return arr


def check_indices(value: Any, n: int, name: str, func: str, *, allow_mask: bool = True):
    """Distinct item indices in [0, n) as int64 (order kept); ``None`` is the empty set.

    A bool mask of shape ``(n,)`` is accepted when ``allow_mask``.
    """
    if value is None:
        return np.zeros(0, dtype=np.int64)
    if allow_mask and not isinstance(value, (str, bytes, numbers.Number)):
        arr = np.asarray(value) if not _is_tensor(value) else value.detach().cpu().numpy()
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise input_error(
                    func, name, f"given as a boolean mask must have shape ({n},); got {arr.shape}"
                )
            return np.flatnonzero(arr).astype(np.int64)
    arr = check_index_array(value, name, func, ndim=1)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    out = (arr < 0) | (arr >= n)
    if out.any():
        raise input_error(
            func,
            name,
            f"must hold indices in [0, {n - 1}] (n={n}); got {int(out.sum())} out of range "
            f"(e.g. {int(arr[out][0])})",
        )
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise input_error(
            func,
            name,
            f"must hold distinct indices; index {int(uniq[counts > 1][0])} appears "
            f"{int(counts.max())} times",
            "remove duplicates with np.unique",
        )
    return arr


def embedding_summary(block: Any) -> tuple[int, int, float]:
    """``(NaN count, infinite count, max |finite value|)`` of a numeric block: what
    :func:`check_embeddings` tests, for data seen block by block (dask). Summaries of several
    blocks combine by adding the counts and taking the largest maximum."""
    arr = np.asarray(block)
    if not np.issubdtype(arr.dtype, np.floating) or arr.size == 0:
        big = float(np.max(np.abs(arr))) if arr.size and arr.dtype != bool else 0.0
        return 0, 0, big
    nan = _count_bad(arr, np.isnan)
    inf = _count_bad(arr, np.isinf)
    finite = arr if not (nan or inf) else np.where(np.isfinite(arr), arr, 0)
    return nan, inf, _abs_max(finite)


def check_embedding_summary(
    summary: tuple[int, int, float],
    shape: tuple[int, int],
    dtype,
    func: str,
    name: str = "X",
    *,
    distances: bool = False,
) -> None:
    """Raise what :func:`check_embeddings` raises for an array of ``shape`` whose blocks'
    :func:`embedding_summary` add up to ``summary`` (``dtype``: the float dtype it is used in)."""
    nan, inf, big = summary
    if nan:
        raise input_error(func, name, f"contains NaN at {nan} positions", "remove or impute them")
    if inf:
        raise input_error(
            func, name, f"contains infinite values at {inf} positions", "remove or impute them"
        )
    if distances:
        _check_magnitude(np.full((1, shape[1]), big, dtype=dtype), name, func, power=2.0)
