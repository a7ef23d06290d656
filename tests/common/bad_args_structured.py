"""Bad-input specs for the public callables of ``subsel.structured`` (see ``bad_inputs.py``).

A ``crf`` argument is walked with the ``choice`` kind: a string or an int where a PairwiseCRF
belongs must be refused with a TypeError naming ``crf``.
"""

from __future__ import annotations

import numpy as np

from subsel import structured as st
from tests.common.bad_inputs import CallSpec

N, L = 4, 3
EMPTY_HISTORY = "an empty history (no labelling chosen yet) is valid"


def _crf():
    rng = np.random.default_rng(0)
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    return st.PairwiseCRF(rng.normal(size=(N, L)), edges, st.potts(L, 0.5))


def _binary_crf():
    rng = np.random.default_rng(1)
    return st.PairwiseCRF(rng.normal(size=(N, 2)), st.grid_edges(2, 2), st.potts(2, 0.5))


def _labels():
    return np.array([0, 1, 2, 1])


def _image():
    rng = np.random.default_rng(2)
    img = np.full((8, 8, 3), (40, 90, 40), dtype=np.float64)
    img[2:6, 2:6] = (200, 60, 60)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def _scribbles():
    scr = -np.ones((8, 8), dtype=np.int64)
    scr[4, 3:5] = 1
    scr[0, :] = 0
    return scr


def _crf_kw():
    return {
        "unary": np.random.default_rng(0).normal(size=(N, L)),
        "edges": np.array([[0, 1], [1, 2], [2, 3]]),
        "pairwise": st.potts(L, 0.5),
        "edge_weights": np.ones(3),
    }


def _make_crf(**kw):
    crf = st.PairwiseCRF(kw.pop("unary"), kw.pop("edges"), kw.pop("pairwise"), **kw)
    return crf.score(_labels())


def _diverse_kw():
    return {
        "crf": _crf(),
        "M": 2,
        "lam": 0.5,
        "combine": "sum",
        "solver": "auto",
        "max_iter": 3,
        "seed": 0,
        "distinct": True,
        "progress": False,
        "return_info": False,
        "diversity": "hamming",
    }


def _diverse(**kw):
    return st.diverse_solutions(kw.pop("crf"), kw.pop("M"), **kw)


def _term_call(cls):
    def call(**kw):
        return st.diverse_solutions(_crf(), 2, diversity=cls(**kw))

    return call


def _group_kw():
    return {"lam": 0.5, "h": "sqrt", "parsimony": None, "ignore": np.array([0])}


_GROUP_ARGS = {
    "lam": "nonneg_real",
    "h": "choice",
    "parsimony": "nonneg_real",
    "ignore": "array(1)",
}
_GROUP_SKIP = {"ignore:empty": "no ignored label is valid (the default)"}
_SEG_IMAGE = {"image": "array(8, 8, 3)", "scribbles": "array(8, 8)"}

SPECS: list[CallSpec] = [
    CallSpec(
        "PairwiseCRF",
        _crf_kw,
        _make_crf,
        {
            "unary": "array(4, 3)",
            "edges": "array(3, 2)",
            "pairwise": "array(3, 3)",
            "edge_weights": "array(3)",
        },
        skip={"edges:empty": "a CRF without edges (m = 0) is valid"},
    ),
    CallSpec(
        "PairwiseCRF.score",
        lambda: {"y": _labels()},
        lambda **kw: _crf().score(kw["y"]),
        {"y": "array(4)"},
    ),
    CallSpec(
        "grid_edges",
        lambda: {"height": 2, "width": 3, "connectivity": 4},
        lambda **kw: st.grid_edges(kw.pop("height"), kw.pop("width"), **kw),
        {"height": "int", "width": "pos_int", "connectivity": "choice"},
    ),
    CallSpec(
        "potts",
        lambda: {"n_labels": 3, "weight": 0.5},
        lambda **kw: st.potts(kw["n_labels"], kw["weight"]),
        {"n_labels": "int", "weight": "real"},
    ),
    CallSpec(
        "diverse_solutions",
        _diverse_kw,
        _diverse,
        {
            "crf": "choice",
            "M": "int",
            "lam": "real",
            "combine": "choice",
            "solver": "choice",
            "max_iter": "pos_int",
            "seed": "seed",
            "distinct": "flag",
            "progress": "flag",
            "return_info": "flag",
            "diversity": "choice",
        },
    ),
    CallSpec(
        "diverse_solutions[params]",
        lambda: {
            **_diverse_kw(),
            "lam": 0.5,
            "diversity": ["hamming", "label_cost"],
            "weights": np.ones(2),
            "ignore": np.array([0]),
            "parsimony": None,
        },
        _diverse,
        {
            "lam": "nonneg_real",
            "weights": "array(2)",
            "ignore": "array(1)",
            "parsimony": "nonneg_real",
        },
        skip={**_GROUP_SKIP},
    ),
    CallSpec(
        "diverse_solutions[hamming_ball]",
        lambda: {**_diverse_kw(), "diversity": "hamming_ball", "gamma": 2.0, "clamp": False},
        _diverse,
        {"gamma": "real", "clamp": "flag"},
    ),
    CallSpec(
        "solve_step",
        lambda: {
            "crf": _crf(),
            "term": st.DivMBest(0.5),
            "S": np.array([_labels()] * 2),
            "solver": "auto",
            "max_iter": 3,
            "seed": 0,
            "distinct": True,
            "exclude": np.array([[0, 0, 0, 0]]),
        },
        lambda **kw: st.solve_step(kw.pop("crf"), kw.pop("term"), kw.pop("S"), **kw),
        {
            "crf": "choice",
            "term": "choice",
            "S": "array(2, 4)",
            "solver": "choice",
            "max_iter": "pos_int",
            "seed": "seed",
            "distinct": "flag",
            "exclude": "array(1, 4)",
        },
        skip={"S:empty": EMPTY_HISTORY, "exclude:empty": EMPTY_HISTORY},
    ),
    CallSpec(
        "make_diversity",
        lambda: {"spec": "hamming", "lam": 0.5},
        lambda **kw: st.make_diversity(kw["spec"], kw["lam"]),
        {"spec": "choice", "lam": "real"},
    ),
    CallSpec(
        "make_diversity[range]",
        lambda: {"spec": "hamming_ball", "lam": 0.5, "gamma": 1.0},
        lambda **kw: st.make_diversity(kw.pop("spec"), kw.pop("lam"), **kw),
        {"lam": "nonneg_real", "gamma": "pos_real"},
    ),
    CallSpec(
        "oracle_curve",
        lambda: {"scores": np.array([0.2, 0.1, 0.5, 0.4])},
        lambda **kw: st.oracle_curve(kw["scores"]),
        {"scores": "array(4)"},
    ),
    CallSpec(
        "DivMBest",
        lambda: {"lam": 0.5},
        _term_call(st.DivMBest),
        {"lam": "real"},
    ),
    CallSpec(
        "DivMBest[range]",
        lambda: {"lam": 0.5},
        _term_call(st.DivMBest),
        {"lam": "nonneg_real"},
    ),
    CallSpec(
        "HammingBall",
        lambda: {"lam": 0.5, "gamma": 2.0, "clamp": False},
        _term_call(st.HammingBall),
        {"lam": "real", "gamma": "real", "clamp": "flag"},
    ),
    CallSpec(
        "HammingBall[range]",
        lambda: {"lam": 0.5, "gamma": 2.0},
        _term_call(st.HammingBall),
        {"lam": "nonneg_real", "gamma": "pos_real"},
    ),
    CallSpec("LabelCost", _group_kw, _term_call(st.LabelCost), _GROUP_ARGS, skip=_GROUP_SKIP),
    CallSpec(
        "LabelTransition", _group_kw, _term_call(st.LabelTransition), _GROUP_ARGS, skip=_GROUP_SKIP
    ),
    CallSpec(
        "SumOfDiversities",
        lambda: {"terms": [st.DivMBest(0.5), st.HammingBall(0.5, 2.0)]},
        lambda **kw: st.diverse_solutions(_crf(), 2, diversity=st.SumOfDiversities(kw["terms"])),
        {"terms": "choice"},
    ),
    CallSpec(
        "graph_cut",
        lambda: {"crf": _binary_crf()},
        lambda **kw: st.graph_cut(kw["crf"]),
        {"crf": "choice"},
    ),
    CallSpec(
        "alpha_expansion",
        lambda: {
            "crf": _crf(),
            "label_costs": np.full(L, 0.1),
            "init": _labels(),
            "max_sweeps": 3,
            "order": np.array([2, 0, 1]),
            "seed": None,
            "return_info": False,
        },
        lambda **kw: st.alpha_expansion(kw.pop("crf"), **kw),
        {
            "crf": "choice",
            "label_costs": "array(3)",
            "init": "array(4)",
            "max_sweeps": "pos_int",
            "order": "array(3)",
            "return_info": "flag",
        },
    ),
    CallSpec(
        "alpha_expansion[seed]",
        lambda: {"crf": _crf(), "seed": 0},
        lambda **kw: st.alpha_expansion(kw.pop("crf"), **kw),
        {"seed": "seed"},
    ),
    CallSpec(
        "tree_map",
        lambda: {"crf": _crf()},
        lambda **kw: st.tree_map(kw["crf"]),
        {"crf": "choice"},
    ),
    CallSpec(
        "max_product",
        lambda: {"crf": _crf(), "damping": 0.5, "max_iter": 5, "tol": 1e-6, "return_info": False},
        lambda **kw: st.max_product(kw.pop("crf"), **kw),
        {
            "crf": "choice",
            "damping": "real",
            "max_iter": "pos_int",
            "tol": "nonneg_real",
            "return_info": "flag",
        },
    ),
    CallSpec(
        "max_product[cardinality]",
        lambda: {"crf": _crf(), "cardinality": [(_labels(), np.zeros(N + 1))]},
        lambda **kw: st.max_product(kw.pop("crf"), **kw),
        {"cardinality": "choice"},
    ),
    CallSpec(
        "cardinality_messages",
        lambda: {"delta": np.array([0.5, -1.0, 2.0]), "phi": np.array([0.0, 1.0, 1.5, 1.7])},
        lambda **kw: st.cardinality_messages(kw["delta"], kw["phi"]),
        {"delta": "array(3)", "phi": "array(4)"},
        skip={"delta:empty": "a factor over no variables is valid (then phi must have 1 entry)"},
    ),
    CallSpec(
        "cardinality_map",
        lambda: {"delta0": np.array([0.5, -1.0, 2.0]), "phi": np.array([0.0, 1.0, 1.5, 1.7])},
        lambda **kw: st.cardinality_map(kw["delta0"], kw["phi"]),
        {"delta0": "array(3)", "phi": "array(4)"},
        skip={"delta0:empty": "a factor over no variables is valid (then phi must have 1 entry)"},
    ),
    CallSpec(
        "objective",
        lambda: {"crf": _crf(), "y": _labels(), "label_costs": np.full(L, 0.1)},
        lambda **kw: st.objective(kw.pop("crf"), kw.pop("y"), **kw),
        {"crf": "choice", "y": "array(4)", "label_costs": "array(3)"},
    ),
    CallSpec(
        "interactive_segmentation",
        lambda: {
            "image": _image(),
            "scribbles": _scribbles(),
            "M": 2,
            "diversity": "hamming",
            "lam": 0.5,
            "model": None,
            "return_crf": False,
        },
        lambda **kw: st.interactive_segmentation(kw.pop("image"), kw.pop("scribbles"), **kw),
        {
            **_SEG_IMAGE,
            "M": "int",
            "diversity": "choice",
            "lam": "real",
            "model": "choice",
            "return_crf": "flag",
        },
    ),
    CallSpec(
        "segmentation_crf",
        lambda: {
            "image": _image(),
            "scribbles": _scribbles(),
            "n_components": 2,
            "smoothness": 10.0,
            "spatial": 5.0,
            "contrast": 1.0,
            "connectivity": 8,
            "seed": 0,
        },
        lambda **kw: st.segmentation_crf(kw.pop("image"), kw.pop("scribbles"), **kw),
        {
            **_SEG_IMAGE,
            "n_components": "pos_int",
            "smoothness": "nonneg_real",
            "spatial": "nonneg_real",
            "contrast": "nonneg_real",
            "connectivity": "choice",
            "seed": "seed",
        },
    ),
    CallSpec(
        "check_scribbles",
        lambda: {"image": _image(), "scribbles": _scribbles()},
        lambda **kw: st.check_scribbles(kw["image"], kw["scribbles"], "check_scribbles"),
        _SEG_IMAGE,
    ),
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "DiversityTerm": "the abstract base class of the terms; it takes no arguments",
    "Surrogate": "a record of arrays that DiversityTerm.surrogate returns; the solvers that "
    "receive it check unary scores and label costs",
}
