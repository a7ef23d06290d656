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
    with pytest.raises(ValueError, match="Input 'y' of loss_oracle.*same number of rows"):
        loss_oracle(model, X, y[:5])
    with pytest.raises(ValueError, match="Input 'indices' of loss_oracle must lie"):
        loss_oracle(model, X, y)(np.array([40]))
    with pytest.raises(ValueError, match="'params'.*among"):
        gradient_norm_oracle(model, X, y, params=["nope"])


@pytest.mark.parametrize("factory", [loss_oracle, gradient_norm_oracle])
def test_float64_data_are_cast_to_a_float32_model(setup, factory):
    """torch's 'mat1 and mat2 must have the same dtype' before."""
    model, X, y = setup
    idx = np.array([2, 7, 11])
    got = factory(model, X.double().numpy(), y.numpy())(idx)
    np.testing.assert_allclose(got, factory(model, X, y)(idx), rtol=1e-6)


def test_a_mean_reduced_loss_is_refused(setup):
    """reduction='mean' used to give one number for a batch of queries."""
    model, X, y = setup
    mean = lambda out, t: torch.nn.functional.cross_entropy(out, t)  # noqa: E731
    with pytest.raises(ValueError, match=r"Input 'loss_fn' of loss_oracle returned \(\) .*'none'"):
        loss_oracle(model, X, y, loss_fn=mean)(np.arange(5))


def test_indices_with_fractions_are_refused_whole_floats_kept(setup):
    model, X, y = setup
    oracle = loss_oracle(model, X, y)
    with pytest.raises(TypeError, match="Input 'indices' of loss_oracle must hold integer"):
        oracle(np.array([1.5, 2.0]))
    np.testing.assert_array_equal(oracle(np.array([1.0, 2.0])), oracle(np.array([1, 2])))
    with pytest.raises(ValueError, match="Input 'indices' of loss_oracle must lie in"):
        oracle(np.array([-1]))


@pytest.mark.parametrize(
    ("params", "exc"), [("first", ValueError), ("al", ValueError), (3, TypeError), ([0], TypeError)]
)
def test_params_accepts_only_the_documented_forms(setup, params, exc):
    """'first' used to be read letter by letter (f, i, r, s, t)."""
    model, X, y = setup
    with pytest.raises(exc, match="^The 'params' parameter of gradient_norm_oracle must be"):
        gradient_norm_oracle(model, X, y, params=params)
    tup = gradient_norm_oracle(model, X, y, params=("2.weight", "2.bias"))(np.array([1]))
    np.testing.assert_allclose(tup, gradient_norm_oracle(model, X, y, params="last")(np.array([1])))


def test_complex_and_non_finite_data_are_refused(setup):
    model, X, y = setup
    with pytest.raises(TypeError, match="Input 'X' of loss_oracle must be real"):
        loss_oracle(model, X.numpy() * (1 + 1j), y)
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="Input 'X' of gradient_norm_oracle contains NaN"):
        gradient_norm_oracle(model, bad, y)
    with pytest.raises(TypeError, match="The 'model' parameter of loss_oracle must be"):
        loss_oracle(lambda x: x, X, y)
