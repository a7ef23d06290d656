"""Bad-input specs for the public callables of ``subsel.valuation`` (see ``bad_inputs.py``)."""

from __future__ import annotations

import torch

from subsel import valuation
from tests.common.bad_inputs import CallSpec

N, M = 5, 3


def _dist(rows, cols, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(rows, cols, generator=g, dtype=torch.float64)


def _new_new():
    d = _dist(N, N, 1)
    return (d + d.T).fill_diagonal_(0.0)


SPECS: list[CallSpec] = [
    CallSpec(
        "FacilityLocationLP",
        lambda: {
            "budget_fraction": 0.4,
            "xi": 0.9,
            "solver": "native",
            "relaxation": "budget",
            "smoothing": 0.01,
            "tol": 1e-7,
            "max_iter": 100,
        },
        lambda **kw: valuation.FacilityLocationLP(**kw)(_dist(N, M, 0), _new_new()),
        {
            "budget_fraction": "pos_real",
            "xi": "pos_real",
            "solver": "choice",
            "relaxation": "choice",
            "smoothing": "pos_real",
            "tol": "pos_real",
            "max_iter": "pos_int",
        },
    ),
    CallSpec(
        "FacilityLocationLP.__call__",
        lambda: {"d_new_old": _dist(N, M, 0), "d_new_new": _new_new(), "return_all": False},
        lambda **kw: valuation.FacilityLocationLP(0.4)(
            kw.pop("d_new_old"), kw.pop("d_new_new"), **kw
        ),
        {"d_new_old": f"tensor({N}, {M})", "d_new_new": f"tensor({N}, {N})", "return_all": "flag"},
        skip={"d_new_old:empty": "m = 0 old points is valid (the first minibatch has none)"},
    ),
]

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "FacilityLPResult": "a result record the layer returns; users do not build it",
}
