"""MAP solvers of subsel.structured.inference against brute-force enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subsel.structured.crf import PairwiseCRF, grid_edges, potts
from subsel.structured.inference import (
    _Expansion,
    alpha_expansion,
    cardinality_map,
    cardinality_messages,
    graph_cut,
    max_product,
    objective,
    tree_map,
)

from ._brute import (
    all_labellings,
    best_expansion_value,
    brute_card_messages,
    brute_map,
    chain_edges,
    objectives,
    random_tree_edges,
)

TOL = 1e-9


# ------------------------------------------------------------------ instance makers
def _graph(kind: str, rng: np.random.Generator, n: int) -> tuple[int, np.ndarray]:
    if kind == "chain":
        return n, chain_edges(n)
    if kind == "tree":
        return n, random_tree_edges(n, rng)
    if kind == "grid":
        return 9, grid_edges(3, 3)
    raise AssertionError(kind)


def _potts_crf(rng, n, edges, L, *, scale=1.0):
    w = scale * rng.random(edges.shape[0]) * 2
    return PairwiseCRF(rng.normal(size=(n, L)), edges, potts(L), edge_weights=w)


def _metric_tables(rng, m, L):
    """Per-edge score tables ``-w min(|a - b|, T) + const`` (truncated linear: a metric)."""
    lab = np.arange(L)
    dist = np.abs(lab[:, None] - lab[None, :]).astype(float)
    trunc = rng.integers(1, L, size=m)[:, None, None]
    tables = -np.minimum(dist[None], trunc) * rng.random((m, 1, 1)) * 2
    return tables + rng.normal(size=(m, 1, 1))  # a per-edge constant keeps it a metric move


def _binary_submodular_crf(rng, n, edges):
    m = edges.shape[0]
    t = rng.normal(size=(m, 2, 2))
    # make E(0,1) + E(1,0) >= E(0,0) + E(1,1), i.e. theta01 + theta10 <= theta00 + theta11
    excess = t[:, 0, 1] + t[:, 1, 0] - t[:, 0, 0] - t[:, 1, 1]
    t[:, 0, 0] += np.maximum(excess, 0) + rng.random(m) * 0.5
    return PairwiseCRF(rng.normal(size=(n, 2)), edges, t)


# ------------------------------------------------------------------ graph_cut
@pytest.mark.parametrize("kind", ["chain", "tree", "grid"])
def test_graph_cut_exact_on_submodular(kind):
    rng = np.random.default_rng(1)
    for _ in range(25):
        n, edges = _graph(kind, rng, int(rng.integers(2, 10)))
        crf = _binary_submodular_crf(rng, n, edges)
        _, best = brute_map(crf)
        y = graph_cut(crf)
        assert y.dtype == np.int64 and y.shape == (n,)
        assert crf.score(y) == pytest.approx(best, abs=TOL)


def test_graph_cut_rejects_non_submodular_and_multilabel():
    crf = PairwiseCRF(np.zeros((3, 2)), chain_edges(3), -potts(2))  # repulsive edges
    with pytest.raises(ValueError, match="submodular"):
        graph_cut(crf)
    with pytest.raises(ValueError, match="binary"):
        graph_cut(PairwiseCRF(np.zeros((3, 3)), chain_edges(3), potts(3)))
    with pytest.raises(TypeError, match="'crf' parameter of graph_cut"):
        graph_cut(np.zeros((3, 2)))


# ------------------------------------------------------------------ tree_map
@pytest.mark.parametrize("kind", ["chain", "tree"])
@pytest.mark.parametrize("L", [2, 3, 4])
def test_tree_map_exact(kind, L):
    rng = np.random.default_rng(10 * L + len(kind))
    for trial in range(20):
        n = int(rng.integers(1, 9 if L < 4 else 7))
        if n == 1:
            edges = np.zeros((0, 2), dtype=np.int64)
        else:
            _, edges = _graph(kind, rng, n)
        m = edges.shape[0]
        if trial % 2:
            crf = PairwiseCRF(rng.normal(size=(n, L)), edges, rng.normal(size=(m, L, L)))
        else:  # shared, asymmetric table with weights: checks the table orientation
            crf = PairwiseCRF(
                rng.normal(size=(n, L)), edges, rng.normal(size=(L, L)), edge_weights=rng.random(m)
            )
        _, best = brute_map(crf)
        y = tree_map(crf)
        assert y.dtype == np.int64 and y.shape == (n,)
        assert crf.score(y) == pytest.approx(best, abs=TOL)


def test_tree_map_forest_and_wide_levels():
    rng = np.random.default_rng(3)
    # two trees + an isolated node; a star makes a level wider than the vectorized threshold
    star = np.stack([np.zeros(20, dtype=np.int64), np.arange(1, 21)], axis=1)
    chain = chain_edges(5) + 21
    edges = np.concatenate([star, chain])
    n, L = 27, 3
    for _ in range(5):
        crf = PairwiseCRF(rng.normal(size=(n, L)), edges, rng.normal(size=(edges.shape[0], L, L)))
        y = tree_map(crf)
        # exact by independent brute force on each small component / by star decomposition
        y_star = y[:21]
        centre_best = -np.inf
        for c0 in range(L):
            tot = crf.unary[0, c0]
            t = crf.pairwise[:20, c0, :] + crf.unary[1:21]
            tot += t.max(axis=1).sum()
            centre_best = max(centre_best, tot)
        sub = PairwiseCRF(crf.unary[:21], star, crf.pairwise[:20])
        assert sub.score(y_star) == pytest.approx(centre_best, abs=TOL)
        sub2 = PairwiseCRF(crf.unary[21:26], chain - 21, crf.pairwise[20:])
        assert sub2.score(y[21:26]) == pytest.approx(brute_map(sub2)[1], abs=TOL)
        assert y[26] == np.argmax(crf.unary[26])


def test_tree_map_long_chain_is_iterative():
    rng = np.random.default_rng(0)
    n, L = 20_000, 3
    crf = PairwiseCRF(rng.normal(size=(n, L)), chain_edges(n), rng.normal(size=(L, L)))
    y = tree_map(crf)
    # Viterbi reference (a plain forward/backward loop over the chain)
    t = crf.pairwise
    v = crf.unary[0].copy()
    back = np.zeros((n, L), dtype=np.int64)
    for k in range(1, n):
        tot = v[:, None] + t
        back[k] = tot.argmax(axis=0)
        v = tot.max(axis=0) + crf.unary[k]
    assert crf.score(y) == pytest.approx(v.max(), rel=1e-12)


def test_tree_map_rejects_cycles():
    crf = PairwiseCRF(np.zeros((9, 2)), grid_edges(3, 3), potts(2))
    with pytest.raises(ValueError, match="cycle"):
        tree_map(crf)
    parallel = PairwiseCRF(np.zeros((2, 2)), np.array([[0, 1], [1, 0]]), potts(2))
    with pytest.raises(ValueError, match="cycle"):
        tree_map(parallel)


# ------------------------------------------------------------------ alpha-expansion: moves
def _move_value(crf, y, alpha, h):
    ex = _Expansion(crf, h)
    y_new, e_new, _ = ex.move(y, alpha)
    assert e_new == pytest.approx(-objectives(crf, y_new[None], h)[0], abs=1e-9)
    # the move only switches nodes to alpha
    assert np.all((y_new == y) | (y_new == alpha))
    return -e_new


@pytest.mark.parametrize("kind", ["chain", "tree", "grid"])
@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize("with_costs", [False, True])
def test_expansion_move_is_the_best_move(kind, L, with_costs):
    """Each move equals the best of all 2^n expansion moves, label costs included."""
    rng = np.random.default_rng(100 * L + 7 * len(kind) + with_costs)
    for trial in range(30):
        n, edges = _graph(kind, rng, int(rng.integers(2, 9)))
        if trial % 2:
            crf = _potts_crf(rng, n, edges, L)
        else:
            crf = PairwiseCRF(rng.normal(size=(n, L)), edges, _metric_tables(rng, len(edges), L))
        h = None
        if with_costs:
            h = rng.random(L) * rng.choice([0.5, 2.0, 6.0])
            h[rng.random(L) < 0.2] = 0.0
        y = rng.integers(0, L, size=n)
        if trial % 3 == 0:  # leave a label unused so that alpha may be new
            y = np.minimum(y, L - 2)
        alpha = int(rng.integers(L))
        best = best_expansion_value(crf, y, alpha, h)
        assert _move_value(crf, y, alpha, h) == pytest.approx(best, abs=1e-9)


def test_expansion_move_new_label_cost_and_removal():
    """Hand-made cases: the alpha cost blocks a move; a label cost removes a whole label."""
    unary = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    crf = PairwiseCRF(unary, chain_edges(3), potts(2, 0.0))
    y0 = np.zeros(3, dtype=np.int64)
    # switching all three to label 1 gains 3, but label 1 costs 3.5 -> no move
    assert _move_value(crf, y0, 1, np.array([0.0, 3.5])) == pytest.approx(0.0)
    assert _move_value(crf, y0, 1, np.array([0.0, 2.5])) == pytest.approx(0.5)
    # y uses labels 0 and 1; expanding 1 removes label 0 when its cost exceeds the loss
    y1 = np.array([0, 1, 1])
    unary2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    crf2 = PairwiseCRF(unary2, chain_edges(3), potts(2, 0.0))
    assert _move_value(crf2, y1, 1, np.array([2.0, 0.0])) == pytest.approx(2.0)  # 0 removed
    assert _move_value(crf2, y1, 1, np.array([0.5, 0.0])) == pytest.approx(2.5)  # 0 stays


# ------------------------------------------------------------------ alpha-expansion: runs
def _shifted_parts(crf, y, h):
    """(D, V, H) of the nonnegative-shifted energy: unaries - min, Potts w [a != b]."""
    y = np.atleast_2d(y)
    d = (crf.unary.max(axis=1)[None, :] - crf.unary[np.arange(crf.n_nodes)[None, :], y]).sum(1)
    i, j = crf.edges[:, 0], crf.edges[:, 1]
    v = (crf.weights()[None, :] * (y[:, i] != y[:, j])).sum(1)
    hh = np.zeros(y.shape[0])
    if h is not None:
        for lab, cost in enumerate(h):
            hh += cost * (y == lab).any(axis=1)
    return d, v, hh


@pytest.mark.parametrize("kind", ["chain", "tree", "grid"])
@pytest.mark.parametrize("L", [2, 3])
def test_alpha_expansion_potts_bound(kind, L):
    """Converged expansion: E <= 2 E* (Potts, nonnegative terms); with label costs the
    Delong et al. bounds D + V <= D* + 2 V* + H* and E <= 2 E* + sum h - D*."""
    rng = np.random.default_rng(7 * L + len(kind))
    gaps = []
    for trial in range(20):
        n, edges = _graph(kind, rng, int(rng.integers(3, 9)))
        crf = _potts_crf(rng, n, edges, L, scale=2.0)
        h = None if trial % 2 else rng.random(L) * 3
        y, info = alpha_expansion(crf, label_costs=h, max_sweeps=50, return_info=True)
        assert info["converged"]
        ys = all_labellings(n, L)
        vals = objectives(crf, ys, h)
        y_star = ys[int(np.argmax(vals))]
        d, v, hh = _shifted_parts(crf, np.stack([y, y_star]), h)
        e_hat, e_star = d[0] + v[0] + hh[0], d[1] + v[1] + hh[1]
        if h is None:
            assert e_hat <= 2 * e_star + 1e-9
        else:
            assert d[0] + v[0] <= d[1] + 2 * v[1] + hh[1] + 1e-9
            assert e_hat <= 2 * e_star + h.sum() - d[1] + 1e-9
        gaps.append(e_hat - e_star)
        assert objective(crf, y, label_costs=h) <= vals.max() + 1e-9
    assert min(gaps) >= -1e-9  # y* is optimal for the shifted energy too


@pytest.mark.parametrize("with_costs", [False, True])
def test_alpha_expansion_monotone_with_truncation(with_costs):
    """Random (non-metric) tables: energies never increase, never worse than init."""
    rng = np.random.default_rng(5 + with_costs)
    truncated = 0
    for _ in range(30):
        n, edges = _graph("grid", rng, 9)
        L = int(rng.integers(2, 5))
        crf = PairwiseCRF(rng.normal(size=(n, L)), edges, rng.normal(size=(len(edges), L, L)) * 2)
        h = rng.random(L) if with_costs else None
        init = rng.integers(0, L, size=n)
        y, info = alpha_expansion(crf, label_costs=h, init=init, return_info=True, max_sweeps=20)
        en = np.asarray(info["energy"])
        assert np.all(np.diff(en) <= 1e-12)
        assert en[0] == pytest.approx(-objective(crf, init, label_costs=h))
        assert en[-1] == pytest.approx(-objective(crf, y, label_costs=h))
        assert info["n_sweeps"] == len(en) - 1
        truncated += info["n_truncated"]
    assert truncated > 0  # the instances do exercise the truncation


def test_alpha_expansion_options():
    rng = np.random.default_rng(2)
    n, edges = _graph("grid", rng, 9)
    crf = _potts_crf(rng, n, edges, 4)
    y_default = alpha_expansion(crf)
    assert y_default.dtype == np.int64 and y_default.shape == (9,)
    for kwargs in ({"order": [3, 1, 0, 2]}, {"seed": 0}, {"seed": np.random.default_rng(1)}):
        y = alpha_expansion(crf, **kwargs)
        assert objective(crf, y) >= objective(crf, np.argmax(crf.unary, axis=1)) - TOL
    # expanding only label 2 from all-zero init uses labels {0, 2} only
    y = alpha_expansion(crf, init=np.zeros(9, dtype=np.int64), order=[2])
    assert set(np.unique(y)) <= {0, 2}
    # huge label costs: a single label survives
    y = alpha_expansion(crf, label_costs=np.full(4, 1e3), max_sweeps=30)
    assert np.unique(y).size == 1
    y, info = alpha_expansion(crf, max_sweeps=1, return_info=True)
    assert info["n_sweeps"] == 1 and len(info["energy"]) == 2


def test_alpha_expansion_no_edges_is_exact_with_costs():
    # without edges the problem is a facility-location like choice; check vs brute force
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(20):
        crf = PairwiseCRF(rng.normal(size=(6, 3)), np.zeros((0, 2), dtype=np.int64), potts(3))
        h = rng.random(3) * 2
        y = alpha_expansion(crf, label_costs=h, max_sweeps=20)
        _, best = brute_map(crf, label_costs=h)
        got = objective(crf, y, label_costs=h)
        assert got <= best + TOL
        hits += got >= best - TOL
    assert hits >= 15


# ------------------------------------------------------------------ cardinality factors
def test_cardinality_messages_brute_force():
    rng = np.random.default_rng(8)
    for trial in range(60):
        n = int(rng.integers(1, 11))
        delta = rng.normal(size=n) * 2
        if trial % 3 == 0:  # ties
            delta = rng.integers(-2, 3, size=n).astype(float)
        phi = rng.normal(size=n + 1) * 3
        np.testing.assert_allclose(
            cardinality_messages(delta, phi), brute_card_messages(delta, phi), atol=1e-9
        )
    assert cardinality_messages(np.zeros(0), np.zeros(1)).shape == (0,)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8),
    st.data(),
)
def test_cardinality_messages_hypothesis(delta, data):
    n = len(delta)
    phi = data.draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=n + 1, max_size=n + 1))
    delta, phi = np.array(delta), np.array(phi)
    np.testing.assert_allclose(
        cardinality_messages(delta, phi), brute_card_messages(delta, phi), atol=1e-9
    )


def test_cardinality_map_exact():
    rng = np.random.default_rng(9)
    for _ in range(60):
        n = int(rng.integers(0, 11))
        delta = rng.normal(size=n)
        phi = rng.normal(size=n + 1) * 2
        b = cardinality_map(delta, phi)
        assert b.shape == (n,) and set(np.unique(b)) <= {0, 1}
        bs = all_labellings(n, 2) if n else np.zeros((1, 0), dtype=np.int64)
        vals = bs @ delta + phi[bs.sum(axis=1)]
        assert b @ delta + phi[b.sum()] == pytest.approx(vals.max(), abs=1e-9)


# ------------------------------------------------------------------ max_product
@pytest.mark.parametrize("kind", ["chain", "tree"])
def test_max_product_exact_on_trees(kind):
    rng = np.random.default_rng(11 + len(kind))
    for trial in range(25):
        n = int(rng.integers(2, 9))
        L = int(rng.integers(2, 5))
        _, edges = _graph(kind, rng, n)
        m = edges.shape[0]
        if trial % 3 == 0:
            crf = _potts_crf(rng, n, edges, L)  # Potts fast path
        elif trial % 3 == 1:
            crf = PairwiseCRF(
                rng.normal(size=(n, L)), edges, rng.normal(size=(L, L)), edge_weights=rng.random(m)
            )
        else:
            crf = PairwiseCRF(rng.normal(size=(n, L)), edges, rng.normal(size=(m, L, L)))
        y, info = max_product(crf, return_info=True)
        assert crf.score(y) == pytest.approx(crf.score(tree_map(crf)), abs=TOL)
        assert info["converged"]
        assert info["best_objective"] == pytest.approx(crf.score(y))


def test_max_product_cardinality_chain_vs_brute_force():
    rng = np.random.default_rng(12)
    exact, total = 0, 60
    for trial in range(total):
        n, L = 8, int(rng.integers(2, 4))
        crf = _potts_crf(rng, n, chain_edges(n), L, scale=0.5)
        ref = tree_map(crf) if trial % 2 else rng.integers(0, L, size=n)
        lam, gamma = rng.choice([2.0, 5.0, 10.0]), rng.choice([0.1, 0.3, 0.5])
        card = [(ref, -lam * np.exp(-gamma * np.arange(n + 1)))]
        y, info = max_product(crf, cardinality=card, return_info=True)
        _, best = brute_map(crf, cardinality=card)
        got = objective(crf, y, cardinality=card)
        assert got == pytest.approx(info["best_objective"], abs=1e-9)
        assert got <= best + 1e-9  # sanity: never better than the optimum
        exact += got >= best - 1e-9
    assert exact / total >= 0.8, f"only {exact}/{total} exact"


def test_max_product_two_factors_and_grid():
    rng = np.random.default_rng(13)
    n, edges = _graph("grid", rng, 9)
    crf = _potts_crf(rng, n, edges, 2)
    card = [
        (rng.integers(0, 2, size=9), -3.0 * np.exp(-0.3 * np.arange(10))),
        (rng.integers(0, 2, size=9), np.linspace(0, 1, 10)),
    ]
    y, info = max_product(crf, cardinality=card, damping=0.3, max_iter=30, return_info=True)
    _, best = brute_map(crf, cardinality=card)
    got = objective(crf, y, cardinality=card)
    assert got <= best + 1e-9
    assert got == pytest.approx(max(info["objective"]))
    assert info["n_iter"] <= 30


def test_max_product_no_edges_single_factor_is_exact():
    """Without edges one cardinality factor is a tree: BP is exact (= cardinality_map)."""
    rng = np.random.default_rng(14)
    for _ in range(20):
        n = 7
        crf = PairwiseCRF(rng.normal(size=(n, 2)), np.zeros((0, 2), dtype=np.int64), potts(2))
        ref = rng.integers(0, 2, size=n)
        phi = rng.normal(size=n + 1) * 2
        y = max_product(crf, cardinality=[(ref, phi)], damping=0.0)
        _, best = brute_map(crf, cardinality=[(ref, phi)])
        assert objective(crf, y, cardinality=[(ref, phi)]) == pytest.approx(best, abs=1e-9)


# ------------------------------------------------------------------ objective
def test_objective_matches_brute():
    rng = np.random.default_rng(15)
    n, edges = _graph("grid", rng, 9)
    crf = _potts_crf(rng, n, edges, 3)
    ys = rng.integers(0, 3, size=(6, 9))
    h = rng.random(3)
    card = [(ys[0], rng.normal(size=10))]
    got = objective(crf, ys, label_costs=h, cardinality=card)
    np.testing.assert_allclose(got, objectives(crf, ys, h, card))
    assert objective(crf, ys[1], label_costs=h, cardinality=card) == pytest.approx(got[1])
    assert objective(crf, ys[1]) == pytest.approx(crf.score(ys[1]))


# ------------------------------------------------------------------ bad inputs
def test_bad_inputs():
    crf = PairwiseCRF(np.zeros((4, 3)), chain_edges(4), potts(3))
    with pytest.raises(ValueError, match="'init' of alpha_expansion"):
        alpha_expansion(crf, init=np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="'init' of alpha_expansion"):
        alpha_expansion(crf, init=np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="'label_costs' of alpha_expansion"):
        alpha_expansion(crf, label_costs=np.ones(2))
    with pytest.raises(ValueError, match="negative"):
        alpha_expansion(crf, label_costs=np.array([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        alpha_expansion(crf, label_costs=np.array([1.0, np.nan, 0.0]))
    with pytest.raises(TypeError, match="label_costs"):
        alpha_expansion(crf, label_costs="abc")
    with pytest.raises(ValueError, match="max_sweeps"):
        alpha_expansion(crf, max_sweeps=0)
    with pytest.raises(ValueError, match="'order' parameter"):
        alpha_expansion(crf, order=[0, 5])
    with pytest.raises(ValueError, match="'seed' parameter"):
        alpha_expansion(crf, seed=-1)
    with pytest.raises(TypeError, match="'crf' parameter of alpha_expansion"):
        alpha_expansion("crf")

    ref = np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="phi"):
        max_product(crf, cardinality=[(ref, np.zeros(4))])
    with pytest.raises(ValueError, match="NaN"):
        max_product(crf, cardinality=[(ref, np.array([0, 1, np.nan, 0, 0]))])
    with pytest.raises(ValueError, match="reference"):
        max_product(crf, cardinality=[(np.zeros(3, dtype=int), np.zeros(5))])
    with pytest.raises(ValueError, match="reference"):
        max_product(crf, cardinality=[(np.array([0, 1, 3, 0]), np.zeros(5))])
    with pytest.raises(TypeError, match="pair"):
        max_product(crf, cardinality=[(ref,)])
    with pytest.raises(ValueError, match="'damping' parameter of max_product"):
        max_product(crf, damping=1.0)
    with pytest.raises(ValueError, match="'damping'"):
        max_product(crf, damping=-0.1)
    with pytest.raises(ValueError, match="max_iter"):
        max_product(crf, max_iter=0)

    with pytest.raises(ValueError, match="'phi' of cardinality_messages"):
        cardinality_messages(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        cardinality_messages(np.array([0.0, np.nan]), np.zeros(3))
    with pytest.raises(ValueError, match="phi"):
        cardinality_map(np.zeros(2), np.array([0.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match="'y' of objective"):
        objective(crf, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="label_costs"):
        objective(crf, ref, label_costs=[-1.0, 0, 0])
