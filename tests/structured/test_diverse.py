"""Structured diversity: the greedy of eq. 2, its diversity terms, and interactive segmentation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from subsel.structured import (
    DivMBest,
    HammingBall,
    LabelCost,
    LabelTransition,
    PairwiseCRF,
    diverse_solutions,
    grid_edges,
    interactive_segmentation,
    oracle_curve,
    potts,
    segmentation_crf,
    solve_step,
)
from subsel.submodular import GroupCoverage, Modular, maximize


def _crf(rng, n_rows=2, n_cols=3, L=3, w=0.7):
    unary = rng.normal(size=(n_rows * n_cols, L))
    return PairwiseCRF(unary, grid_edges(n_rows, n_cols), potts(L, w))


def _all_labellings(crf):
    return np.array(list(itertools.product(range(crf.n_labels), repeat=crf.n_nodes)))


# ----------------------------------------------------------------------------- the CRF
def test_score_matches_a_direct_sum():
    rng = np.random.default_rng(0)
    crf = PairwiseCRF(
        rng.normal(size=(5, 3)), np.array([[0, 1], [1, 2], [3, 4]]), rng.normal(size=(3, 3, 3))
    )
    Y = _all_labellings(crf)[:50]
    direct = [
        sum(crf.unary[i, y[i]] for i in range(5))
        + sum(crf.pairwise[e, y[a], y[b]] for e, (a, b) in enumerate(crf.edges))
        for y in Y
    ]
    np.testing.assert_allclose(crf.score(Y), direct)
    assert crf.score(Y[3]) == pytest.approx(direct[3])


def test_grid_edges_count_and_forest_check():
    assert grid_edges(4, 5).shape == (2 * 4 * 5 - 4 - 5, 2)
    assert grid_edges(4, 5, connectivity=8).shape == (2 * 20 - 9 + 2 * 3 * 4, 2)
    chain = PairwiseCRF(np.zeros((4, 2)), np.array([[0, 1], [1, 2], [2, 3]]), potts(2))
    assert chain.is_forest()
    assert not PairwiseCRF(np.zeros((4, 2)), grid_edges(2, 2), potts(2)).is_forest()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"unary": np.zeros((4,))}, "unary"),
        ({"edges": np.array([[0, 9]])}, "outside"),
        ({"edges": np.array([[1, 1]])}, "self-loops"),
        ({"unary": np.array([[0.0, np.nan]] * 4)}, "NaN"),
        ({"pairwise": np.zeros((3, 3))}, "pairwise"),
        ({"edge_weights": -np.ones(1)}, "negative"),
    ],
)
def test_crf_bad_input(kwargs, match):
    args = {"unary": np.zeros((4, 2)), "edges": np.array([[0, 1]]), "pairwise": potts(2)}
    args.update(kwargs)
    weights = args.pop("edge_weights", None)
    with pytest.raises(ValueError, match=match):
        PairwiseCRF(**args, edge_weights=weights)


# ----------------------------------------------------------------------------- diversity terms
def test_hamming_ball_value_is_eq_10_with_exponential_intersection():
    rng = np.random.default_rng(1)
    crf = _crf(rng)
    S = rng.integers(0, 3, size=(2, crf.n_nodes))
    y = rng.integers(0, 3, size=crf.n_nodes)
    term = HammingBall(0.5, gamma=3.0)
    n = crf.n_nodes
    d = n * (1 - sum(np.exp(-3.0 * (y != s).sum() / n) for s in S))
    assert term.value(crf, y, S) == pytest.approx(0.5 * d)
    clamped = HammingBall(0.5, gamma=3.0, clamp=True)
    assert clamped.value(crf, S[0], S) == pytest.approx(
        0.5 * max(0.0, n * (1 - 1 - np.exp(-3.0 * (S[0] != S[1]).sum() / n)))
    )


def test_surrogates_touch_the_term_at_the_linearization_point():
    """value(y) = surrogate evaluated at y, for every term (the surrogate is tight where built)."""
    rng = np.random.default_rng(2)
    crf = _crf(rng, L=3)
    S = rng.integers(0, 3, size=(2, crf.n_nodes))
    for term in (
        DivMBest(0.3),
        HammingBall(0.7, 4.0),
        LabelCost(0.4, h="sqrt"),
        LabelTransition(0.6, h="log1p"),
    ):
        for y in rng.integers(0, 3, size=(5, crf.n_nodes)):
            sur = term.surrogate(crf, y, S)
            val = sur.const
            if sur.unary is not None:
                val += sur.unary[np.arange(crf.n_nodes), y].sum()
            if sur.label_costs is not None:
                val -= sur.label_costs[np.unique(y)].sum()
            if sur.pair_costs is not None:
                a, b = y[crf.edges[:, 0]], y[crf.edges[:, 1]]
                val -= sur.pair_costs[a, b].sum()
            if isinstance(term, HammingBall):
                # the tangent of a concave function of the distances: equal at y up to the constant
                n = crf.n_nodes
                H = (S != y).sum(axis=1)
                slope = 0.7 * 4.0 * np.exp(-4.0 * H / n)
                assert val == pytest.approx((slope * H).sum())
            else:
                assert val == pytest.approx(term.value(crf, y, S)), term


def test_label_transition_majorizes_its_cost():
    """Surrogate built at y0 is <= the true term at every y (a minorizer of the score)."""
    rng = np.random.default_rng(3)
    crf = _crf(rng, L=3)
    S = rng.integers(0, 3, size=(2, crf.n_nodes))
    term = LabelTransition(1.0)
    Y = _all_labellings(crf)[::7]
    for y0 in Y[:10]:
        sur = term.surrogate(crf, y0, S)
        for y in Y:
            a, b = y[crf.edges[:, 0]], y[crf.edges[:, 1]]
            approx = sur.const - sur.pair_costs[a, b].sum()
            assert approx <= term.value(crf, y, S) + 1e-9


# ----------------------------------------------------------------------------- the greedy
def _groups_of(crf, Y, kind):
    L = crf.n_labels
    if kind == "label":
        G = np.zeros((len(Y), L), dtype=int)
        for k, y in enumerate(Y):
            G[k, np.unique(y)] = 1
        return G
    pairs = [(a, b) for a in range(L) for b in range(a + 1, L)]
    G = np.zeros((len(Y), len(pairs)), dtype=int)
    for k, y in enumerate(Y):
        present = LabelTransition.pairs(crf, y)
        G[k] = [present[a, b] for a, b in pairs]
    return G


@pytest.mark.parametrize("kind", ["label", "transition"])
@pytest.mark.parametrize("h", ["min1", "sqrt", "log1p"])
def test_exact_oracle_equals_greedy_over_the_enumerated_items(kind, h):
    """With an exact augmentation step, the structured greedy is plain greedy over all L^n items
    of F(S) = sum_{y in S} (r(y) - lam * parsimony * |groups(y)|) + lam * sum_g h(|G_g cap S|)."""
    rng = np.random.default_rng(4 if kind == "label" else 5)
    crf = _crf(rng, n_rows=2, n_cols=3, L=3, w=0.3)
    lam = 1.5
    Y = _all_labellings(crf)
    G = _groups_of(crf, Y, kind)
    cls = LabelCost if kind == "label" else LabelTransition
    term = cls(lam, h=h)
    modular = crf.score(Y) - lam * term.parsimony * G.sum(axis=1)
    f = Modular(modular - modular.min() + 1.0) + lam * GroupCoverage(G, h=h)
    expected = Y[maximize(f, 4, optimizer="naive").indices]
    got = diverse_solutions(crf, 4, diversity=term, solver="exact")
    np.testing.assert_array_equal(got, expected)


def test_auto_step_is_exact_for_divmbest_on_binary_grids():
    rng = np.random.default_rng(6)
    for _ in range(20):
        crf = PairwiseCRF(rng.normal(size=(9, 2)), grid_edges(3, 3), potts(2, rng.uniform(0, 1)))
        S = rng.integers(0, 2, size=(2, 9))
        term = DivMBest(rng.uniform(0.1, 1.0))
        _, auto = solve_step(crf, term, S)
        Y = _all_labellings(crf)
        best = max(crf.score(y) + term.value(crf, y, S) for y in Y)
        assert auto["objective"] == pytest.approx(best)


def test_auto_step_for_hamming_ball_is_near_exact_on_small_grids():
    rng = np.random.default_rng(7)
    exact_hits, gaps = 0, []
    for _ in range(25):
        crf = PairwiseCRF(rng.normal(size=(9, 2)), grid_edges(3, 3), potts(2, 0.5))
        S = diverse_solutions(crf, 2, diversity="hamming", lam=0.3)
        term = HammingBall(1.0, gamma=3.0)
        _, auto = solve_step(crf, term, S)
        Y = _all_labellings(crf)
        best = max(crf.score(y) + term.value(crf, y, S) for y in Y)
        assert auto["objective"] <= best + 1e-9
        exact_hits += auto["objective"] >= best - 1e-9
        gaps.append(best - auto["objective"])
    # Iterated linearization is a heuristic (eq. 10 has no exact graph-cut form): measured 15/25
    # exact here, and it may never beat enumeration.
    assert exact_hits >= 12, (exact_hits, gaps)
    assert np.median(gaps) < 1e-9, gaps


def test_first_solution_is_the_map_and_concat_joins_the_lists():
    rng = np.random.default_rng(8)
    crf = _crf(rng, n_rows=3, n_cols=3, L=2)
    Y = _all_labellings(crf)
    map_y = Y[np.argmax(crf.score(Y))]
    for div in ("hamming", "hamming_ball"):
        sols = diverse_solutions(crf, 3, diversity=div, lam=0.5)
        np.testing.assert_array_equal(sols[0], map_y)
    both = diverse_solutions(
        crf, 5, diversity=[DivMBest(0.5), HammingBall(1.0, 3.0)], combine="concat"
    )
    d = diverse_solutions(crf, 3, diversity=DivMBest(0.5))
    hb = diverse_solutions(crf, 3, diversity=HammingBall(1.0, 3.0))
    np.testing.assert_array_equal(both, np.stack([d[0], d[1], d[2], hb[1], hb[2]]))


def test_weighted_sum_equals_sum_of_scaled_terms():
    rng = np.random.default_rng(9)
    crf = _crf(rng, n_rows=2, n_cols=3, L=3)
    S = rng.integers(0, 3, size=(2, 6))
    y = rng.integers(0, 3, size=6)
    total = DivMBest(0.5) + LabelCost(2.0)
    assert total.value(crf, y, S) == pytest.approx(
        DivMBest(0.5).value(crf, y, S) + LabelCost(2.0).value(crf, y, S)
    )
    a = diverse_solutions(
        crf, 3, diversity=[DivMBest(1.0), LabelCost(1.0)], weights=[0.5, 2.0], solver="exact"
    )
    b = diverse_solutions(crf, 3, diversity=total, solver="exact")
    np.testing.assert_array_equal(a, b)


def test_oracle_curve_is_running_max():
    np.testing.assert_array_equal(oracle_curve([0.2, 0.1, 0.5, 0.4]), [0.2, 0.2, 0.5, 0.5])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"M": 0}, ValueError, "'M'"),
        ({"diversity": "nope"}, ValueError, "diversity"),
        ({"diversity": "hamming", "gamma": 2.0}, TypeError, "gamma"),
        ({"combine": "zip"}, ValueError, "combine"),
        ({"solver": "magic"}, ValueError, "solver"),
        ({"lam": -1.0}, ValueError, "lam"),
        ({"diversity": "label_cost", "parsimony": 0.1}, ValueError, "parsimony"),
    ],
)
def test_diverse_solutions_bad_input(kwargs, err, match):
    crf = _crf(np.random.default_rng(0))
    args = {"M": 2}
    args.update(kwargs)
    with pytest.raises(err, match=match):
        diverse_solutions(crf, **args)


# ----------------------------------------------------------------------------- segmentation
def _toy_image(seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((30, 40, 3))
    img[...] = (40, 90, 40)
    img[8:22, 12:30] = (200, 60, 60)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((30, 40), dtype=bool)
    truth[8:22, 12:30] = True
    scr = -np.ones((30, 40), dtype=np.int64)
    scr[14:16, 15:27] = 1
    scr[2, 2:38] = 0
    scr[27, 2:38] = 0
    return img, scr, truth


def test_interactive_segmentation_finds_the_object_and_keeps_the_strokes():
    img, scr, truth = _toy_image()
    masks = interactive_segmentation(img, scr, M=4, diversity="hamming_ball", lam=20.0, gamma=5.0)
    assert masks.shape == (4, 30, 40) and masks.dtype == bool
    iou = (masks[0] & truth).sum() / (masks[0] | truth).sum()
    assert iou > 0.95
    assert masks[:, scr == 1].all() and not masks[:, scr == 0].any()
    assert len({m.tobytes() for m in masks}) > 1


@pytest.mark.parametrize(
    "change, err, match",
    [
        (lambda i, s: (i.astype(float), s), TypeError, "uint8"),
        (lambda i, s: (i, s[:-1]), ValueError, "shape"),
        (lambda i, s: (i, np.where(s == 1, -1, s)), ValueError, "foreground stroke"),
        (lambda i, s: (i, s + 5), ValueError, "scribbles"),
    ],
)
def test_segmentation_bad_input(change, err, match):
    img, scr, _ = _toy_image()
    img, scr = change(img, scr)
    with pytest.raises(err, match=match):
        segmentation_crf(img, scr)


@pytest.mark.parametrize("fg_pixels", [1, 2, 3])
@pytest.mark.parametrize("bg", ["click", "stroke"])
def test_clicks_and_tiny_strokes_segment(fg_pixels, bg):
    """Issue 9 item 5: a one-pixel stroke crashed inside GaussianMixture. Strokes under 10
    pixels get one Gaussian shrunk towards the image's noise level, and still find the object."""
    img, _, truth = _toy_image()
    scr = -np.ones(truth.shape, dtype=np.int64)
    scr[15, 20 : 20 + fg_pixels] = 1
    if bg == "click":
        scr[2, 2] = 0
    else:
        scr[2, 2:38] = 0
    masks = interactive_segmentation(img, scr, M=2, diversity="hamming", lam=0.5)
    assert masks.shape == (2, 30, 40)
    iou = (masks[0] & truth).sum() / (masks[0] | truth).sum()
    assert iou > 0.95
    assert masks[:, scr == 1].all() and not masks[:, scr == 0].any()
