"""relaxed_topk: the successive-softmax recursion (eqs. 3-5) and its known properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from subsel.ops import relaxed_topk

settings.register_profile("subsel", max_examples=60, deadline=None)
settings.load_profile("subsel")


def reference(scores, k, tau):
    """The recursion written literally in float64 numpy (no log-space tricks)."""
    alpha = np.asarray(scores, dtype=float)
    total = np.zeros_like(alpha)
    for _ in range(k):
        e = np.exp((alpha - alpha.max()) / tau)
        a = e / e.sum()
        total += a
        alpha = alpha + np.log(1 - a)
    return total


def scores_strategy(min_n=2, max_n=25):
    return st.integers(min_n, max_n).flatmap(
        lambda n: arrays(np.float64, n, elements=st.floats(-20, 20, allow_nan=False, width=64))
    )


def test_matches_the_literal_recursion():
    rng = np.random.default_rng(0)
    for tau in (0.2, 1.0, 7.0):
        x = rng.normal(size=12)
        got = relaxed_topk(torch.tensor(x), 5, tau=tau).numpy()
        np.testing.assert_allclose(got, reference(x, 5, tau), rtol=1e-12, atol=1e-12)


def test_paper_counterexample_entries_exceed_one_below_tau_one():
    """Scores [1, 2], k = 2, tau = 0.4: the output is [1.05, 0.95] (order reversed, entry > 1)."""
    out = relaxed_topk(torch.tensor([1.0, 2.0], dtype=torch.float64), 2, tau=0.4)
    np.testing.assert_allclose(out.numpy(), reference([1.0, 2.0], 2, 0.4), rtol=1e-12)
    assert out[0] > 1.0 > out[1]
    assert float(out[0]) == pytest.approx(1.0529, abs=1e-4)


def test_entries_can_exceed_one_at_tau_one_when_a_score_dominates():
    out = relaxed_topk(torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64), 2, tau=1.0)
    np.testing.assert_allclose(out.numpy(), [1.5, 0.25, 0.25], atol=1e-12)


@given(scores_strategy(), st.floats(1.0, 20.0), st.data())
def test_theorem1_order_is_preserved_for_tau_at_least_one(scores, tau, data):
    k = data.draw(st.integers(1, len(scores)))
    out = relaxed_topk(torch.tensor(scores), k, tau=tau).numpy()
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(out[order]) >= -1e-9)


@given(scores_strategy(), st.floats(0.05, 50.0), st.data())
def test_output_sums_to_k_and_stays_in_range(scores, tau, data):
    k = data.draw(st.integers(1, len(scores)))
    out = relaxed_topk(torch.tensor(scores), k, tau=tau)
    assert float(out.sum()) == pytest.approx(k, abs=1e-9)
    assert bool((out >= 0).all()) and bool((out <= k + 1e-9).all())


@given(st.integers(2, 20), st.data())
def test_converges_to_hard_topk_as_tau_goes_to_zero(n, data):
    # distinct scores with gaps of at least 0.05
    gaps = data.draw(arrays(np.float64, n, elements=st.floats(0.05, 3.0)))
    scores = np.random.default_rng(n).permutation(np.cumsum(gaps))
    k = data.draw(st.integers(1, n))
    hard = np.zeros(n)
    hard[np.argsort(-scores)[:k]] = 1
    # The error is not monotone in tau (mass leaked at early steps shifts later ones), but it
    # vanishes once tau is well below the smallest gap.
    for tau in (1e-3, 1e-4):
        out = relaxed_topk(torch.tensor(scores), k, tau=tau).numpy()
        assert np.max(np.abs(out - hard)) < 1e-9


def test_steps_are_relaxed_one_hots_in_descending_order():
    scores = torch.tensor([0.3, 2.0, -1.0, 1.1, 0.9], dtype=torch.float64)
    a, steps = relaxed_topk(scores, 3, tau=0.01, return_steps=True)
    assert steps.shape == (3, 5)
    assert torch.allclose(steps.sum(-1), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(steps.sum(0), a)
    assert steps.argmax(-1).tolist() == [1, 3, 4]


def test_steps_shape_with_batch_and_dim():
    x = torch.randn(5, 2, 3)
    a, steps = relaxed_topk(x, 4, dim=0, return_steps=True)
    assert a.shape == (5, 2, 3) and steps.shape == (4, 5, 2, 3)
    _, steps_last = relaxed_topk(x.movedim(0, -1), 4, return_steps=True)
    assert steps_last.shape == (2, 3, 4, 5)
    assert torch.allclose(steps_last, steps.permute(2, 3, 0, 1), atol=1e-6)


def test_per_row_k_zeroes_steps_past_each_rows_k():
    x = torch.randn(3, 6, dtype=torch.float64)
    ks = torch.tensor([1, 4, 2])
    a, steps = relaxed_topk(x, ks, return_steps=True)
    assert steps.shape == (3, 4, 6)
    assert torch.allclose(steps.sum(-1), (torch.arange(4) < ks[:, None]).double())
    assert torch.allclose(a.sum(-1), ks.double())


def test_hard_is_exact_forward_and_relaxed_backward():
    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 9, dtype=torch.float64)
    hard = relaxed_topk(x, 3, tau=0.7, hard=True)
    mask = torch.zeros_like(x).scatter_(-1, x.detach().topk(3).indices, 1.0)
    assert torch.equal(hard.detach(), mask)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), x)
    (g_soft,) = torch.autograd.grad((relaxed_topk(x, 3, tau=0.7) * w).sum(), x)
    assert torch.allclose(g_hard, g_soft)
    _, steps = relaxed_topk(x, 3, tau=0.7, hard=True, return_steps=True)
    assert torch.equal(steps.detach().argmax(-1), x.detach().topk(3).indices)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "scores,tau",
    [
        ([1e4, 0.0, 0.0, -1e4], 1.0),
        ([1e4, 0.0, 0.0, -1e4], 1e-6),
        ([50.0, 49.0, -3.0, 0.0], 1e-3),
        ([0.0] * 6, 1e-4),
        ([3e30, 0.0, -3e30, 1.0], 1e-3),
    ],
)
def test_extreme_inputs_give_finite_values_and_gradients(dtype, scores, tau):
    x = torch.tensor(scores, dtype=dtype, requires_grad=True)
    out = relaxed_topk(x, 3, tau=tau)
    assert bool(torch.isfinite(out).all())
    assert float(out.detach().sum()) == pytest.approx(3.0, rel=1e-4)
    out.mul(torch.arange(len(scores), dtype=dtype)).sum().backward()
    assert bool(torch.isfinite(x.grad).all())


def test_large_gap_still_moves_mass_to_the_next_items():
    """A naive clamp of log(1 - a) at a constant would keep the top item on top; ours does not."""
    out = relaxed_topk(torch.tensor([1000.0, 0.0, -1.0]), 2, tau=0.5)
    assert out[0] == pytest.approx(1.0, abs=1e-6)
    assert out[1] == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-5)


def test_neg_inf_marks_items_never_chosen():
    x = torch.tensor([[0.5, float("-inf"), 1.0, 0.2]], requires_grad=True)
    out = relaxed_topk(x, 3, tau=0.5)
    assert float(out.detach()[0, 1]) == 0.0 and float(out.detach().sum()) == pytest.approx(
        3.0, abs=1e-5
    )
    out.sum().backward()
    assert bool(torch.isfinite(x.grad).all())


def test_k_equal_n_gives_all_ones_limit():
    x = torch.tensor([0.3, -1.2, 2.5, 0.9, -0.1, 1.7, -2.0], dtype=torch.float64)
    assert torch.allclose(relaxed_topk(x, 7, tau=1e-3), torch.ones(7, dtype=torch.float64))


@pytest.mark.parametrize("return_steps", [False, True])
def test_lean_and_eager_backends_agree_in_value_and_gradient(return_steps):
    x = torch.randn(4, 30, dtype=torch.float64) * 5
    ks = torch.tensor([1, 5, 30, 12])
    w = torch.randn(4, 30, dtype=torch.float64)
    results = []
    for backend in ("lean", "eager"):
        xi = x.clone().requires_grad_(True)
        out = relaxed_topk(xi, ks, tau=0.3, backend=backend, return_steps=return_steps)
        loss = (out[0] * w).sum() + out[1].square().sum() if return_steps else (out * w).sum()
        loss.backward()
        results.append((out[0] if return_steps else out, xi.grad))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-12)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-10)


def test_eager_backend_supports_second_derivatives():
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(
        lambda z: relaxed_topk(z, 2, tau=0.8, backend="eager"), (x,)
    )
    out = relaxed_topk(x, 2, tau=0.8, backend="lean")
    (g,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_bad_backend():
    with pytest.raises(ValueError, match="'backend'"):
        relaxed_topk(torch.randn(4), 2, backend="triton")


def test_error_message_format_is_exact():
    with pytest.raises(ValueError) as info:
        relaxed_topk(torch.randn(10), 12)
    assert str(info.value) == (
        "The 'k' parameter of relaxed_topk must be an int in [1, n] (n=10). Got 12 instead."
    )


@pytest.mark.slow
def test_compiled_backend_matches_eager():
    """Compiles for real (about 40 s on a CPU): dynamo must report a compiled frame."""
    from torch._dynamo.utils import counters

    counters.clear()
    x = torch.randn(3, 50, requires_grad=True)
    eager = relaxed_topk(x, 4, tau=0.5, backend="eager")
    compiled = relaxed_topk(x, 4, tau=0.5, backend="compile")
    assert counters["frames"]["ok"] >= 1 and counters["stats"]["unique_graphs"] >= 1
    assert torch.allclose(eager, compiled, atol=1e-5)
    (ge,) = torch.autograd.grad(eager.square().sum(), x)
    (gc,) = torch.autograd.grad(compiled.square().sum(), x)
    assert torch.allclose(ge, gc, atol=1e-5)


def _failing_compile():
    def kernel(*args):
        raise RuntimeError("no compiler here")

    return kernel


def test_explicit_compile_that_fails_raises(monkeypatch):
    from subsel.ops import topk

    monkeypatch.setattr(topk, "_compiled_kernel", _failing_compile)
    with pytest.raises(RuntimeError, match=r"backend='compile'\) could not compile"):
        relaxed_topk(torch.randn(2, 10), 3, backend="compile")


def test_auto_falls_back_from_a_failed_compile_with_a_warning(monkeypatch):
    from subsel.ops import topk

    monkeypatch.setattr(topk, "_compiled_kernel", _failing_compile)
    monkeypatch.setattr(topk, "_COMPILE_FAILED", False)
    x = torch.randn(2, 10)
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    with pytest.warns(RuntimeWarning, match="falling back"):
        out = relaxed_topk(x, 3, backend="auto")
    monkeypatch.undo()
    assert torch.allclose(out, relaxed_topk(x, 3, backend="lean"))


@pytest.mark.parametrize(
    "kw", [{"hard": "yes"}, {"hard": 1}, {"return_steps": 1}, {"return_steps": None}]
)
def test_flags_accept_only_bools(kw):
    with pytest.raises(
        TypeError, match=f"'{next(iter(kw))}' parameter of relaxed_topk must be a bool"
    ):
        relaxed_topk(torch.randn(5), 2, **kw)
