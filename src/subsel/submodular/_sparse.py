"""Row access shared by the set functions: compressed (CSR/CSC) rows and runs of dense rows.

Every set function here reads "row ``i``" of a matrix: a column of facility location's
similarities (stored CSC), a row of feature-based features or of group memberships (CSR), a
column of graph cut's similarities (CSC). :func:`compressed_row` gives one such row and
:func:`segments` the rows of many candidates at once, so that a batch of gains is one
``np.bincount``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import param_error

__all__ = ["CHUNK_BYTES", "compressed_row", "segments", "is_run", "float_dtype"]

CHUNK_BYTES = 4 * 2**20  # scratch per chunk of candidates in the dense gain kernels


def compressed_row(M: sp.csr_matrix | sp.csc_matrix, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of row ``i`` of a CSR matrix (column ``i`` of a CSC one): views, O(1)."""
    lo, hi = M.indptr[i], M.indptr[i + 1]
    return M.indices[lo:hi], M.data[lo:hi]


def segments(indptr: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR/CSC ``data`` array of the rows/columns ``c``, and the segment id of each.

    For ``c = [c_0, c_1, ...]`` the positions are those of ``c_0``'s entries, then ``c_1``'s, ...,
    each in storage order; ``seg[t]`` is the index into ``c`` that position ``t`` belongs to.
    O(total nonzeros of the rows), no Python loop.
    """
    starts = indptr[c]
    lens = indptr[c + 1] - starts
    if c.shape[0] == 1:
        pos = np.arange(starts[0], starts[0] + lens[0])
        return pos, np.zeros(pos.shape[0], dtype=np.intp)
    seg = np.repeat(np.arange(c.shape[0], dtype=np.intp), lens)
    first = np.cumsum(lens) - lens  # where each segment starts in the output
    pos = np.arange(seg.shape[0], dtype=np.int64) + (starts - first)[seg]
    return pos, seg


def is_run(idx: np.ndarray) -> bool:
    """Whether ``idx`` is ``lo, lo + 1, ..., lo + m - 1`` (then rows can be read as a view)."""
    m = idx.shape[0]
    if int(idx[-1]) - int(idx[0]) != m - 1:
        return False
    return m <= 2 or bool(np.all(np.diff(idx) == 1))


def float_dtype(value: Any, func: str, name: str = "dtype"):
    """``np.float32`` or ``np.float64`` (as the numpy scalar type) from a dtype-like ``value``."""
    if value is None or isinstance(value, bool):
        raise param_error(func, name, "np.float32 or np.float64", value, kind=TypeError)
    try:
        dt = np.dtype(value)
    except TypeError as exc:
        raise param_error(func, name, "np.float32 or np.float64", value, kind=TypeError) from exc
    if dt not in (np.float32, np.float64):
        raise param_error(func, name, "np.float32 or np.float64", value)
    return dt.type
