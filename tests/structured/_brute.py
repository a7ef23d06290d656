"""Brute-force references for the structured solvers: enumerate every labelling (small n only)."""

from __future__ import annotations

import itertools

import numpy as np

from subsel.structured.crf import PairwiseCRF


def all_labellings(n: int, n_labels: int) -> np.ndarray:
    """Every labelling of ``n`` nodes, shape ``(L^n, n)``."""
    return np.array(list(itertools.product(range(n_labels), repeat=n)), dtype=np.int64)


def objectives(
    crf: PairwiseCRF,
    ys: np.ndarray,
    label_costs: np.ndarray | None = None,
    cardinality=(),
) -> np.ndarray:
    """The objective of a batch ``ys (B, n)``, vectorized (independent of ``objective``)."""
    ys = np.asarray(ys, dtype=np.int64)
    out = crf.unary[np.arange(crf.n_nodes)[None, :], ys].sum(axis=1)
    if crf.n_edges:
        tables = crf.edge_tables()  # (m, L, L)
        i, j = crf.edges[:, 0], crf.edges[:, 1]
        out = out + tables[np.arange(crf.n_edges)[None, :], ys[:, i], ys[:, j]].sum(axis=1)
    if label_costs is not None:
        for lab, h in enumerate(label_costs):
            out = out - h * (ys == lab).any(axis=1)
    for ref, phi in cardinality:
        out = out + np.asarray(phi)[(ys != np.asarray(ref)[None, :]).sum(axis=1)]
    return out


def brute_map(crf: PairwiseCRF, label_costs=None, cardinality=()) -> tuple[np.ndarray, float]:
    """A maximizer of the objective and its value."""
    ys = all_labellings(crf.n_nodes, crf.n_labels)
    vals = objectives(crf, ys, label_costs, cardinality)
    k = int(np.argmax(vals))
    return ys[k], float(vals[k])


def best_expansion_value(crf: PairwiseCRF, y: np.ndarray, alpha: int, label_costs=None) -> float:
    """The best objective over all ``2^n`` expansion moves of ``y`` to ``alpha``."""
    xs = all_labellings(crf.n_nodes, 2).astype(bool)
    ys = np.where(xs, alpha, np.asarray(y)[None, :])
    return float(objectives(crf, ys, label_costs).max())


def brute_card_messages(delta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``max_{b_-i} phi(1 + |b_-i|) + b_-i . delta_-i  -  max_{b_-i} phi(|b_-i|) + ...``."""
    n = delta.size
    bs = all_labellings(n - 1, 2) if n > 1 else np.zeros((1, 0), dtype=np.int64)
    cnt = bs.sum(axis=1)
    out = np.empty(n)
    for i in range(n):
        others = np.delete(delta, i)
        lin = bs @ others
        out[i] = (phi[cnt + 1] + lin).max() - (phi[cnt] + lin).max()
    return out


def random_tree_edges(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random-ish spanning tree: node k > 0 joins a random earlier node, shuffled."""
    perm = rng.permutation(n)
    parents = [rng.integers(0, k) for k in range(1, n)]
    edges = np.array([[perm[k], perm[p]] for k, p in zip(range(1, n), parents, strict=True)])
    flip = rng.random(n - 1) < 0.5
    edges[flip] = edges[flip][:, ::-1]
    return edges.reshape(-1, 2).astype(np.int64)


def chain_edges(n: int) -> np.ndarray:
    return np.stack([np.arange(n - 1), np.arange(1, n)], axis=1).astype(np.int64)
