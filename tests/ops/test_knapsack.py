"""Exact, smoothed and stochastic DP knapsack / top-k (issue 11) against brute force and theory."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from subsel.ops import _dp_kernels as K
from subsel.ops import (
    knapsack,
    knapsack_sample,
    knapsack_value,
    soft_knapsack,
    soft_topk,
    topk_sample,
)

REGS = ("shannon", "gini", "tsallis")
D64 = torch.float64


def _sets(n):
    return torch.tensor(list(itertools.product([0, 1], repeat=n)), dtype=D64)


def _feasible(n, w=None, cap=None, k=None, at_most=False):
    S = _sets(n)
    if k is not None:
        size = S.sum(1)
        return S[size <= k] if at_most else S[size == k]
    return S[S @ torch.as_tensor(w, dtype=D64) <= cap]


def _gibbs(theta, S, tau):
    """(log partition * tau, marginals, probabilities) of p(S) ~ exp(<theta, S> / tau)."""
    s = S @ theta / tau
    p = torch.softmax(s, 0)
    return tau * torch.logsumexp(s, 0), p @ S, p


def _instance(seed, n, max_w=4):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, generator=g, dtype=D64)
    w = torch.randint(0, max_w + 1, (n,), generator=g)
    cap = int(torch.randint(0, int(w.sum()) + 1, (), generator=g))
    return theta, w, cap


# ---------------------------------------------------------------------------------------------
# exact DP
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_exact_knapsack_matches_brute_force(seed):
    theta, w, cap = _instance(seed, 9)
    S = _feasible(9, w, cap)
    best = (S @ theta).max()
    mask = knapsack(theta, w, cap)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert float(mask @ w.double()) <= cap
    assert float(mask @ theta) == pytest.approx(float(best), abs=1e-12)


def test_exact_knapsack_batched_with_per_row_capacity_equals_row_by_row():
    g = torch.Generator().manual_seed(1)
    theta = torch.randn(2, 3, 8, generator=g, dtype=D64)
    w = torch.randint(0, 5, (2, 3, 8), generator=g)
    cap = torch.tensor([[0, 3, 7], [12, 40, 5]])
    out = knapsack(theta, w, cap)
    for i, j in itertools.product(range(2), range(3)):
        assert torch.equal(out[i, j], knapsack(theta[i, j], w[i, j], int(cap[i, j])))


def test_capacity_beyond_total_weight_takes_every_positive_item():
    theta = torch.tensor([1.0, -2.0, 3.0])
    assert knapsack(theta, [5, 5, 5], 10**9).tolist() == [1.0, 0.0, 1.0]


# ---------------------------------------------------------------------------------------------
# Shannon = Gibbs marginals
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_shannon_knapsack_is_gibbs_marginals(seed, tau):
    n = 12 if seed == 0 else 8
    theta, w, cap = _instance(seed, n)
    logz, marg, _ = _gibbs(theta, _feasible(n, w, cap), tau)
    y = soft_knapsack(theta, w, cap, tau=tau)
    torch.testing.assert_close(y, marg, rtol=0, atol=1e-10)
    v = knapsack_value(theta, w, cap, tau=tau)
    assert float(v) == pytest.approx(float(logz), abs=1e-10)


@pytest.mark.parametrize("at_most", [False, True])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_shannon_topk_is_gibbs_marginals(k, at_most):
    n = 12
    theta = torch.randn(n, generator=torch.Generator().manual_seed(k), dtype=D64)
    _, marg, _ = _gibbs(theta, _feasible(n, k=k, at_most=at_most), 0.7)
    y = soft_topk(theta, k, tau=0.7, at_most=at_most)
    torch.testing.assert_close(y, marg, rtol=0, atol=1e-10)
    if not at_most:
        assert float(y.sum()) == pytest.approx(k, abs=1e-10)


def test_per_row_k():
    theta = torch.randn(3, 7, generator=torch.Generator().manual_seed(0), dtype=D64)
    k = torch.tensor([1, 4, 7])
    y = soft_topk(theta, k, tau=0.5)
    torch.testing.assert_close(y.sum(-1), k.double())
    for r in range(3):
        torch.testing.assert_close(y[r], soft_topk(theta[r], int(k[r]), tau=0.5))


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
def _check_frequencies(samples, S, p):
    """Every feasible set's frequency within 5 standard errors (+1/N) of its probability."""
    N = samples.shape[0]
    keys = {tuple(s.tolist()): i for i, s in enumerate(S.long())}
    counts = torch.zeros(len(S), dtype=D64)
    for s in samples.long():
        idx = keys.get(tuple(s.tolist()))
        assert idx is not None, f"infeasible sample {s.tolist()}"
        counts[idx] += 1
    freq = counts / N
    tol = 5 * torch.sqrt(p * (1 - p) / N) + 1.0 / N
    assert bool(((freq - p).abs() <= tol).all()), (freq, p)


def test_knapsack_sample_matches_the_gibbs_distribution():
    theta, w, cap = _instance(3, 6, max_w=3)
    S = _feasible(6, w, cap)
    _, _, p = _gibbs(theta, S, 0.8)
    g = torch.Generator().manual_seed(0)
    samples = knapsack_sample(theta, w, cap, tau=0.8, num_samples=20000, generator=g)
    _check_frequencies(samples, S, p)


def test_topk_sample_matches_the_gibbs_distribution_and_is_reproducible():
    theta = torch.randn(6, generator=torch.Generator().manual_seed(5), dtype=D64)
    S = _feasible(6, k=3)
    _, _, p = _gibbs(theta, S, 0.5)
    s1 = topk_sample(
        theta, 3, tau=0.5, num_samples=20000, generator=torch.Generator().manual_seed(1)
    )
    _check_frequencies(s1, S, p)
    s2 = topk_sample(
        theta, 3, tau=0.5, num_samples=20000, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(s1, s2)


def test_sample_mean_is_the_soft_selection_for_every_regularizer():
    theta, w, cap = _instance(7, 8)
    for reg in REGS:
        y = soft_knapsack(theta, w, cap, tau=0.5, regularizer=reg)
        s = knapsack_sample(
            theta, w, cap, tau=0.5, regularizer=reg, num_samples=20000,
            generator=torch.Generator().manual_seed(2),
        )  # fmt: skip
        assert bool(((s * w.double()).sum(-1) <= cap).all())
        se = torch.sqrt(y * (1 - y) / 20000)
        assert bool(((s.mean(0) - y).abs() <= 5 * se + 1e-4).all()), reg


def test_sample_carries_the_soft_gradient():
    theta = torch.randn(5, dtype=D64, requires_grad=True)
    s = knapsack_sample(theta, [1, 2, 1, 2, 1], 3, num_samples=4)
    (s.sum(0) @ torch.arange(5.0, dtype=D64)).backward()
    g_ref = torch.autograd.grad(
        soft_knapsack(theta, [1, 2, 1, 2, 1], 3) @ (4 * torch.arange(5.0, dtype=D64)), theta
    )[0]
    torch.testing.assert_close(theta.grad, g_ref)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("kind", ["knapsack", "topk", "at_most"])
@pytest.mark.parametrize("checkpoint", [False, 2])
def test_gradcheck(reg, kind, checkpoint):
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(2, 7, generator=g, dtype=D64, requires_grad=True)
    if kind == "knapsack":
        w = torch.randint(0, 4, (2, 7), generator=g)

        def f(x):
            return soft_knapsack(
                x, w, torch.tensor([5, 8]), tau=0.8, regularizer=reg, checkpoint=checkpoint
            )
    else:

        def f(x):
            return soft_topk(
                x, 3, tau=0.8, regularizer=reg, at_most=kind == "at_most", checkpoint=checkpoint
            )

    assert gradcheck(f, (theta,), eps=1e-6, atol=1e-6)


def test_value_gradient_is_the_soft_selection():
    theta, w, cap = _instance(2, 7)
    theta.requires_grad_(True)
    for reg in REGS:
        (g,) = torch.autograd.grad(knapsack_value(theta, w, cap, tau=0.6, regularizer=reg), theta)
        torch.testing.assert_close(g, soft_knapsack(theta, w, cap, tau=0.6, regularizer=reg))
        assert gradcheck(
            lambda x, reg=reg: knapsack_value(x, w, cap, tau=0.6, regularizer=reg), (theta,)
        )


@pytest.mark.parametrize("reg", [0, 1, 2])
def test_checkpointed_sweeps_equal_the_full_table(reg):
    g = torch.Generator().manual_seed(3)
    B, n = 3, 23
    theta = torch.randn(B, n, generator=g, dtype=D64)
    w = torch.randint(0, 4, (B, n), generator=g)
    cap = torch.tensor([0, 9, 17])
    u = torch.rand(5, B, n, generator=g, dtype=D64)
    gy = torch.randn(B, n, generator=g, dtype=D64)
    ref = None
    for seg in (1, 5, 23):
        kw = dict(exact_k=False, reg=reg, tau=0.4, seg=seg, width=18)
        v, y, ck = K.forward(theta, w, cap, **kw)
        assert ck.shape == (B, -(-n // seg), 18)
        out = (v, y, K.hvp(theta, w, cap, ck, gy, **kw), K.sample(theta, w, cap, ck, u, **kw))
        if ref is None:
            ref = out
        for a, b in zip(out, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_hard_is_exact_forward_and_soft_backward():
    theta = torch.randn(2, 6, generator=torch.Generator().manual_seed(4), dtype=D64)
    theta.requires_grad_(True)
    yh = soft_topk(theta, 2, tau=0.5, hard=True)
    torch.testing.assert_close(yh.detach(), knapsack(theta.detach(), torch.ones(6), 2))
    gh = torch.autograd.grad(yh[:, 0].sum(), theta)[0]
    gs = torch.autograd.grad(soft_topk(theta, 2, tau=0.5)[:, 0].sum(), theta)[0]
    torch.testing.assert_close(gh, gs)


# ---------------------------------------------------------------------------------------------
# theory: equivariance, sparsity, limits, feasibility
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 9), st.floats(0.05, 5.0))
def test_shannon_is_permutation_equivariant(seed, n, tau):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, generator=g, dtype=D64)
    w = torch.randint(0, 4, (n,), generator=g)
    perm = torch.randperm(n, generator=g)
    cap = int(w.sum()) // 2
    y = soft_knapsack(theta, w, cap, tau=tau)
    yp = soft_knapsack(theta[perm], w[perm], cap, tau=tau)
    torch.testing.assert_close(yp, y[perm], rtol=0, atol=1e-10)
    k = max(1, n // 2)
    torch.testing.assert_close(
        soft_topk(theta[perm], k, tau=tau), soft_topk(theta, k, tau=tau)[perm], rtol=0, atol=1e-10
    )


def test_gini_is_not_permutation_equivariant_on_a_found_instance():
    theta = torch.tensor([0.8, -0.2, 0.9, -1.2], dtype=D64)
    perm = torch.tensor([2, 0, 1, 3])
    y = soft_topk(theta, 2, tau=1.0, regularizer="gini")
    yp = soft_topk(theta[perm], 2, tau=1.0, regularizer="gini")
    assert y.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert float((yp - y[perm]).abs().max()) > 0.1
    # ... while Shannon on the same instance is equivariant
    torch.testing.assert_close(soft_topk(theta[perm], 2), soft_topk(theta, 2)[perm])


def test_gini_and_tsallis_are_sparse_shannon_is_not():
    # values 6/11 apart: Gini is already sparse at tau = 0.5 (8 zeros, 4 ones), Tsallis-1.5 (a
    # softer regularizer) at tau = 0.2; Shannon is strictly inside (0, 1) at every tau.
    theta = torch.linspace(-3, 3, 12, dtype=D64)
    for reg, tau in (("gini", 0.5), ("tsallis", 0.2)):
        y = soft_topk(theta, 4, tau=tau, regularizer=reg)
        assert int((y == 0).sum()) == 8 and int((y == 1).sum()) == 4, (reg, y)
        y = soft_knapsack(theta, [1, 2] * 6, 5, tau=tau, regularizer=reg)
        assert int((y == 0).sum()) >= 6, (reg, y)
    for tau in (0.1, 0.5):
        y = soft_topk(theta, 4, tau=tau)
        assert bool(((y > 0) & (y < 1)).all())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(REGS), st.floats(0.01, 10.0))
def test_every_output_is_feasible_on_average(seed, reg, tau):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(3, 10, generator=g, dtype=D64) * 3
    w = torch.randint(0, 6, (3, 10), generator=g)
    cap = torch.randint(0, 20, (3,), generator=g)
    y = soft_knapsack(theta, w, cap, tau=tau, regularizer=reg)
    assert bool(((y >= 0) & (y <= 1)).all())
    assert bool(((y * w).sum(-1) <= cap + 1e-9).all())
    k = torch.randint(1, 11, (3,), generator=g)
    yk = soft_topk(theta, k, tau=tau, regularizer=reg)
    torch.testing.assert_close(yk.sum(-1), k.double())
    assert bool(
        (soft_topk(theta, k, tau=tau, regularizer=reg, at_most=True).sum(-1) <= k + 1e-9).all()
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(REGS))
def test_small_tau_gives_the_exact_solution(seed, reg):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randint(-20, 21, (8,), generator=g).double() / 4  # gaps of at least 1/4 ...
    theta = theta + torch.rand(8, generator=g, dtype=D64) * 1e-3  # ... and no exact ties
    w = torch.randint(0, 4, (8,), generator=g)
    cap = int(w.sum()) // 2
    S = _feasible(8, w, cap)
    vals = (S @ theta).sort(descending=True).values
    if len(vals) > 1 and float(vals[0] - vals[1]) < 1e-3:
        return  # near-tie between two feasible sets: no unique answer to converge to
    gap = float(vals[0] - vals[1]) if len(vals) > 1 else 1.0
    tau = gap / 60
    y = soft_knapsack(theta, w, cap, tau=tau, regularizer=reg)
    torch.testing.assert_close(y, knapsack(theta, w, cap), rtol=0, atol=1e-6)


def test_tiny_tau_half_precision_and_offsets_stay_finite_and_right():
    theta = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    exact = soft_topk(theta, 10, hard=True)
    for reg in REGS:
        y = soft_topk(theta, 10, tau=1e-7, regularizer=reg)
        assert torch.isfinite(y).all()
        torch.testing.assert_close(y, exact, rtol=0, atol=1e-5)
        # top-k over |S| = k is invariant to a common offset; float32 must survive a large one
        y1 = soft_topk(theta.double(), 10, tau=0.3, regularizer=reg)
        y2 = soft_topk(theta + 1e4, 10, tau=0.3, regularizer=reg)
        torch.testing.assert_close(y2.double(), y1, rtol=0, atol=2e-2)
    for dt in (torch.float16, torch.bfloat16):
        y = soft_topk(theta.to(dt), 10, tau=0.3)
        assert y.dtype == dt and torch.isfinite(y).all()
        torch.testing.assert_close(y.float().sum(-1), torch.full((4,), 10.0), rtol=0, atol=0.1)


# ---------------------------------------------------------------------------------------------
# real weights with a resolution
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_resolution_rounding_bound(seed):
    rng = np.random.default_rng(seed)
    theta = torch.tensor(rng.normal(size=9))
    w = rng.uniform(0.05, 1.0, size=9)
    C = float(rng.uniform(0.5, 3.0))
    res = 0.05
    mask = knapsack(theta, w, C, resolution=res).numpy()
    assert mask @ w <= C + 1e-12  # always feasible for the real weights
    S = _feasible(9, np.ones(9), 9).numpy()  # every set
    sizes, loads, vals = S.sum(1), S @ w, S @ theta.numpy()
    admitted = loads <= C - res * (sizes + 1)  # the documented guarantee
    assert mask @ theta.numpy() >= vals[admitted].max() - 1e-12
    y = soft_knapsack(theta, w, C, resolution=res, tau=0.2)
    assert float(y.numpy() @ w) <= C + 1e-9


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: knapsack(torch.ones(3), [1, -1, 2], 2), "negative"),
        (lambda: knapsack(torch.ones(3), [1.0, 0.5, 2.0], 2), "resolution"),
        (lambda: knapsack(torch.ones(3), [1, 1, 2], -1), "negative"),
        (lambda: knapsack(torch.ones(3), [1, 1], 2), "does not broadcast"),
        (lambda: knapsack(torch.ones(2, 3), [1, 1, 1], [1, 2, 3]), "capacity"),
        (lambda: soft_knapsack(torch.tensor([1.0, math.nan]), [1, 1], 1), "NaN"),
        (lambda: soft_topk(torch.ones(3), 4), r"\[1, n\]"),
        (lambda: soft_topk(torch.ones(3), 1, tau=0.0), "tau"),
        (lambda: soft_topk(torch.ones(3), 1, regularizer="entropy"), "regularizer"),
        (lambda: soft_topk(torch.ones(3), 1, checkpoint=0), "checkpoint"),
        (lambda: soft_topk(torch.ones(3), 1, backend="triton"), "backend"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError, ImportError), match=match):
        call()
