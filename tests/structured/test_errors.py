"""Issue 9's structured error items: each refused in the one format, naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

from subsel.structured import (
    DivMBest,
    HammingBall,
    LabelCost,
    LabelTransition,
    PairwiseCRF,
    alpha_expansion,
    cardinality_messages,
    diverse_solutions,
    grid_edges,
    objective,
    oracle_curve,
    potts,
    segmentation_crf,
    solve_step,
)
from tests.common.bad_inputs import matches_format

from ._brute import chain_edges


def _crf():
    rng = np.random.default_rng(0)
    return PairwiseCRF(rng.normal(size=(5, 3)), chain_edges(5), potts(3, 0.5))


def _refused(kind, name, call):
    with pytest.raises(kind) as info:
        call()
    assert matches_format(str(info.value), name), str(info.value)
    return str(info.value)


@pytest.mark.parametrize("cls", [LabelCost, LabelTransition])
def test_ignore_out_of_range_and_negative_labels(cls):
    """ignore=[10] was an IndexError; ignore=[-1] silently meant the last label."""
    crf = _crf()
    msg = _refused(
        ValueError, "ignore", lambda: diverse_solutions(crf, 2, diversity=cls(ignore=[10]))
    )
    assert "[0, 3)" in msg
    _refused(ValueError, "ignore", lambda: cls(ignore=[-1]))
    kind = "label_cost" if cls is LabelCost else "label_transition"
    _refused(ValueError, "ignore", lambda: diverse_solutions(crf, 2, diversity=kind, ignore=[3]))
    _refused(ValueError, "ignore", lambda: cls(ignore=[7]).value(crf, np.zeros(5, int), []))
    assert diverse_solutions(crf, 2, diversity=cls(ignore=0)).shape == (2, 5)  # a scalar label


def test_solve_step_wrong_width_history_and_bogus_solver():
    crf = _crf()
    msg = _refused(ValueError, "S", lambda: solve_step(crf, DivMBest(), np.zeros((2, 4), int)))
    assert "(5,)" in msg  # not numpy's reshape message
    _refused(ValueError, "solver", lambda: solve_step(crf, DivMBest(), [], solver="bogus"))
    _refused(TypeError, "term", lambda: solve_step(crf, "hamming", []))


@pytest.mark.parametrize(
    "name, value", [("seed", "x"), ("progress", "x"), ("return_info", 1), ("distinct", "yes")]
)
def test_flags_and_seed_of_diverse_solutions(name, value):
    """seed='x', progress='x' and return_info=1 used to pass."""
    _refused(TypeError, name, lambda: diverse_solutions(_crf(), 2, **{name: value}))


def test_grid_edges_and_potts_refuse_empty_sizes():
    """grid_edges(-1, 3) and potts(0) returned empty arrays."""
    _refused(ValueError, "height", lambda: grid_edges(-1, 3))
    _refused(ValueError, "width", lambda: grid_edges(3, 0))
    _refused(ValueError, "connectivity", lambda: grid_edges(3, 3, connectivity=6))
    _refused(ValueError, "n_labels", lambda: potts(0))
    _refused(TypeError, "weight", lambda: potts(3, "1"))


def test_complex_input_is_refused_everywhere():
    """numpy would silently drop the imaginary part."""
    crf = _crf()
    z = 1 + 1j
    u = np.ones((5, 3))
    e = chain_edges(5)
    _refused(TypeError, "unary", lambda: PairwiseCRF(u * z, e, potts(3)))
    _refused(TypeError, "pairwise", lambda: PairwiseCRF(u, e, potts(3) * z))
    _refused(TypeError, "edge_weights", lambda: PairwiseCRF(u, e, potts(3), edge_weights=[z] * 4))
    _refused(TypeError, "weight", lambda: potts(3, z))
    _refused(TypeError, "label_costs", lambda: alpha_expansion(crf, label_costs=np.ones(3) * z))
    _refused(
        TypeError, "label_costs", lambda: objective(crf, np.zeros(5, int), label_costs=[z] * 3)
    )
    _refused(TypeError, "delta", lambda: cardinality_messages(np.ones(2) * z, np.zeros(3)))
    _refused(TypeError, "phi", lambda: cardinality_messages(np.ones(2), np.zeros(3) * z))
    _refused(TypeError, "scores", lambda: oracle_curve(np.ones(3) * z))
    _refused(TypeError, "y", lambda: crf.score(np.zeros(5) * z))
    _refused(TypeError, "lam", lambda: DivMBest(z))
    _refused(TypeError, "gamma", lambda: HammingBall(1.0, z))
    _refused(TypeError, "lam", lambda: diverse_solutions(crf, 2, lam=z))
    _refused(
        TypeError,
        "weights",
        lambda: diverse_solutions(crf, 2, diversity=["hamming"] * 2, weights=[z, z]),
    )
    img = np.zeros((4, 4, 3)) * z
    scr = np.zeros((4, 4), int)
    _refused(TypeError, "image", lambda: segmentation_crf(img, scr))


def test_segmentation_without_scikit_image_names_the_extra(monkeypatch):
    import sys

    from subsel.structured import interactive_segmentation

    monkeypatch.setitem(sys.modules, "skimage.graph", None)  # import now raises ImportError
    img = np.zeros((6, 6, 3), dtype=np.uint8)
    scr = -np.ones((6, 6), dtype=int)
    scr[0, 0], scr[5, 5] = 0, 1
    with pytest.raises(ImportError, match=r"subsel\[segmentation\]"):
        interactive_segmentation(img, scr, M=1)
