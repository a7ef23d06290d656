"""MAP solvers for :class:`~subsel.structured.crf.PairwiseCRF` (scores maximized).

Each greedy step of structured diversity (eq. 2 of Prasad, Jegelka & Batra) is a MAP query
``argmax_y r(y) + lam d(y | S)``; the solvers here answer it for the high-order potentials that
the diversity terms produce:

* :func:`graph_cut` -- exact binary MAP for submodular energies (one s-t minimum cut).
* :func:`alpha_expansion` -- multi-label graph cuts (Boykov, Veksler & Zabih 2001), with the
  *label costs* of label diversity (Sec. 3.1; Delong, Osokin, Isack & Boykov 2010/2012).
* :func:`tree_map` -- exact max-product (Viterbi) on chains, trees and forests.
* :func:`max_product` -- loopy max-product belief propagation with *cardinality factors* of the
  Hamming distance to earlier solutions (Sec. 3.2), whose messages cost ``O(n log n)``
  (:func:`cardinality_messages`; Tarlow, Givoni & Zemel 2010).
* :func:`objective` -- the exact objective that all of the above maximize.

Conventions: a *score* is maximized, an *energy* is ``-score`` and minimized. Label costs are
energies (``>= 0``) paid once for every label that a labelling uses; a cardinality factor
``(reference, phi)`` adds the score ``phi[H(y, reference)]`` where ``H`` is the Hamming distance.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._validation import check_int, check_seed, param_error
from .crf import PairwiseCRF

__all__ = [
    "graph_cut",
    "alpha_expansion",
    "tree_map",
    "max_product",
    "cardinality_messages",
    "cardinality_map",
    "objective",
]

_SUBMODULAR_TOL = 1e-9
_max_reduce = np.maximum.reduce  # ndarray.max without its Python wrapper (hot loops)
_CHUNK_ELEMS = 1 << 21  # numbers materialized per chunk of (k, L, L) edge tables


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------
def _check_crf(crf: Any, func: str) -> PairwiseCRF:
    if not isinstance(crf, PairwiseCRF):
        raise param_error(func, "crf", "a PairwiseCRF", crf, kind=TypeError)
    return crf


def _real_array(value: Any, name: str, func: str, constraint: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise param_error(func, name, constraint, value, kind=TypeError)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise param_error(func, name, constraint, value, kind=TypeError)
    return arr.astype(np.float64)


def _check_label_costs(label_costs: Any, n_labels: int, func: str) -> np.ndarray | None:
    """``None`` or a finite, nonnegative float array of shape ``(L,)``."""
    if label_costs is None:
        return None
    constraint = f"None or an array of shape ({n_labels},) of finite energies >= 0, one per label"
    arr = _real_array(label_costs, "label_costs", func, constraint)
    if arr.shape != (n_labels,):
        raise param_error(func, "label_costs", constraint, label_costs)
    if np.isnan(arr).any():
        raise param_error(
            func,
            "label_costs",
            constraint + f" (found NaN at {int(np.isnan(arr).sum())} labels)",
            label_costs,
        )
    if not np.isfinite(arr).all():
        raise param_error(func, "label_costs", constraint + " (found inf)", label_costs)
    if (arr < 0).any():
        raise param_error(
            func,
            "label_costs",
            constraint + f" (found {int((arr < 0).sum())} negative costs; a reward for using a "
            "label is not representable in an expansion move -- clip net costs at 0)",
            label_costs,
        )
    return arr


def _check_phi(phi: Any, n: int, func: str, name: str) -> np.ndarray:
    """A finite float array of shape ``(n + 1,)``."""
    constraint = f"an array of shape ({n + 1},) of finite scores (one per count 0..{n})"
    arr = _real_array(phi, name, func, constraint)
    if arr.shape != (n + 1,):
        raise param_error(func, name, constraint, phi)
    if np.isnan(arr).any():
        raise param_error(
            func, name, constraint + f" (found NaN at {int(np.isnan(arr).sum())} entries)", phi
        )
    if not np.isfinite(arr).all():
        raise param_error(
            func, name, constraint + " (found inf; use large finite scores for hard limits)", phi
        )
    return arr


def _check_cardinality(
    cardinality: Any, crf: PairwiseCRF, func: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A list of ``(reference (n,) int64, phi (n + 1,) float64)`` pairs."""
    n = crf.n_nodes
    constraint = "a sequence of (reference, phi) pairs (reference (n,) labels, phi (n + 1,))"
    if cardinality is None:
        return []
    if isinstance(cardinality, (str, bytes, np.ndarray)) or not isinstance(cardinality, Iterable):
        raise param_error(func, "cardinality", constraint, cardinality, kind=TypeError)
    out = []
    for k, item in enumerate(cardinality):
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
            raise param_error(
                func, f"cardinality[{k}]", "a (reference, phi) pair", item, kind=TypeError
            )
        ref = crf.check_labels(item[0], func, f"cardinality[{k}] reference")
        if ref.ndim != 1:
            raise ValueError(
                f"Input 'cardinality[{k}] reference' of {func} must be one labelling of shape "
                f"({n},); got shape {ref.shape}."
            )
        out.append((ref, _check_phi(item[1], n, func, f"cardinality[{k}] phi")))
    return out


def _check_float(
    value: Any, name: str, func: str, low: float, high: float | None, *, high_open: bool
) -> float:
    hi = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
    constraint = f"a float in [{low}, {hi}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise param_error(func, name, constraint, value, kind=TypeError)
    value = float(value)
    if not np.isfinite(value) or value < low:
        raise param_error(func, name, constraint, value)
    if high is not None and (value >= high if high_open else value > high):
        raise param_error(func, name, constraint, value)
    return value


# ---------------------------------------------------------------------------------------------
# exact binary graph cut
# ---------------------------------------------------------------------------------------------
def _binary_edge_energies(crf: PairwiseCRF) -> tuple[np.ndarray, ...]:
    """Energies ``A = E(0,0), B = E(0,1), C = E(1,0), D = E(1,1)`` of every edge, each ``(m,)``."""
    w = crf.weights()
    t = -crf.pairwise
    if crf.shared_table:
        return w * t[0, 0], w * t[0, 1], w * t[1, 0], w * t[1, 1]
    return w * t[:, 0, 0], w * t[:, 0, 1], w * t[:, 1, 0], w * t[:, 1, 1]


def graph_cut(crf: PairwiseCRF) -> np.ndarray:
    """Exact MAP of a binary CRF whose energy is submodular, by one s-t minimum cut (PyMaxflow).

    The edge energy ``E_e = -w_e theta_e`` must satisfy ``E(0,1) + E(1,0) >= E(0,0) + E(1,1)``
    (attractive / Potts-like edges; Kolmogorov & Zabih 2004). Each edge is split into
    ``A + (C - A) x_i + (D - C) x_j + (B + C - A - D)(1 - x_i) x_j``.

    Parameters
    ----------
    crf : PairwiseCRF with ``n_labels == 2``.

    Returns
    -------
    y : ndarray of int64, shape (n,)
        A maximizer of ``crf.score``.

    Notes
    -----
    Boykov-Kolmogorov max-flow; ``O(n + m)`` memory, in practice near-linear time on grids.
    """
    import maxflow

    _check_crf(crf, "graph_cut")
    if crf.n_labels != 2:
        raise ValueError(
            f"graph_cut solves binary CRFs only; got n_labels={crf.n_labels}. "
            "Use alpha_expansion for more labels."
        )
    n = crf.n_nodes
    e0 = -crf.unary[:, 0]
    e1 = -crf.unary[:, 1]
    g = maxflow.Graph[float](n, max(crf.n_edges, 1))
    g.add_nodes(n)
    if crf.n_edges:
        i, j = crf.edges[:, 0], crf.edges[:, 1]
        a, b, c, d = _binary_edge_energies(crf)
        coupling = b + c - a - d
        bad = coupling < -_SUBMODULAR_TOL * (1 + np.abs(a) + np.abs(d))
        if bad.any():
            raise ValueError(
                f"graph_cut needs submodular edge energies (E(0,1) + E(1,0) >= E(0,0) + E(1,1)); "
                f"{int(bad.sum())} edges violate it. Use max_product or alpha_expansion instead."
            )
        e1 = e1 + np.bincount(i, weights=c - a, minlength=n)
        e1 = e1 + np.bincount(j, weights=d - c, minlength=n)
        keep = coupling > 0
        if keep.any():
            g.add_edges(
                i[keep].astype(np.int64),
                j[keep].astype(np.int64),
                coupling[keep],
                np.zeros(int(keep.sum())),
            )
    # Label 1 <=> sink segment: a node on the sink side pays its source capacity.
    low = np.minimum(e0, e1)
    _add_tedges(g, e1 - low, e0 - low)
    g.maxflow()
    return _segments(g, n)


def _add_tedges(g, source_caps: np.ndarray, sink_caps: np.ndarray) -> None:
    nodes = np.arange(source_caps.shape[0], dtype=np.int64)
    g.add_grid_tedges(nodes, source_caps, sink_caps)


def _segments(g, n: int) -> np.ndarray:
    return g.get_grid_segments(np.arange(n, dtype=np.int64)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------------------------
def objective(
    crf: PairwiseCRF,
    y: Any,
    *,
    label_costs: Any = None,
    cardinality: Any = (),
) -> float | np.ndarray:
    """The exact objective ``score(y) - sum_l h_l [l in y] + sum_k phi_k[H(y, y'_k)]``.

    This is what :func:`alpha_expansion` (with ``label_costs``) and :func:`max_product` (with
    ``cardinality``) maximize, so that their answers can be compared on one scale.

    Parameters
    ----------
    crf : PairwiseCRF
    y : array_like of int, shape (n,) or (B, n)
        One labelling or a batch.
    label_costs : array_like, shape (L,), optional
        Nonnegative energy ``h_l`` paid once if label ``l`` occurs anywhere in ``y``.
    cardinality : sequence of (reference, phi) pairs
        ``reference`` a labelling ``(n,)``, ``phi`` scores ``(n + 1,)`` indexed by the Hamming
        distance ``H(y, reference) = sum_i [y_i != reference_i]``.

    Returns
    -------
    float (for one labelling) or ndarray of shape (B,)

    Notes
    -----
    ``O(B (n + m + K n))`` time for ``K`` cardinality factors.
    """
    func = "objective"
    _check_crf(crf, func)
    y = crf.check_labels(y, func)
    h = _check_label_costs(label_costs, crf.n_labels, func)
    cards = _check_cardinality(cardinality, crf, func)
    batch = np.atleast_2d(y)
    out = np.atleast_1d(np.asarray(crf.score(batch), dtype=np.float64)).copy()
    if h is not None:
        used = np.zeros((batch.shape[0], crf.n_labels), dtype=bool)
        used[np.arange(batch.shape[0])[:, None], batch] = True
        out -= used.astype(np.float64) @ h
    for ref, phi in cards:
        out += phi[(batch != ref[None, :]).sum(axis=1)]
    return float(out[0]) if y.ndim == 1 else out


# ---------------------------------------------------------------------------------------------
# alpha-expansion with label costs
# ---------------------------------------------------------------------------------------------
class _Expansion:
    """Energy and expansion moves of ``E(y) = -score(y) + sum_l h_l [l in y]``."""

    def __init__(self, crf: PairwiseCRF, label_costs: np.ndarray | None):
        self.crf = crf
        self.h = label_costs
        self.n, self.L = crf.unary.shape
        self.rows = np.arange(self.n)
        self.i = crf.edges[:, 0]
        self.j = crf.edges[:, 1]
        w = crf.weights()
        # E(alpha, alpha) of every edge for every alpha, shape (L, m)
        if crf.shared_table:
            self._diag = -np.diag(crf.pairwise)[:, None] * w[None, :]
        else:
            self._diag = -(crf.pairwise[:, np.arange(self.L), np.arange(self.L)] * w[:, None]).T

    def energy(self, y: np.ndarray) -> float:
        crf = self.crf
        e = -float(crf.unary[self.rows, y].sum())
        if self.i.size:
            e -= float(crf.edge_scores(y[self.i], y[self.j]).sum())
        if self.h is not None:
            e += float(self.h[np.bincount(y, minlength=self.L) > 0].sum())
        return e

    def move(self, y: np.ndarray, alpha: int, energy: float | None = None):
        """The optimal expansion move of ``y`` to ``alpha`` (exact when no edge is truncated).

        Binary variable ``x_i = 1`` means node ``i`` takes ``alpha`` (sink side of the cut).
        Returns ``(y_new, energy of y_new, number of truncated edge terms)``; ``y_new`` is ``y``
        itself when no move lowers the energy (``energy`` is that of ``y``, computed if None).
        """
        import maxflow

        crf, n, h = self.crf, self.n, self.h
        if energy is None:
            energy = self.energy(y)
        e0 = -crf.unary[self.rows, y]
        e1 = -crf.unary[:, alpha].copy()
        n_trunc = 0
        ii = jj = kk = np.empty(0)
        if self.i.size:
            i, j = self.i, self.j
            yi, yj = y[i], y[j]
            a = -crf.edge_scores(yi, yj)  # keep, keep
            b = -crf.edge_scores(yi, alpha)  # keep, alpha
            c = -crf.edge_scores(alpha, yj)  # alpha, keep
            d = self._diag[alpha]  # alpha, alpha
            k = b + c - a - d
            neg = k < 0
            if neg.any():
                # Rother et al. (2005) truncation: raise E(0,1) and E(1,0) by half the deficit
                # each. The truncated energy is >= the true one everywhere and equal at x = 0
                # (no change), so an accepted move never increases the true energy.
                n_trunc = int((k < -_SUBMODULAR_TOL * (1 + np.abs(a) + np.abs(d))).sum())
                c = c - np.where(neg, 0.5 * k, 0.0)
                k = np.maximum(k, 0.0)
            e1 += np.bincount(i, weights=c - a, minlength=n)
            e1 += np.bincount(j, weights=d - c, minlength=n)
            keep = k > 0
            ii, jj, kk = i[keep], j[keep], k[keep]
        aux_labels = np.empty(0, dtype=np.int64)
        if h is not None:
            used = np.bincount(y, minlength=self.L) > 0
            aux_labels = np.flatnonzero(used & (h > 0))
            aux_labels = aux_labels[aux_labels != alpha]
        n_aux = aux_labels.size
        if n_aux:
            aux_of = np.full(self.L, -1, dtype=np.int64)
            aux_of[aux_labels] = n + np.arange(n_aux)
            members = np.flatnonzero(aux_of[y] >= 0)
        else:
            members = np.empty(0, dtype=np.int64)
        g = maxflow.Graph[float](n + n_aux, max(ii.size + members.size, 1))
        g.add_nodes(n + n_aux)
        if ii.size:
            g.add_edges(ii.astype(np.int64), jj.astype(np.int64), kk, np.zeros(kk.size))
        low = np.minimum(e0, e1)
        g.add_grid_tedges(self.rows, e1 - low, e0 - low)
        g.maxflow()
        if n_aux:
            # Delong et al.: h_l [some node of P_l keeps l] =
            #   min_z h_l (1 - z) + sum_{i in P_l} h_l z (1 - x_i),
            # one auxiliary node z_l per used label l != alpha (z_l = 1: P_l all switch).
            # The arcs go in after a first max-flow and the flow resumes on the reused search
            # trees (Kohli & Torr 2005): same minimum cut, far less work than one cut with
            # the high-degree auxiliary nodes from the start.
            z = aux_of[y[members]]
            g.add_edges(members, z, h[y[members]], np.zeros(members.size))
            aux_nodes = n + np.arange(n_aux, dtype=np.int64)
            g.add_grid_tedges(aux_nodes, np.zeros(n_aux), h[aux_labels])  # z_l = 0 pays h_l
            g.mark_grid_nodes(members)
            g.mark_grid_nodes(aux_nodes)
            g.maxflow(reuse_trees=True)
        x = g.get_grid_segments(self.rows)
        if not x.any():
            return y, energy, n_trunc
        y_new = np.where(x, alpha, y).astype(np.int64)
        e_new = self.energy(y_new)
        # With alpha unused, h_alpha [some node switches to alpha] is exactly handled by
        # comparing the best move without it, plus h_alpha, against no move (e_new includes
        # h_alpha); this equals Delong et al.'s auxiliary-node term without an n-arc hub.
        if e_new < energy - 1e-12 * (1.0 + abs(energy)):
            return y_new, e_new, n_trunc
        return y, energy, n_trunc


def alpha_expansion(
    crf: PairwiseCRF,
    *,
    label_costs: Any = None,
    init: Any = None,
    max_sweeps: int = 10,
    order: Any = None,
    seed: Any = None,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """Approximate MAP by alpha-expansion graph cuts, optionally with label costs.

    Minimizes the energy ``E(y) = -score(y) + sum_l h_l [l occurs in y]`` (``h = label_costs``),
    i.e. maximizes :func:`objective`. Starting from ``init``, each *expansion move* lets every
    node either keep its label or switch to one label ``alpha``; the best such move is one s-t
    minimum cut (Boykov, Veksler & Zabih 2001). A sweep tries every label once; the algorithm
    stops after a sweep without improvement (a local minimum w.r.t. all expansion moves) or
    after ``max_sweeps`` sweeps.

    Parameters
    ----------
    crf : PairwiseCRF
    label_costs : array_like of float, shape (L,), optional
        Nonnegative energies ``h_l`` paid once when label ``l`` is used (Delong, Osokin, Isack
        & Boykov, CVPR 2010 / IJCV 2012). Each move stays exactly optimal: a used label
        ``l != alpha`` contributes ``h_l [some node of P_l keeps l]`` (``P_l`` the nodes
        labelled ``l``), represented as in Delong et al. by one auxiliary cut node ``z_l`` with
        ``h_l (1 - z_l) + sum_{i in P_l} h_l z_l (1 - x_i)``. An unused ``alpha`` contributes
        ``h_alpha [some node switches to alpha]``; instead of Delong et al.'s auxiliary node
        joined to all ``n`` nodes, the move compares ``h_alpha +`` the best move without that
        term against no move, which is the same minimum.
    init : array_like of int, shape (n,), optional
        Starting labelling; default the unary argmax.
    max_sweeps : int >= 1
        Maximum number of sweeps over the labels.
    order : array_like of int, optional
        Labels to expand, in this order, in every sweep (default ``0..L-1``; labels left out are
        never expanded).
    seed : None, int or numpy.random.Generator
        When given (and ``order`` is not), each sweep uses a fresh random permutation of labels.
    return_info : bool
        Also return a dict with ``energy`` (list: initial energy, then the energy after each
        sweep; never increasing), ``n_moves`` (accepted moves), ``n_sweeps``, ``converged``
        (a sweep made no move) and ``n_truncated`` (edge terms truncated, summed over moves).

    Returns
    -------
    y : ndarray of int64, shape (n,)
    info : dict, only if ``return_info``

    Notes
    -----
    *Exactness of a move.* The move is exactly optimal when every edge energy
    ``V = -w theta`` satisfies ``V(b, alpha) + V(alpha, c) >= V(b, c) + V(alpha, alpha)`` for
    the current labels, e.g. when ``V`` is a metric (Potts, truncated linear, ...) up to a
    per-edge constant. Edge terms that violate it are *truncated* (Rother et al. 2005):
    ``V(b, alpha)`` and ``V(alpha, c)`` are raised by half the deficit each, which makes the
    term submodular. The truncated move energy is an
    upper bound that is tight at "no change", and a move is accepted only when the true energy
    strictly decreases, so the energy never increases.

    *Bound.* With nonnegative unaries and a metric ``V`` (shift both by constants first), a
    local minimum ``y`` of expansion moves satisfies ``E(y) <= 2c E(y*)`` for the global
    minimum ``y*``, where ``c = max_e max_{a != b} V_e(a, b) / min_{a != b} V_e(a, b)``
    (``c = 1`` for Potts, so a factor 2). With label costs, the argument of Delong et al.
    (Thm. 1; per-label costs, so ``c' = 1``) gives, for the data, smoothness and label-cost
    parts ``D, V, H`` of the energy, ``D(y) + V(y) <= D(y*) + 2c V(y*) + H(y*)``, hence
    ``E(y) <= 2c E(y*) + sum_l h_l - D(y*)``: an additive term, as label costs contain
    (non-metric) facility location, which admits no constant factor in general. Both need a converged run
    (``info["converged"]``).

    *Cost.* Each move builds a graph with ``n + #used labels`` nodes and ``m + n`` arcs
    (vectorized, ``O(n + m)``, no Python loop over nodes or edges) and runs Boykov-Kolmogorov
    max-flow; the energy check is ``O(n + m)``. The label-cost arcs are added after a first
    max-flow, which then resumes on its reused search trees (Kohli & Torr 2005): the
    high-degree auxiliary nodes would otherwise slow the flow down many times (the
    ``gco`` library pays ~150x for label costs on a 200x200 grid; here it is ~1.3x). A move is
    skipped when no move was accepted since ``alpha`` was last tried.
    """
    func = "alpha_expansion"
    _check_crf(crf, func)
    n, L = crf.unary.shape
    h = _check_label_costs(label_costs, L, func)
    if init is None:
        y = np.argmax(crf.unary, axis=1).astype(np.int64)
    else:
        y = crf.check_labels(init, func, "init")
        if y.ndim != 1:
            raise ValueError(
                f"Input 'init' of {func} must be one labelling of shape ({n},); "
                f"got shape {y.shape}."
            )
        y = y.copy()
    max_sweeps = check_int(max_sweeps, "max_sweeps", func, low=1)
    rng = None
    if order is not None:
        labels = np.asarray(order)
        if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise param_error(
                func,
                "order",
                f"a non-empty 1-d sequence of labels in [0, {L})",
                order,
                kind=TypeError
                if labels.size and not np.issubdtype(labels.dtype, np.integer)
                else ValueError,
            )
        if labels.min() < 0 or labels.max() >= L:
            raise param_error(
                func, "order", f"a non-empty 1-d sequence of labels in [0, {L})", order
            )
        labels = labels.astype(np.int64)
    else:
        labels = np.arange(L)
        if seed is not None:
            rng = check_seed(seed, func)
    if not isinstance(return_info, (bool, np.bool_)):
        raise param_error(func, "return_info", "a bool", return_info, kind=TypeError)

    ex = _Expansion(crf, h)
    energy = ex.energy(y)
    energies = [energy]
    n_moves = 0
    n_trunc = 0
    tried_at = np.full(L, -1, dtype=np.int64)  # n_moves when alpha last failed to improve
    converged = False
    sweeps = 0
    for _ in range(max_sweeps):
        sweeps += 1
        improved = False
        for alpha in rng.permutation(labels) if rng is not None else labels:
            alpha = int(alpha)
            if tried_at[alpha] == n_moves:
                continue  # nothing changed since this move last failed: it would fail again
            y_new, e_new, t = ex.move(y, alpha, energy)
            n_trunc += t
            if y_new is not y:
                y, energy = y_new, e_new
                n_moves += 1
                improved = True
            else:
                tried_at[alpha] = n_moves
        energies.append(energy)
        if not improved:
            converged = True
            break
    if return_info:
        return y, {
            "energy": energies,
            "n_moves": n_moves,
            "n_sweeps": sweeps,
            "converged": converged,
            "n_truncated": n_trunc,
        }
    return y


# ---------------------------------------------------------------------------------------------
# exact max-product on forests
# ---------------------------------------------------------------------------------------------
def _oriented_tables(crf: PairwiseCRF, e: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Tables ``(k, L, L)`` of edges ``e`` (weights applied), transposed where ``flip``."""
    w = crf.weights()[e][:, None, None]
    if crf.shared_table:
        t = crf.pairwise
        return w * np.where(flip[:, None, None], t.T[None], t[None])
    p = crf.pairwise[e]
    return w * np.where(flip[:, None, None], p.transpose(0, 2, 1), p)


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
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    func = "tree_map"
    _check_crf(crf, func)
    n, L = crf.unary.shape
    m = crf.n_edges
    if m == 0:
        return np.argmax(crf.unary, axis=1).astype(np.int64)
    a, b = crf.edges[:, 0], crf.edges[:, 1]
    n_comp, comp = csgraph.connected_components(
        sp.coo_matrix((np.ones(m), (a, b)), shape=(n, n)), directed=False
    )
    if m != n - n_comp:  # a forest with k trees has exactly n - k edges (as crf.is_forest())
        raise ValueError(
            f"{func} needs a forest (edges without cycles); the {m} edges of this CRF on {n} "
            f"nodes contain {m - n + n_comp} independent cycles (parallel edges count). "
            "Use max_product or alpha_expansion for loopy graphs."
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
    # every edge joins a child to its parent
    child_is_a = parent[a] == b
    child = np.where(child_is_a, a, b)
    edge_of = np.empty(n, dtype=np.int64)
    edge_of[child] = np.arange(m)
    flip = np.zeros(n, dtype=bool)  # table is (label of a, label of b); orient it (child, parent)
    flip[child] = ~child_is_a
    bounds = np.searchsorted(d_order, np.arange(d_order[-1] + 2))  # depth d: bounds[d]:bounds[d+1]

    # upward pass, deepest level first: a node's belief is complete once its children are done
    belief = crf.unary.copy()
    back = np.zeros((n, L), dtype=np.int64)  # back[c, label of parent] = best label of c
    chunk = max(1, _CHUNK_ELEMS // (L * L))
    w = crf.weights()
    per_edge = not crf.shared_table
    table = crf.pairwise
    table_t = np.ascontiguousarray(table.T) if crf.shared_table else None
    order_l, bounds_l = order.tolist(), bounds.tolist()
    edge_l, flip_l, parent_l, w_l = edge_of.tolist(), flip.tolist(), parent.tolist(), w.tolist()
    for d in range(int(d_order[-1]), 1, -1):  # depth 1 holds the roots
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


# ---------------------------------------------------------------------------------------------
# cardinality factors
# ---------------------------------------------------------------------------------------------
def _check_delta(delta: Any, func: str, name: str) -> np.ndarray:
    constraint = "a 1-d array of finite reals"
    arr = _real_array(delta, name, func, constraint)
    if arr.ndim != 1:
        raise param_error(func, name, constraint, delta)
    if not np.isfinite(arr).all():
        what = "NaN" if np.isnan(arr).any() else "inf"
        raise param_error(func, name, constraint + f" (found {what})", delta)
    return arr


def cardinality_messages(delta: Any, phi: Any) -> np.ndarray:
    """Max-product messages of a cardinality factor ``phi(sum_i b_i)`` over binary ``b``.

    Given incoming message differences ``delta_i = m_i(1) - m_i(0)``, returns for every ``i``

    .. math::  out_i = \\max_{b_{-i}} [\\phi(1 + |b_{-i}|) + \\sum_{j \\ne i} b_j \\delta_j]
                     - \\max_{b_{-i}} [\\phi(|b_{-i}|) + \\sum_{j \\ne i} b_j \\delta_j].

    Parameters
    ----------
    delta : array_like, shape (n,)
        Finite incoming differences.
    phi : array_like, shape (n + 1,)
        Finite scores of the count ``0..n``.

    Returns
    -------
    out : ndarray of float64, shape (n,)

    Notes
    -----
    ``O(n log n)`` time, ``O(n)`` memory (Tarlow, Givoni & Zemel, AISTATS 2010): sort ``delta``
    in decreasing order with prefix sums ``P``; for ``i`` at sorted rank ``r`` the best ``c``
    others sum to ``P[c]`` if ``c <= r`` and ``P[c + 1] - delta_i`` otherwise, so both maxima
    are a prefix maximum over ``c <= r`` and a suffix maximum over ``c > r``.
    """
    func = "cardinality_messages"
    d = _check_delta(delta, func, "delta")
    n = d.size
    ph = _check_phi(phi, n, func, "phi")
    return _card_messages(d, ph)


def _card_messages(d: np.ndarray, ph: np.ndarray) -> np.ndarray:
    n = d.size
    if n == 0:
        return np.empty(0)
    perm = np.argsort(-d, kind="stable")
    ds = d[perm]
    pre = np.zeros(n + 1)
    np.cumsum(ds, out=pre[1:])
    c = np.arange(n)  # count of the others, 0..n-1
    neg_inf = np.full(1, -np.inf)

    def best(shift: int) -> np.ndarray:
        # max over c of phi[c + shift] + S_i(c), for the i at each sorted rank r
        low = np.maximum.accumulate(ph[c + shift] + pre[c])  # c <= r
        high = ph[c + shift] + pre[c + 1]  # c > r, before subtracting delta_i
        suf = np.concatenate([np.maximum.accumulate(high[::-1])[::-1][1:], neg_inf])
        return np.maximum(low, suf - ds)

    out_sorted = best(1) - best(0)
    out = np.empty(n)
    out[perm] = out_sorted
    return out


def cardinality_map(delta0: Any, phi: Any) -> np.ndarray:
    """Exact ``argmax_b sum_i b_i delta0_i + phi(sum_i b_i)`` over binary ``b``.

    Parameters
    ----------
    delta0 : array_like, shape (n,)
        Gain of setting ``b_i = 1``.
    phi : array_like, shape (n + 1,)
        Finite scores of the count.

    Returns
    -------
    b : ndarray of int64 (0/1), shape (n,)
        The ``c*`` largest entries of ``delta0`` set, ``c* = argmax_c phi[c] + P[c]``
        (``P`` the prefix sums of ``delta0`` sorted in decreasing order; the smallest best
        ``c`` on ties).

    Notes
    -----
    ``O(n log n)`` time (one sort).
    """
    func = "cardinality_map"
    d = _check_delta(delta0, func, "delta0")
    n = d.size
    ph = _check_phi(phi, n, func, "phi")
    perm = np.argsort(-d, kind="stable")
    pre = np.zeros(n + 1)
    np.cumsum(d[perm], out=pre[1:])
    c_best = int(np.argmax(ph + pre))
    b = np.zeros(n, dtype=np.int64)
    b[perm[:c_best]] = 1
    return b


# ---------------------------------------------------------------------------------------------
# loopy max-product with cardinality factors
# ---------------------------------------------------------------------------------------------
def _potts_form(t: np.ndarray) -> tuple[float, float] | None:
    """``(diagonal, off-diagonal)`` when a shared table is ``off + (diag - off) I``."""
    L = t.shape[0]
    diag = np.diag(t)
    off = t[~np.eye(L, dtype=bool)]
    if np.all(diag == diag[0]) and np.all(off == off[0]):
        return float(diag[0]), float(off[0])
    return None


class _EdgeMax:
    """``out[e, x_to] = max_{x_from} w_e theta_e(., .) + h[e, x_from]`` for all edges at once."""

    def __init__(self, crf: PairwiseCRF):
        self.crf = crf
        self.w = crf.weights()
        self.L = crf.n_labels
        self.potts = _potts_form(crf.pairwise) if crf.shared_table else None
        self.chunk = max(1, _CHUNK_ELEMS // (self.L * self.L))

    def __call__(self, h: np.ndarray, reverse: bool) -> np.ndarray:
        """Forward: ``h`` indexed by the label of ``edges[:, 0]``, output by ``edges[:, 1]``."""
        crf, L = self.crf, self.L
        m = h.shape[0]
        if self.potts is not None:
            t_d, t_o = self.potts
            top1 = h.max(axis=1)
            if L == 2:
                excl = h[:, ::-1]
            else:
                arg1 = np.argmax(h, axis=1)
                top2 = np.partition(h, L - 2, axis=1)[:, L - 2]
                excl = np.where(
                    np.arange(L)[None, :] == arg1[:, None], top2[:, None], top1[:, None]
                )
            w = self.w[:, None]
            return np.maximum(w * t_d + h, w * t_o + excl)
        out = np.empty((m, L))
        for s in range(0, m, self.chunk):
            sl = slice(s, min(s + self.chunk, m))
            w = self.w[sl, None, None]
            t = w * (crf.pairwise[None] if crf.shared_table else crf.pairwise[sl])
            if reverse:
                out[sl] = np.max(t + h[sl, None, :], axis=2)
            else:
                out[sl] = np.max(t + h[sl, :, None], axis=1)
        return out


def max_product(
    crf: PairwiseCRF,
    *,
    cardinality: Any = (),
    damping: float = 0.5,
    max_iter: int = 100,
    tol: float = 1e-6,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """Approximate MAP by loopy max-product (max-sum) belief propagation.

    Maximizes :func:`objective` ``= score(y) + sum_k phi_k[H(y, reference_k)]``: the pairwise
    CRF plus optional *cardinality factors* of the Hamming distance to earlier labellings (the
    Hamming-ball diversity of Prasad, Jegelka & Batra, Sec. 3.2, ``phi(H) = -lam exp(-gamma H)``).

    Parameters
    ----------
    crf : PairwiseCRF
    cardinality : sequence of (reference, phi) pairs
        ``reference`` a labelling ``(n,)``; ``phi`` finite scores ``(n + 1,)`` of the Hamming
        distance. The factor sees node ``i`` through ``b_i = [y_i != reference_i]``: it
        receives ``delta_i = max_{l != ref_i} mu_i(l) - mu_i(ref_i)`` (``mu_i`` the belief
        without the factor's own message) and sends :func:`cardinality_messages` ``out_i`` to
        every label ``l != ref_i``.
    damping : float in [0, 1)
        New messages are ``damping * old + (1 - damping) * update`` (synchronous schedule).
    max_iter : int >= 1
        Maximum number of message updates.
    tol : float >= 0
        Stop when no message changes by more than ``tol``.
    return_info : bool
        Also return a dict with ``objective`` (the objective of the labelling decoded after each
        iteration), ``best_objective``, ``n_iter`` and ``converged``.

    Returns
    -------
    y : ndarray of int64, shape (n,)
        The best labelling (by :func:`objective`) decoded from the max-marginals over all
        iterations.
    info : dict, only if ``return_info``

    Notes
    -----
    Exact on forests without cardinality factors (messages converge to the max-marginals);
    otherwise a heuristic without guarantees. One iteration costs ``O(m L^2)`` for general
    tables (chunked, ``O(chunk L^2)`` memory), ``O(m L)`` for shared Potts-form tables, plus
    ``O(n log n + n L)`` per cardinality factor; memory ``O((m + n) L)``.
    """
    import scipy.sparse as sp

    func = "max_product"
    _check_crf(crf, func)
    cards = _check_cardinality(cardinality, crf, func)
    damping = _check_float(damping, "damping", func, 0.0, 1.0, high_open=True)
    max_iter = check_int(max_iter, "max_iter", func, low=1)
    tol = _check_float(tol, "tol", func, 0.0, None, high_open=True)
    if not isinstance(return_info, (bool, np.bool_)):
        raise param_error(func, "return_info", "a bool", return_info, kind=TypeError)

    n, L = crf.unary.shape
    m = crf.n_edges
    rows = np.arange(n)
    i, j = crf.edges[:, 0], crf.edges[:, 1]
    into_j = sp.csr_matrix((np.ones(m), (j, np.arange(m))), shape=(n, m))
    into_i = sp.csr_matrix((np.ones(m), (i, np.arange(m))), shape=(n, m))
    edge_max = _EdgeMax(crf)
    to_j = np.zeros((m, L))  # message edges[e, 0] -> edges[e, 1], by the label of edges[e, 1]
    to_i = np.zeros((m, L))  # message edges[e, 1] -> edges[e, 0], by the label of edges[e, 0]
    refs = [r for r, _ in cards]
    phis = [p for _, p in cards]
    card_out = np.zeros((len(cards), n))  # factor k -> node i: out on every label != ref_i

    def card_msg(k: int) -> np.ndarray:
        msg = np.repeat(card_out[k][:, None], L, axis=1)
        msg[rows, refs[k]] = 0.0
        return msg

    def beliefs() -> np.ndarray:
        b = crf.unary.copy()
        if m:
            b += into_j @ to_j
            b += into_i @ to_i
        for k in range(len(cards)):
            b += card_out[k][:, None]
            b[rows, refs[k]] -= card_out[k]
        return b

    def total(y: np.ndarray) -> float:
        s = float(crf.unary[rows, y].sum())
        if m:
            s += float(crf.edge_scores(y[i], y[j]).sum())
        for r, p in cards:
            s += float(p[int((y != r).sum())])
        return s

    history: list[float] = []
    best_y, best_val = None, -np.inf
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        b = beliefs()
        y = np.argmax(b, axis=1).astype(np.int64)
        val = total(y)
        history.append(val)
        if val > best_val:
            best_y, best_val = y, val
        n_iter += 1
        change = 0.0
        if m:
            new_j = edge_max(b[i] - to_i, reverse=False)
            new_i = edge_max(b[j] - to_j, reverse=True)
            new_j -= new_j.max(axis=1, keepdims=True)
            new_i -= new_i.max(axis=1, keepdims=True)
            new_j = damping * to_j + (1 - damping) * new_j
            new_i = damping * to_i + (1 - damping) * new_i
            change = max(float(np.abs(new_j - to_j).max()), float(np.abs(new_i - to_i).max()))
        else:
            new_j, new_i = to_j, to_i
        new_card = np.empty_like(card_out)
        for k in range(len(cards)):
            mu = b - card_msg(k)
            at_ref = mu[rows, refs[k]]
            mu[rows, refs[k]] = -np.inf
            new_card[k] = _card_messages(mu.max(axis=1) - at_ref, phis[k])
        if len(cards):
            new_card = damping * card_out + (1 - damping) * new_card
            change = max(change, float(np.abs(new_card - card_out).max()))
        to_j, to_i, card_out = new_j, new_i, new_card
        if change <= tol:
            converged = True
            break
    # decode once more from the final messages
    y = np.argmax(beliefs(), axis=1).astype(np.int64)
    val = total(y)
    history.append(val)
    if val > best_val:
        best_y, best_val = y, val
    if return_info:
        return best_y, {
            "objective": history,
            "best_objective": best_val,
            "n_iter": n_iter,
            "converged": converged,
        }
    return best_y
