"""Bad-input specs for the public callables of ``subsel.apps`` (see ``bad_inputs.py``)."""

from __future__ import annotations

import torch

from subsel import apps
from tests.common.bad_inputs import CallSpec

M, N, P = 3, 5, 2
W = [1, 2, 1, 3, 2]


def _values(seed=0):
    return torch.rand(M, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _loss_spec(name, target):
    def valid():
        return {
            "theta": _values(0),
            target: _values(1)
            if target == "true_values"
            else torch.tensor([[1.0, 1, 0, 0, 0]] * M),
            "weights": torch.tensor(W),
            "capacity": 3,
            "tau": 0.5,
            "regularizer": "shannon",
            "resolution": None,
            "backend": "torch",
        }

    fn = getattr(apps, name)
    return CallSpec(
        name,
        valid,
        lambda **kw: fn(
            kw.pop("theta"), kw.pop(target), kw.pop("weights"), kw.pop("capacity"), **kw
        ),
        {
            "theta": f"tensor({M}, {N})",
            "weights": f"ints({N})",
            "capacity": "int",
            "tau": "pos_real",
            "regularizer": "choice",
            "resolution": "pos_real",
            "backend": "choice",
        },
        skip={
            "capacity:float": "1.5 is refused as a non-integer (covered by weights:fraction)",
            "theta:int dtype": "integer predictions are cast to float (no gradient needed)",
            "theta:numpy": "arrays are accepted (no gradient needed)",
        },
    )


SPECS: list[CallSpec] = [
    CallSpec(
        "normalized_regret",
        lambda: {
            "pred_values": _values(0),
            "true_values": _values(1),
            "weights": torch.tensor(W),
            "capacity": 3,
            "resolution": None,
            "backend": "torch",
            "reduction": "normalized",
        },
        lambda **kw: apps.normalized_regret(
            kw.pop("pred_values"),
            kw.pop("true_values"),
            kw.pop("weights"),
            kw.pop("capacity"),
            **kw,
        ),
        {
            "pred_values": f"tensor({M}, {N})",
            "true_values": f"tensor({M}, {N})",
            "weights": f"ints({N})",
            "capacity": "int",
            "resolution": "pos_real",
            "backend": "choice",
            "reduction": "choice",
        },
        skip={
            "capacity:float": "1.5 is refused as a non-integer (covered by weights:fraction)",
            "pred_values:int dtype": "integer predictions are valid values",
            "true_values:int dtype": "integer values are valid values",
            "pred_values:numpy": "arrays are accepted",
            "true_values:numpy": "arrays are accepted",
        },
    ),
    _loss_spec("fy_loss", "y_true"),
    _loss_spec("spo_loss", "true_values"),
    _loss_spec("regret_loss", "true_values"),
    CallSpec(
        "train_knapsack_predictor",
        lambda: {
            "X": torch.rand(M, P, dtype=torch.float64),
            "C": _values(1),
            "weights": torch.tensor(W),
            "capacity": 3,
            "loss": "fy",
            "tau": 0.5,
            "regularizer": "shannon",
            "epochs": 1,
            "lr": 0.01,
            "batch_size": 2,
            "seed": 0,
            "resolution": None,
            "backend": "torch",
            "progress": False,
        },
        lambda **kw: apps.train_knapsack_predictor(
            kw.pop("X"), kw.pop("C"), kw.pop("weights"), kw.pop("capacity"), **kw
        ),
        {
            "X": f"tensor({M}, {P})",
            "C": f"tensor({M}, {N})",
            "weights": f"ints({N})",
            "capacity": "int",
            "loss": "choice",
            "tau": "pos_real",
            "regularizer": "choice",
            "epochs": "pos_int",
            "lr": "pos_real",
            "batch_size": "pos_int",
            "seed": "seed",
            "resolution": "pos_real",
            "backend": "choice",
            "progress": "flag",
        },
        skip={
            "capacity:float": "1.5 is refused as a non-integer (covered by weights:fraction)",
            "X:int dtype": "integer features are valid",
            "C:int dtype": "integer values are valid",
            "X:numpy": "arrays are accepted",
            "C:numpy": "arrays are accepted",
        },
    ),
]

# the models of the subset-sampling paper keep their specs beside them, one file per model
for _name in ("knn", "explain", "sne"):
    try:
        _mod = __import__(f"tests.common.bad_args_apps_{_name}", fromlist=["SPECS"])
    except ModuleNotFoundError as _err:  # not written yet
        if _err.name != f"tests.common.bad_args_apps_{_name}":
            raise
        continue
    SPECS.extend(_mod.SPECS)

# public names without a spec, with the reason
EXEMPT: dict[str, str] = {
    "KnapsackDP": "a PyEPO optModel subclass, built lazily; PyEPO validates its own arguments",
}
