"""Pairwise conditional random fields: the relevance model ``r(y)`` of structured diversity.

A :class:`PairwiseCRF` scores a labelling ``y`` in ``[L]^n`` of ``n`` nodes by

.. math::  r(y) = \\sum_i \\theta_i(y_i) + \\sum_{e=(i,j)} w_e\\, \\theta_e(y_i, y_j)

(scores are maximized; an energy is ``-r``). Node scores are ``unary (n, L)``; edge scores are
either one table per edge ``pairwise (m, L, L)`` or one shared table ``pairwise (L, L)`` scaled by
``edge_weights (m,)`` (contrast-sensitive Potts, truncated linear, ...). The shared form keeps a
200k-pixel grid with 64 labels at O(m + L^2) memory instead of O(m L^2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    as_real_array,
    check_choice,
    check_index_array,
    check_int,
    check_real,
    check_vector,
    input_error,
)

__all__ = ["PairwiseCRF", "grid_edges", "potts"]


def grid_edges(height: int, width: int, *, connectivity: int = 4) -> np.ndarray:
    """Edges of a ``height x width`` pixel grid, nodes numbered row-major (``i = r * width + c``).

    Parameters
    ----------
    height, width : int
        Grid size.
    connectivity : {4, 8}
        4: right and down neighbours; 8: also the two diagonals.

    Returns
    -------
    edges : ndarray of int64, shape (m, 2)
        ``m = 2HW - H - W`` for 4-connectivity, plus ``2(H-1)(W-1)`` for 8.
    """
    func = "grid_edges"
    height = check_int(height, "height", func, low=1)
    width = check_int(width, "width", func, low=1)
    connectivity = check_choice(connectivity, (4, 8), "connectivity", func)
    idx = np.arange(height * width, dtype=np.int64).reshape(height, width)
    parts = [
        np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1),
        np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),
    ]
    if connectivity == 8:
        parts.append(np.stack([idx[:-1, :-1].ravel(), idx[1:, 1:].ravel()], axis=1))
        parts.append(np.stack([idx[:-1, 1:].ravel(), idx[1:, :-1].ravel()], axis=1))
    return np.concatenate(parts, axis=0)


def potts(n_labels: int, weight: float = 1.0) -> np.ndarray:
    """The Potts score table ``(L, L)``: ``weight`` on the diagonal (agreement), 0 elsewhere.

    ``n_labels >= 2`` (a CRF has at least two labels); ``weight`` any finite real (negative:
    repulsive edges).
    """
    n_labels = check_int(n_labels, "n_labels", "potts", low=2)
    return check_real(weight, "weight", "potts") * np.eye(n_labels)


def _finite_float(arr: Any, name: str, func: str) -> np.ndarray:
    """A real array (complex, strings and objects refused) as float64, with no NaN or inf."""
    arr = as_real_array(arr, name, func).astype(np.float64)
    for what, bad in (("NaN", np.isnan(arr)), ("infinite values", np.isinf(arr))):
        if bad.any():
            raise input_error(
                func,
                name,
                f"contains {what} at {int(bad.sum())} positions",
                "use large finite scores for hard constraints",
            )
    return arr


class PairwiseCRF:
    """A pairwise CRF over ``n`` nodes with ``L`` labels (scores are maximized).

    Parameters
    ----------
    unary : array_like, shape (n, L)
        Node scores ``theta_i(l)``; finite (use large finite values for hard constraints).
    edges : array_like of int, shape (m, 2)
        Node pairs ``(i, j)``, ``i != j``, each in ``[0, n)``. May be empty (``m = 0``).
    pairwise : array_like, shape (m, L, L) or (L, L)
        Edge scores ``theta_e(y_i, y_j)`` (row: label of ``edges[e, 0]``); an ``(L, L)`` table is
        shared by every edge and scaled by ``edge_weights``.
    edge_weights : array_like, shape (m,), optional
        Nonnegative scale of each edge's table (default 1). Allowed with either pairwise form.

    Notes
    -----
    Memory is ``O(nL + m)`` with a shared table and ``O(nL + mL^2)`` with per-edge tables.
    Scoring a labelling costs ``O(n + m)``.
    """

    def __init__(self, unary: Any, edges: Any, pairwise: Any, *, edge_weights: Any = None):
        func = "PairwiseCRF"
        u = as_real_array(unary, "unary", func)
        if u.ndim != 2 or u.shape[0] < 1 or u.shape[1] < 2:
            raise input_error(
                func,
                "unary",
                f"must have shape (n, L) with n >= 1 nodes and L >= 2 labels; got shape {u.shape}",
            )
        self.unary = _finite_float(u, "unary", func)
        n, L = self.unary.shape

        e = check_index_array(edges, "edges", func, ndim=None)
        if e.size == 0:
            e = np.zeros((0, 2), dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != 2:
            raise input_error(func, "edges", f"must have shape (m, 2); got shape {e.shape}")
        if e.size and (e.min() < 0 or e.max() >= n):
            bad = int(((e < 0) | (e >= n)).any(axis=1).sum())
            raise input_error(
                func,
                "edges",
                f"has {bad} edges with a node outside [0, {n})",
                "node ids must index rows of 'unary'",
            )
        if e.size and (e[:, 0] == e[:, 1]).any():
            raise input_error(
                func,
                "edges",
                f"has {int((e[:, 0] == e[:, 1]).sum())} self-loops",
                "remove them (put node terms in 'unary')",
            )
        self.edges = e
        m = e.shape[0]

        p = as_real_array(pairwise, "pairwise", func)
        if p.shape not in ((L, L), (m, L, L)):
            raise input_error(
                func,
                "pairwise",
                f"must have shape ({L}, {L}) or ({m}, {L}, {L}) for L={L} labels and m={m} "
                f"edges; got shape {p.shape}",
            )
        self.pairwise = _finite_float(p, "pairwise", func)

        if edge_weights is None:
            self.edge_weights = None
        else:
            w = as_real_array(edge_weights, "edge_weights", func)
            if m == 0 and w.size == 0:
                self.edge_weights = w.astype(np.float64).reshape(0)
            else:
                self.edge_weights = check_vector(
                    w,
                    m,
                    "edge_weights",
                    func,
                    nonnegative=True,
                    hint="weights scale the edge table and must be >= 0",
                )

    # ------------------------------------------------------------------ shape
    @property
    def n_nodes(self) -> int:
        return self.unary.shape[0]

    @property
    def n_labels(self) -> int:
        return self.unary.shape[1]

    @property
    def n_edges(self) -> int:
        return self.edges.shape[0]

    @property
    def shared_table(self) -> bool:
        """True when one ``(L, L)`` table (times ``edge_weights``) serves every edge."""
        return self.pairwise.ndim == 2

    def weights(self) -> np.ndarray:
        """Edge weights ``(m,)`` (ones when none were given)."""
        return np.ones(self.n_edges) if self.edge_weights is None else self.edge_weights

    def edge_tables(self, index: Any = slice(None)) -> np.ndarray:
        """The effective score tables ``(k, L, L)`` of the edges ``index`` (weights applied).

        Materializes ``k L^2`` numbers: select a slice for large graphs.
        """
        w = self.weights()[index]
        if self.shared_table:
            return w[:, None, None] * self.pairwise[None]
        return w[:, None, None] * self.pairwise[index]

    def edge_scores(self, yi: np.ndarray, yj: np.ndarray, index: Any = slice(None)) -> np.ndarray:
        """Scores ``w_e theta_e(yi, yj)`` of edges ``index`` for labels ``yi``, ``yj`` (arrays)."""
        w = self.weights()[index]
        if self.shared_table:
            return w * self.pairwise[yi, yj]
        ids = np.arange(self.n_edges)[index]
        return w * self.pairwise[ids, yi, yj]

    # ------------------------------------------------------------------ scoring
    def check_labels(self, y: Any, func: str, name: str = "y") -> np.ndarray:
        """Validate labellings ``(n,)`` or ``(B, n)`` of ints in ``[0, L)``; return int64."""
        arr = as_real_array(y, name, func, what="an array of integer labels")
        if arr.shape[-1:] != (self.n_nodes,) or arr.ndim not in (1, 2):
            raise input_error(
                func,
                name,
                f"must have shape ({self.n_nodes},) or (B, {self.n_nodes}); got shape {arr.shape}",
            )
        if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise input_error(
                func, name, f"must hold integer labels; got dtype {arr.dtype}", kind=TypeError
            )
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_labels):
            raise input_error(
                func,
                name,
                f"has labels outside [0, {self.n_labels})",
                "labels index columns of 'unary'",
            )
        return arr

    def score(self, y: Any) -> float | np.ndarray:
        """``r(y)`` for one labelling ``(n,)`` (a float) or a batch ``(B, n)`` (an array ``(B,)``).

        Cost ``O(B (n + m))``.
        """
        y = self.check_labels(y, "PairwiseCRF.score")
        batch = np.atleast_2d(y)
        rows = np.arange(self.n_nodes)
        out = self.unary[rows[None, :], batch].sum(axis=1)
        if self.n_edges:
            i, j = self.edges[:, 0], self.edges[:, 1]
            out = out + np.stack([self.edge_scores(b[i], b[j]).sum() for b in batch])
        return float(out[0]) if y.ndim == 1 else out

    def energy(self, y: Any) -> float | np.ndarray:
        """``-r(y)``: the energy that minimizers (graph cuts, expansion) work with."""
        return -self.score(y)

    # ------------------------------------------------------------------ derived models
    def with_unary(self, extra: Any) -> PairwiseCRF:
        """A CRF with ``extra (n, L)`` added to the node scores (edges shared, not copied)."""
        extra = as_real_array(extra, "extra", "PairwiseCRF.with_unary")
        if extra.shape != self.unary.shape:
            raise input_error(
                "PairwiseCRF.with_unary",
                "extra",
                f"must have shape {self.unary.shape}; got shape {extra.shape}",
            )
        out = object.__new__(PairwiseCRF)
        out.unary = _finite_float(self.unary + extra, "unary + extra", "PairwiseCRF.with_unary")
        out.edges = self.edges
        out.pairwise = self.pairwise
        out.edge_weights = self.edge_weights
        if "_layout" in self.__dict__:  # a forest's breadth-first layout depends on edges only
            out._layout = self._layout
        return out

    def is_forest(self) -> bool:
        """True when the edges form no cycle (then exact max-product applies). ``O(n + m)``.

        A graph is a forest exactly when it has ``n - (number of components)`` edges (parallel
        edges count as a cycle).
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n, m = self.n_nodes, self.n_edges
        if m == 0:
            return True
        adj = coo_matrix((np.ones(m), (self.edges[:, 0], self.edges[:, 1])), shape=(n, n))
        n_comp, _ = connected_components(adj, directed=False)
        return m == n - n_comp

    @classmethod
    def grid(
        cls,
        unary: Any,
        pairwise: Any,
        *,
        edge_weights: Any = None,
        connectivity: int = 4,
    ) -> PairwiseCRF:
        """A CRF on an image grid from ``unary (H, W, L)``; nodes are pixels in row-major order."""
        u = as_real_array(unary, "unary", "PairwiseCRF.grid")
        if u.ndim != 3:
            raise input_error(
                "PairwiseCRF.grid", "unary", f"must have shape (H, W, L); got shape {u.shape}"
            )
        h, w, L = u.shape
        return cls(
            u.reshape(h * w, L),
            grid_edges(h, w, connectivity=connectivity),
            pairwise,
            edge_weights=edge_weights,
        )

    def __repr__(self) -> str:
        form = "shared" if self.shared_table else "per-edge"
        return (
            f"PairwiseCRF(n_nodes={self.n_nodes}, n_labels={self.n_labels}, "
            f"n_edges={self.n_edges}, pairwise={form})"
        )
