"""Exact max-product (max-sum) on forests: the MAP (:func:`tree_map`) and the max-marginals.

Both run on a breadth-first layout of the forest (one virtual root joined to one root per tree);
nothing is recursive, so chains of ``1e5`` nodes are fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._objective import _check_crf
from .crf import PairwiseCRF

__all__ = ["tree_map"]

_max_reduce = np.maximum.reduce  # ndarray.max without its Python wrapper (hot loops)
_CHUNK_ELEMS = 1 << 21  # numbers materialized per chunk of (k, L, L) edge tables


def _oriented_tables(crf: PairwiseCRF, e: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Tables ``(k, L, L)`` of edges ``e`` (weights applied), transposed where ``flip``."""
    w = crf.weights()[e][:, None, None]
    if crf.shared_table:
        t = crf.pairwise
        return w * np.where(flip[:, None, None], t.T[None], t[None])
    p = crf.pairwise[e]
    return w * np.where(flip[:, None, None], p.transpose(0, 2, 1), p)


@dataclass
class _Layout:
    """Breadth-first layout of a forest.

    ``order`` lists the nodes by depth (roots at depth 1), ``bounds[d]:bounds[d + 1]`` the slice
    of ``order`` at depth ``d``, ``parent[c]`` the parent of ``c`` (``n`` for a root),
    ``edge_of[c]`` the edge joining ``c`` to its parent and ``flip[c]`` whether that edge's
    table is indexed (parent, child) rather than (child, parent).
    """

    order: np.ndarray
    bounds: np.ndarray
    depth_max: int
    parent: np.ndarray
    edge_of: np.ndarray
    flip: np.ndarray


def _forest_layout(crf: PairwiseCRF, func: str) -> _Layout:
    """The layout of ``crf``'s edges; ``ValueError`` naming ``crf`` if they contain a cycle.

    Cached on the CRF (and on the CRFs that :meth:`PairwiseCRF.with_unary` derives from it,
    which share its edges): the search for a new labelling solves many such models.
    """
    cached = crf.__dict__.get("_layout")
    if cached is not None and cached[0] is crf.edges:
        return cached[1]
    lay = _compute_layout(crf, func)
    crf._layout = (crf.edges, lay)
    return lay


def _compute_layout(crf: PairwiseCRF, func: str) -> _Layout:
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    from .._validation import param_error

    n, m = crf.n_nodes, crf.n_edges
    a, b = crf.edges[:, 0], crf.edges[:, 1]
    n_comp, comp = csgraph.connected_components(
        sp.coo_matrix((np.ones(m), (a, b)), shape=(n, n)), directed=False
    )
    if m != n - n_comp:  # a forest with k trees has exactly n - k edges (as crf.is_forest())
        raise param_error(
            func,
            "crf",
            "a PairwiseCRF whose edges form a forest (no cycles; parallel edges count as one); "
            "use max_product or alpha_expansion for loopy graphs",
            f"{m} edges on {n} nodes with {m - n + n_comp} independent cycles",
        )
    _, roots = np.unique(comp, return_index=True)
    # a virtual root (node n) joined to one root per tree makes the forest one tree
    rows = np.concatenate([a, np.full(roots.size, n)])
    cols = np.concatenate([b, roots])
    g = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    order, pred = csgraph.breadth_first_order(g, n, directed=False, return_predecessors=True)
    depth = csgraph.shortest_path(g, directed=False, unweighted=True, indices=n)
    order = order[1:]  # drop the virtual root
    d_order = depth[order].astype(np.int64)
    parent = pred[:n].astype(np.int64)
    child_is_a = parent[a] == b  # every edge joins a child to its parent
    child = np.where(child_is_a, a, b)
    edge_of = np.zeros(n, dtype=np.int64)
    edge_of[child] = np.arange(m)
    flip = np.zeros(n, dtype=bool)  # table is (label of a, label of b); orient it (child, parent)
    flip[child] = ~child_is_a
    depth_max = int(d_order[-1])
    bounds = np.searchsorted(d_order, np.arange(depth_max + 2))
    return _Layout(order, bounds, depth_max, parent, edge_of, flip)


def tree_map(crf: PairwiseCRF) -> np.ndarray:
    """Exact MAP of a CRF whose edges form a forest (chains, trees), by max-product (Viterbi).

    Two passes of max-sum messages: leaves to roots (recording, for every node, its best label
    for each label of its parent), then roots to leaves (reading the records back).

    Parameters
    ----------
    crf : PairwiseCRF
        Its edges must contain no cycle (``crf.is_forest()``); parallel edges count as a cycle.

    Returns
    -------
    y : ndarray of int64, shape (n,)
        A maximizer of ``crf.score``.

    Raises
    ------
    ValueError
        If the edges contain a cycle.

    Notes
    -----
    ``O(m L^2)`` time and ``O(n L)`` memory plus ``O(chunk L^2)`` for edge tables. Nothing is
    recursive. The upward pass goes level by level of a breadth-first order from one root per
    tree: a wide level is one vectorized step, a narrow one (long paths) a few small NumPy
    operations per node (a chain of ``1e5`` nodes takes ~1-2 s). The downward pass is pointer
    jumping, ``O(n L log depth)`` in ``log depth`` vectorized rounds.
    """
    func = "tree_map"
    _check_crf(crf, func)
    n, L = crf.unary.shape
    if crf.n_edges == 0:
        return np.argmax(crf.unary, axis=1).astype(np.int64)
    lay = _forest_layout(crf, func)
    order, parent, edge_of, flip = lay.order, lay.parent, lay.edge_of, lay.flip

    # upward pass, deepest level first: a node's belief is complete once its children are done
    belief = crf.unary.copy()
    back = np.zeros((n, L), dtype=np.int64)  # back[c, label of parent] = best label of c
    chunk = max(1, _CHUNK_ELEMS // (L * L))
    w = crf.weights()
    per_edge = not crf.shared_table
    table = crf.pairwise
    table_t = np.ascontiguousarray(table.T) if crf.shared_table else None
    order_l, bounds_l = order.tolist(), lay.bounds.tolist()
    edge_l, flip_l, parent_l, w_l = edge_of.tolist(), flip.tolist(), parent.tolist(), w.tolist()
    for d in range(lay.depth_max, 1, -1):  # depth 1 holds the roots
        lo, hi = bounds_l[d], bounds_l[d + 1]
        if hi - lo >= 16:  # wide level: one vectorized step per chunk
            for s in range(lo, hi, chunk):
                c = order[s : min(s + chunk, hi)]
                tot = _oriented_tables(crf, edge_of[c], flip[c]) + belief[c][:, :, None]
                back[c] = np.argmax(tot, axis=1)
                np.add.at(belief, parent[c], np.max(tot, axis=1))
        else:  # narrow level (long paths): per-node steps have less overhead
            for c in order_l[lo:hi]:
                e = edge_l[c]
                if per_edge:
                    tab = table[e].T if flip_l[c] else table[e]
                else:
                    tab = table_t if flip_l[c] else table
                tot = tab * w_l[e]
                tot += belief[c][:, None]
                back[c] = tot.argmax(axis=0)
                belief[parent_l[c]] += _max_reduce(tot, axis=0)
    # downward pass by pointer jumping: f[c] maps the label of anc[c] to the label of c
    is_root = parent == n
    anc = np.where(is_root, np.arange(n), parent)
    f = back
    f[is_root] = np.arange(L)
    while not np.array_equal(anc, anc[anc]):  # ceil(log2(depth)) rounds
        f = np.take_along_axis(f, f[anc], axis=1)
        anc = anc[anc]
    root_label = np.argmax(belief, axis=1)  # only read at roots
    return f[np.arange(n), root_label[anc]].astype(np.int64)


def _tree_max_marginals(crf: PairwiseCRF) -> np.ndarray:
    """Max-marginals ``mm[i, l] = max_{y : y_i = l} crf.score(y)`` of a forest CRF, ``(n, L)``.

    Upward messages leaves to roots, then downward messages roots to leaves, one vectorized
    step per level (chunked): ``O(m L^2)`` time, ``O(n L)`` memory; a level of a long path costs
    a few NumPy calls. Exact (max-sum is exact on forests).
    """
    n, L = crf.unary.shape
    if crf.n_edges == 0:
        return crf.unary.copy()
    lay = _forest_layout(crf, "tree_max_marginals")
    order, parent, edge_of, flip, bounds = lay.order, lay.parent, lay.edge_of, lay.flip, lay.bounds
    chunk = max(1, _CHUNK_ELEMS // (L * L))
    belief = crf.unary.copy()
    up = np.zeros((n, L))  # up[c, label of parent]: message child -> parent
    for d in range(lay.depth_max, 1, -1):
        for s in range(bounds[d], bounds[d + 1], chunk):
            c = order[s : min(s + chunk, bounds[d + 1])]
            tot = _oriented_tables(crf, edge_of[c], flip[c]) + belief[c][:, :, None]
            up[c] = np.max(tot, axis=1)
            np.add.at(belief, parent[c], up[c])
    mm = belief  # complete at the roots; filled level by level below
    for d in range(2, lay.depth_max + 1):
        for s in range(bounds[d], bounds[d + 1], chunk):
            c = order[s : min(s + chunk, bounds[d + 1])]
            out = mm[parent[c]] - up[c]  # the parent's belief without this child's message
            tot = _oriented_tables(crf, edge_of[c], flip[c]) + out[:, None, :]
            mm[c] = belief[c] + np.max(tot, axis=2)
    return mm
