"""Exact samplers and the exact subset log-probability against enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from subsel.ops import gumbel_topk, relaxed_subset_sample, sample_subset, subset_log_prob
from tests.common.exact import (
    all_subsets,
    log_binom,
    ordered_distribution,
    subset_distribution,
    subset_prob,
)
from tests.common.stats import assert_matches_distribution, mean_within

W = [0.1, 0.2, 0.3, 0.4]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def masks_to_tuples(masks: torch.Tensor):
    return [tuple(np.flatnonzero(row).tolist()) for row in masks.numpy()]


def test_gumbel_topk_matches_eq1_ordered_distribution():
    exact = ordered_distribution(W, 2)
    logits = torch.tensor(W).log().expand(200_000, 4)
    draws = gumbel_topk(logits, 2, generator=gen(0))
    counts = {key: 0 for key in exact}
    for row in map(tuple, draws.tolist()):
        counts[row] += 1
    assert_matches_distribution([counts[s] for s in exact], list(exact.values()))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_sample_subset_matches_eq2(k):
    weights = [0.05, 0.15, 0.2, 0.25, 0.35]
    exact = subset_distribution(weights, k)
    logits = torch.tensor(weights, dtype=torch.float64).log().expand(200_000, 5)
    masks = sample_subset(logits, k, generator=gen(k))
    assert bool((masks.sum(-1) == k).all())
    counts = {s: 0 for s in exact}
    for s in masks_to_tuples(masks):
        counts[s] += 1
    assert_matches_distribution([counts[s] for s in exact], list(exact.values()))


def test_the_check_has_power_against_a_plausible_wrong_sampler():
    """Conditional Poisson sampling (p(S) proportional to prod w) is a common confusion: reject it."""
    weights = [0.05, 0.15, 0.2, 0.25, 0.35]
    exact = subset_distribution(weights, 2)
    wrong = np.array([np.prod([weights[i] for i in s]) for s in exact])
    wrong /= wrong.sum()
    rng = np.random.default_rng(0)
    counts = rng.multinomial(200_000, wrong)
    with pytest.raises(AssertionError):
        assert_matches_distribution(counts, list(exact.values()))


def test_per_row_k_sampling_distribution():
    weights = [0.1, 0.2, 0.3, 0.4]
    logits = torch.tensor(weights).log().expand(100_000, 4)
    ks = torch.tensor([1, 3]).repeat(50_000)
    masks = sample_subset(logits, ks, generator=gen(3))
    for k in (1, 3):
        rows = masks[ks == k]
        exact = subset_distribution(weights, k)
        counts = {s: 0 for s in exact}
        for s in masks_to_tuples(rows):
            counts[s] += 1
        assert_matches_distribution([counts[s] for s in exact], list(exact.values()))


def test_zero_weight_items_are_never_sampled():
    logits = torch.tensor([0.0, float("-inf"), 1.0, float("-inf"), 2.0]).expand(5000, 5)
    masks = sample_subset(logits, 3, generator=gen(4))
    assert bool((masks[:, [1, 3]] == 0).all())
    with pytest.raises(ValueError, match="fewer finite entries than k"):
        sample_subset(logits, 4)


# ---------------------------------------------------------------- subset_log_prob
@pytest.mark.parametrize("method", ["dp", "quadrature"])
@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_log_prob_equals_sum_over_orderings(method, n):
    rng = np.random.default_rng(n)
    logits = torch.tensor(rng.normal(scale=2.0, size=n))
    for k in range(0, n + 1):
        for subset in itertools.combinations(range(n), k):
            mask = torch.zeros(n)
            mask[list(subset)] = 1
            got = float(subset_log_prob(logits, mask, method=method))
            want = math.log(subset_prob(np.exp(logits.numpy()), subset)) if k else 0.0
            assert got == pytest.approx(want, abs=1e-11, rel=1e-11), (subset, got, want)


@pytest.mark.parametrize("method", ["dp", "quadrature"])
@pytest.mark.parametrize("scale", [0.01, 1.0, 8.0])
def test_probabilities_sum_to_one_over_all_subsets(method, scale):
    n = 9
    logits = torch.randn(n, dtype=torch.float64, generator=gen(9)) * scale
    for k in range(1, n + 1):
        subsets = all_subsets(n, k)
        masks = torch.zeros(len(subsets), n, dtype=torch.float64)
        for row, s in enumerate(subsets):
            masks[row, list(s)] = 1
        total = subset_log_prob(logits.expand_as(masks), masks, method=method).exp().sum()
        assert float(total) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
def test_dp_and_quadrature_agree_for_larger_k(scale):
    n, k = 40, 13
    logits = torch.randn(6, n, dtype=torch.float64, generator=gen(10)) * scale
    masks = torch.zeros(6, n)
    for row in range(6):
        masks[row, torch.randperm(n, generator=gen(row))[:k]] = 1
    dp = subset_log_prob(logits, masks, method="dp")
    quad = subset_log_prob(logits, masks, method="quadrature")
    assert torch.allclose(dp, quad, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("n,k", [(200, 100), (1000, 37), (500, 499)])
def test_quadrature_is_exact_for_equal_weights(n, k):
    """With equal weights every k-subset has probability 1 / C(n, k)."""
    logits = torch.full((n,), 0.7, dtype=torch.float64)
    mask = torch.zeros(n)
    mask[torch.randperm(n, generator=gen(n))[:k]] = 1
    got = float(subset_log_prob(logits, mask))
    assert got == pytest.approx(-log_binom(n, k), rel=1e-11)


def test_log_prob_of_singletons_is_the_softmax():
    logits = torch.randn(3, 6, dtype=torch.float64, generator=gen(12))
    eye = torch.eye(6, dtype=torch.float64)
    got = subset_log_prob(logits[:, None, :].expand(3, 6, 6), eye.expand(3, 6, 6))
    assert torch.allclose(got, torch.log_softmax(logits, -1), atol=1e-12)


def test_log_prob_edge_cases():
    logits = torch.tensor([0.0, float("-inf"), 1.0, 2.0], dtype=torch.float64)
    with_zero = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert float(subset_log_prob(logits, with_zero)) == float("-inf")
    # the only positive-weight items: certain
    assert float(subset_log_prob(logits, torch.tensor([1.0, 0.0, 1.0, 1.0]))) == 0.0
    assert float(subset_log_prob(logits, torch.zeros(4))) == 0.0


@pytest.mark.parametrize("method", ["dp", "quadrature"])
def test_log_prob_gradcheck(method):
    logits = torch.randn(3, 8, dtype=torch.float64, generator=gen(13), requires_grad=True)
    masks = torch.zeros(3, 8)
    masks[0, [1, 2]] = 1
    masks[1, [0, 3, 5, 7]] = 1
    masks[2, :7] = 1
    assert torch.autograd.gradcheck(lambda z: subset_log_prob(z, masks, method=method), (logits,))


def test_score_function_has_zero_mean():
    """E_S[grad log p(S | w)] = 0 ties the sampler and the log-probability together."""
    logits = torch.tensor([0.3, -0.2, 1.0, 0.0, -1.0], dtype=torch.float64)
    masks = sample_subset(logits.expand(20_000, 5), 2, generator=gen(14))
    z = logits.expand(20_000, 5).clone().requires_grad_(True)
    subset_log_prob(z, masks).sum().backward()
    mean_within(z.grad.numpy(), np.zeros(5))


def test_log_prob_bad_input():
    logits = torch.randn(2, 5)
    with pytest.raises(ValueError, match="shape of the logits"):
        subset_log_prob(logits, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="only 0 and 1"):
        subset_log_prob(logits, torch.full((2, 5), 0.5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        subset_log_prob(logits, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="'method'"):
        subset_log_prob(logits, torch.zeros(2, 5), method="magic")
    with pytest.raises(ValueError, match="quadrature"):
        subset_log_prob(torch.randn(30), torch.ones(30), method="dp")


# ---------------------------------------------------------------- Algorithm 2
def test_relaxed_sample_hard_forward_is_the_exact_sample():
    logits = torch.randn(50, 12, generator=gen(15))
    hard = relaxed_subset_sample(logits, 4, tau=0.3, hard=True, generator=gen(16))
    exact = sample_subset(logits, 4, generator=gen(16))
    assert torch.equal(hard, exact)


def test_relaxed_sample_topk_is_exact_for_tau_at_least_one():
    """Theorem 1: for t >= 1 the top-k of the relaxed sample is the Gumbel-top-k sample."""
    weights = [0.05, 0.15, 0.2, 0.25, 0.35]
    exact = subset_distribution(weights, 2)
    logits = torch.tensor(weights, dtype=torch.float64).log().expand(100_000, 5)
    relaxed = relaxed_subset_sample(logits, 2, tau=1.0, generator=gen(17))
    idx = relaxed.topk(2, -1).indices.sort(-1).values
    counts = {s: 0 for s in exact}
    for s in map(tuple, idx.tolist()):
        counts[s] += 1
    assert_matches_distribution([counts[s] for s in exact], list(exact.values()))


def test_relaxed_sample_gradients_flow_to_logits():
    logits = torch.zeros(4, 6, requires_grad=True)
    out = relaxed_subset_sample(logits, 2, tau=0.5, generator=gen(18))
    (out * torch.arange(6.0)).sum().backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)
