from __future__ import annotations

import numpy as np
import pytest
import torch

from subsel.selection import SensitivitySampling
from subsel.selection.oracles import gradient_norm_oracle, loss_oracle


@pytest.fixture()
def setup():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 5, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    return model, X, y


def test_loss_oracle_matches_direct_evaluation(setup):
    model, X, y = setup
    idx = np.array([3, 0, 17, 39, 3])
    got = loss_oracle(model, X, y, batch_size=2)(idx)
    want = torch.nn.functional.cross_entropy(model(X[idx]), y[idx], reduction="none")
    np.testing.assert_allclose(got, want.detach().double().numpy(), rtol=1e-6)
    assert model.training  # mode restored


@pytest.mark.parametrize("params", ["all", "last"])
def test_gradient_norm_matches_a_loop_of_backward_passes(setup, params):
    model, X, y = setup
    idx = np.array([5, 1, 22])
    got = gradient_norm_oracle(model, X, y, batch_size=2, params=params)(idx)
    chosen = list(model.parameters()) if params == "all" else list(model[2].parameters())
    want = []
    for i in idx:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X[i : i + 1]), y[i : i + 1]).backward()
        want.append(sum(float(p.grad.pow(2).sum()) for p in chosen))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_oracles_plug_into_sensitivity_sampling(setup):
    model, X, y = setup
    oracle = loss_oracle(model, X, y)
    sel = SensitivitySampling(n_clusters=4, budget=10, seed=0).select(X.numpy(), oracle)
    assert sel.n_queries == 4 and len(sel) == 10


def test_bad_input(setup):
    model, X, y = setup
    with pytest.raises(ValueError, match="same number of rows"):
        loss_oracle(model, X, y[:5])
    with pytest.raises(ValueError, match="indices must lie"):
        loss_oracle(model, X, y)(np.array([40]))
    with pytest.raises(ValueError, match="unknown parameter"):
        gradient_norm_oracle(model, X, y, params=["nope"])
