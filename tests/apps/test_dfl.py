"""Decision-focused knapsack learning (subsel.apps.dfl): checked against brute force on tiny
instances (every subset enumerated), finite differences and PyEPO's own loss plumbing."""

from __future__ import annotations

import functools
import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch

from subsel import ops
from subsel.apps import dfl

# The pure-torch DP backend: these instances are tiny, and it spares this file the numba JIT
# compilation (seconds per kernel); the numba path runs in the benchmark's --quick test.
BACKEND = "torch"
normalized_regret = functools.partial(dfl.normalized_regret, backend=BACKEND)
fy_loss = functools.partial(dfl.fy_loss, backend=BACKEND)
regret_loss = functools.partial(dfl.regret_loss, backend=BACKEND)
spo_loss = functools.partial(dfl.spo_loss, backend=BACKEND)
train_knapsack_predictor = functools.partial(dfl.train_knapsack_predictor, backend=BACKEND)
knapsack = functools.partial(ops.knapsack, backend=BACKEND)
soft_knapsack = functools.partial(ops.soft_knapsack, backend=BACKEND)


# ----------------------------------------------------------------------------- references
def subsets(n: int) -> np.ndarray:
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)


def brute_solution(c: np.ndarray, w: np.ndarray, cap: float) -> np.ndarray:
    """The best feasible subset of one instance by enumeration (2^n subsets)."""
    S = subsets(len(c))
    feas = S[S @ w <= cap]
    return feas[np.argmax(feas @ c)]


def brute_regret(pred, true, w, caps) -> float:
    num = den = 0.0
    for p, c, cap in zip(pred, true, caps, strict=True):
        z = c @ brute_solution(c, w, cap)
        num += z - c @ brute_solution(p, w, cap)
        den += z
    return num / den


def brute_value_and_marginals(theta, w, cap, tau):
    """tau log sum_S exp(<theta, S>/tau) over feasible S, and the Gibbs marginals."""
    S = subsets(len(theta))
    feas = S[S @ w <= cap]
    s = feas @ theta / tau
    value = tau * (np.log(np.exp(s - s.max()).sum()) + s.max())
    p = np.exp(s - s.max())
    p /= p.sum()
    return value, p @ feas


@pytest.fixture
def tiny():
    """m = 12 instances of n = 7 items, integer weights, continuous values (no ties)."""
    rng = np.random.default_rng(0)
    w = rng.integers(1, 6, size=7)
    caps = rng.integers(4, 14, size=12)
    true = rng.uniform(0.5, 5.0, size=(12, 7))
    pred = true + rng.normal(0, 1.5, size=(12, 7))
    return w, caps, true, pred


# ----------------------------------------------------------------------------- regret
def test_regret_is_zero_for_perfect_and_rescaled_predictions(tiny):
    w, caps, true, _ = tiny
    assert normalized_regret(true, true, w, caps) == 0.0
    # a positive rescaling has the same optimal decisions
    assert normalized_regret(3.0 * true, true, w, caps) == pytest.approx(0.0, abs=1e-12)


def test_regret_matches_brute_force(tiny):
    w, caps, true, pred = tiny
    ours = normalized_regret(pred, true, w, caps)
    ref = brute_regret(pred, true, w, caps)
    assert ours > 0.01  # the noisy predictions do cost something
    assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12)
    per = normalized_regret(torch.as_tensor(pred), torch.as_tensor(true), w, caps, reduction="none")
    assert per.shape == (12,) and (per >= -1e-12).all()


def test_regret_with_one_capacity_and_resolution(tiny):
    w, _, true, pred = tiny
    ref = brute_regret(pred, true, w, [9] * len(true))
    assert normalized_regret(pred, true, w, 9) == pytest.approx(ref, abs=1e-12)
    # weights in units of 0.01: the same problem
    assert normalized_regret(pred, true, w / 100, 0.09, resolution=0.01) == pytest.approx(
        ref, abs=1e-12
    )


# ----------------------------------------------------------------------------- losses
@pytest.mark.parametrize("tau", [0.3, 2.0])
def test_fy_loss_value_matches_brute_force(tiny, tau):
    w, caps, true, pred = tiny
    y = knapsack(torch.as_tensor(true), torch.as_tensor(w), torch.as_tensor(caps))
    loss = fy_loss(torch.as_tensor(pred), y, w, caps, tau=tau)
    for i in range(len(pred)):
        value, _ = brute_value_and_marginals(pred[i], w, caps[i], tau)
        assert float(loss[i]) == pytest.approx(value - pred[i] @ y[i].numpy(), rel=1e-9)
    assert (loss >= 0).all()


@pytest.mark.parametrize("regularizer", ["shannon", "gini", "tsallis"])
def test_fy_gradient_is_soft_knapsack_minus_target(tiny, regularizer):
    w, caps, true, pred = tiny
    theta = torch.as_tensor(pred).requires_grad_(True)
    y = knapsack(torch.as_tensor(true), torch.as_tensor(w), torch.as_tensor(caps))
    fy_loss(theta, y, w, caps, tau=0.7, regularizer=regularizer).sum().backward()
    soft = soft_knapsack(
        theta.detach(), torch.as_tensor(w), torch.as_tensor(caps), tau=0.7, regularizer=regularizer
    )
    torch.testing.assert_close(theta.grad, soft - y, rtol=1e-10, atol=1e-10)
    if regularizer == "shannon":  # and both equal the Gibbs marginals minus y
        for i in range(len(pred)):
            _, marg = brute_value_and_marginals(pred[i], w, caps[i], 0.7)
            np.testing.assert_allclose(theta.grad[i].numpy(), marg - y[i].numpy(), atol=1e-9)


def test_fy_and_regret_losses_pass_gradcheck(tiny):
    """Central finite differences in float64 (tau = 1 keeps the losses smooth at this scale)."""
    w, caps, true, pred = tiny
    theta = torch.as_tensor(pred[:4]).requires_grad_(True)
    c = torch.as_tensor(true[:4])
    y = knapsack(c, torch.as_tensor(w), torch.as_tensor(caps[:4]))
    assert torch.autograd.gradcheck(lambda t: fy_loss(t, y, w, caps[:4]), (theta,))
    assert torch.autograd.gradcheck(lambda t: regret_loss(t, c, w, caps[:4]), (theta,))
    assert torch.autograd.gradcheck(lambda t: spo_loss(t, c, w, caps[:4]), (theta,))


def test_spo_loss_matches_brute_force_and_tends_to_spo_plus(tiny):
    """V_tau(2 theta - c) - <2 theta - c, x*(c)>; at tau -> 0 the SPO+ loss
    max_S <2 theta - c, S> - 2 <theta, x*(c)> + z*(c) (Elmachtoub & Grigas)."""
    w, caps, true, pred = tiny
    loss = spo_loss(torch.as_tensor(pred), true, w, caps, tau=0.5)
    cold = spo_loss(torch.as_tensor(pred), true, w, caps, tau=1e-4)
    S = subsets(7)
    for i in range(len(pred)):
        y = brute_solution(true[i], w, caps[i])
        point = 2 * pred[i] - true[i]
        value, _ = brute_value_and_marginals(point, w, caps[i], 0.5)
        assert float(loss[i]) == pytest.approx(value - point @ y, rel=1e-9)
        feas = S[S @ w <= caps[i]]
        spo_plus = (feas @ point).max() - 2 * pred[i] @ y + true[i] @ y
        assert float(cold[i]) == pytest.approx(spo_plus, abs=1e-3)  # tau * log(#sets) <= 5e-4


def test_regret_loss_matches_brute_force_and_tends_to_regret(tiny):
    w, caps, true, pred = tiny
    num = den = 0.0
    for i in range(len(pred)):
        _, marg = brute_value_and_marginals(pred[i], w, caps[i], 0.5)
        z = true[i] @ brute_solution(true[i], w, caps[i])
        num += z - true[i] @ marg
        den += z
    loss = regret_loss(torch.as_tensor(pred), true, w, caps, tau=0.5)
    assert float(loss) == pytest.approx(num / den, rel=1e-9)
    cold = regret_loss(torch.as_tensor(pred), true, w, caps, tau=1e-3)
    assert float(cold) == pytest.approx(normalized_regret(pred, true, w, caps), abs=1e-6)


# ----------------------------------------------------------------------------- training
def synthetic(m=64, p=3, n=6, seed=0):
    """Item values linear in the features plus noise; weights 1..4, capacity 6."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, p))
    B = rng.normal(size=(p, n))
    C = X @ B + 3.0 + 0.1 * rng.normal(size=(m, n))
    w = rng.integers(1, 5, size=n)
    return X, C, w, 6


@pytest.mark.parametrize("loss", ["fy", "spo", "regret"])
def test_training_lowers_loss_and_regret(loss):
    X, C, w, cap = synthetic()
    # lr = 1e-12: Adam's steps are ~lr, so this is the untrained initial model of seed 3
    init = train_knapsack_predictor(X, C, w, cap, loss=loss, epochs=1, lr=1e-12, seed=3)
    model = train_knapsack_predictor(X, C, w, cap, loss=loss, epochs=20, lr=0.05, seed=3)
    assert model.history[-1] < 0.5 * model.history[0]
    with torch.no_grad():
        r0 = normalized_regret(init(torch.as_tensor(X)), C, w, cap)
        r1 = normalized_regret(model(torch.as_tensor(X)), C, w, cap)
    assert r0 > 0.3 and r1 < 0.2 * r0  # seen: r0 = 0.55, r1 <= 0.016


def test_same_seed_same_model_and_callback():
    X, C, w, cap = synthetic(m=20)
    seen = []
    a = train_knapsack_predictor(X, C, w, cap, epochs=3, seed=7, batch_size=8)
    b = train_knapsack_predictor(
        X, C, w, cap, epochs=3, seed=7, batch_size=8, callback=lambda e, m, v: seen.append(e)
    )
    c = train_knapsack_predictor(X, C, w, cap, epochs=3, seed=8, batch_size=8)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert a.history == b.history and seen == [0, 1, 2]
    assert not torch.equal(a.weight, c.weight)
    assert isinstance(a, torch.nn.Linear) and a.weight.shape == (6, 3)


def test_mse_and_callable_losses():
    X, C, w, cap = synthetic(m=20)
    mse = train_knapsack_predictor(X, C, w, cap, loss="mse", epochs=2, seed=0)
    same = train_knapsack_predictor(
        X, C, w, cap, loss=lambda pred, c, y: ((pred - c) ** 2).mean(), epochs=2, seed=0
    )
    assert torch.equal(mse.weight, same.weight)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument(tiny):
    w, caps, true, pred = tiny
    X, C, w6, cap = synthetic(m=10)
    with pytest.raises(ValueError, match="'pred_values'.*shape"):
        normalized_regret(pred[:, :5], true, w, caps)
    with pytest.raises(ValueError, match="'weights'.*shape"):
        normalized_regret(pred, true, w[:5], caps)
    with pytest.raises(ValueError, match="'capacity'.*negative"):
        normalized_regret(pred, true, w, -3)
    with pytest.raises(ValueError, match="'weights'.*non-integer.*resolution"):
        normalized_regret(pred, true, w + 0.5, caps)
    with pytest.raises(ValueError, match="'weights'.*negative"):
        normalized_regret(pred, true, -w, caps)
    with pytest.raises(ValueError, match="'true_values'.*NaN"):
        normalized_regret(pred, np.where(true > 4, np.nan, true), w, caps)
    with pytest.raises(ValueError, match="'C'.*one row per row of 'X'"):
        train_knapsack_predictor(X, C[:5], w6, cap)
    with pytest.raises(ValueError, match="The 'loss' parameter of train_knapsack_predictor"):
        train_knapsack_predictor(X, C, w6, cap, loss="hinge")
    with pytest.raises(ValueError, match="'regularizer'"):
        train_knapsack_predictor(X, C, w6, cap, regularizer="entropy")
    with pytest.raises(ValueError, match="'tau'"):
        train_knapsack_predictor(X, C, w6, cap, tau=0.0)
    with pytest.raises(ValueError, match="'epochs'"):
        train_knapsack_predictor(X, C, w6, cap, epochs=0)
    with pytest.raises(ValueError, match="'capacity'"):
        train_knapsack_predictor(X, C, w6, -1)
    with pytest.raises(ValueError, match="'y_true'.*shape"):
        fy_loss(torch.as_tensor(pred), torch.zeros(12, 6), w, caps)
    with pytest.raises(TypeError, match="'X'"):
        train_knapsack_predictor("features", C, w6, cap)


# ----------------------------------------------------------------------------- PyEPO
def test_apps_imports_without_pyepo_and_explains_the_extra():
    code = (
        "import sys; sys.modules['pyepo'] = None\n"  # makes `import pyepo` fail
        "import subsel.apps as a\n"
        "assert 'pyepo' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n    a.KnapsackDP\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "bench" in out.stdout and "pyepo" in out.stdout


def test_pyepo_adapter_matches_brute_force(tiny):
    pytest.importorskip("pyepo")
    from pyepo import EPO
    from pyepo.func import SPOPlus

    from subsel.apps import KnapsackDP

    w, _, true, pred = tiny
    model = KnapsackDP(w / 100, 0.11, resolution=0.01, backend=BACKEND)  # the real-weight path
    assert model.modelSense == EPO.MAXIMIZE and model.num_cost == 7
    for c in np.vstack([true, pred]):
        model.setObj(c)
        sol, obj = model.solve()
        ref = brute_solution(c, w, 11)
        np.testing.assert_array_equal(sol, ref)
        assert obj == pytest.approx(c @ ref)
    X, objs = model.solve_batch(pred)
    np.testing.assert_array_equal(X[3], brute_solution(pred[3], w, 11))
    # PyEPO's SPO+ runs on it: loss >= 0 and a finite gradient
    spo = SPOPlus(model, processes=1)
    theta = torch.as_tensor(pred, dtype=torch.float32).requires_grad_(True)
    c = torch.as_tensor(true, dtype=torch.float32)
    y = torch.as_tensor(np.array([brute_solution(t, w, 11) for t in true]), dtype=torch.float32)
    loss = spo(theta, c, y, (c * y).sum(-1, keepdim=True))
    loss.backward()
    assert float(loss.detach()) >= 0 and torch.isfinite(theta.grad).all()
    with pytest.raises(ValueError, match="'weights'.*one knapsack constraint"):
        KnapsackDP(np.ones((2, 7)), 3)
