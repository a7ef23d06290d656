"""SubsetDistribution follows the torch.distributions contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import constraints

from subsel.ops import KHot, SubsetDistribution, subset_log_prob
from tests.common.exact import subset_distribution


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_shapes():
    d = SubsetDistribution(torch.randn(2, 3, 6), 2)
    assert d.batch_shape == (2, 3) and d.event_shape == (6,)
    s = d.sample((4,))
    assert s.shape == (4, 2, 3, 6)
    assert d.log_prob(s).shape == (4, 2, 3)
    assert d.rsample((5,)).shape == (5, 2, 3, 6)
    assert d.enumerate_support().shape == (math.comb(6, 2), 2, 3, 6)
    assert d.enumerate_support(expand=False).shape == (math.comb(6, 2), 1, 1, 6)


def test_class_contract():
    assert SubsetDistribution.has_rsample and SubsetDistribution.has_enumerate_support
    assert SubsetDistribution.arg_constraints == {"logits": constraints.real_vector}
    d = SubsetDistribution(torch.zeros(5), 3)
    assert isinstance(d.support, KHot) and d.support.k == 3
    assert bool(d.support.check(torch.tensor([1.0, 0, 1, 1, 0])))
    assert not bool(d.support.check(torch.tensor([1.0, 0, 1, 0, 0])))
    assert not bool(d.support.check(torch.tensor([1.0, 0, 0.5, 1, 0.5])))


def test_log_prob_matches_enumeration_and_normalizes():
    weights = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25], dtype=torch.float64)
    d = SubsetDistribution(weights.log(), 2)
    support = d.enumerate_support()
    probs = d.log_prob(support).exp()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-12)
    exact = subset_distribution(weights.tolist(), 2)
    for row, p in zip(support, probs, strict=True):
        key = tuple(torch.nonzero(row).flatten().tolist())
        assert float(p) == pytest.approx(exact[key], rel=1e-10)


def test_entropy_is_minus_expected_log_prob():
    logits = torch.randn(3, 6, dtype=torch.float64, generator=gen(1))
    d = SubsetDistribution(logits, 3)
    support = d.enumerate_support()
    lp = subset_log_prob(logits.expand_as(support), support)
    assert torch.allclose(d.entropy(), -(lp.exp() * lp).sum(0))
    assert bool((d.entropy() <= math.log(math.comb(6, 3)) + 1e-12).all())


def test_validate_args_rejects_values_outside_the_support():
    d = SubsetDistribution(torch.zeros(4), 2, validate_args=True)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_sample_is_exact_khot_and_detached_rsample_differentiable():
    logits = torch.randn(4, 8, requires_grad=True)
    d = SubsetDistribution(logits, 3, tau=0.5)
    s = d.sample((10,), generator=gen(2))
    assert not s.requires_grad and bool((s.sum(-1) == 3).all())
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    r = d.rsample(generator=gen(3))
    r.square().sum().backward()
    assert logits.grad is not None and bool(torch.isfinite(logits.grad).all())


def test_default_generator_makes_draws_reproducible():
    logits = torch.randn(10)
    a = SubsetDistribution(logits, 4, generator=gen(5)).sample((3,))
    b = SubsetDistribution(logits, 4, generator=gen(5)).sample((3,))
    assert torch.equal(a, b)


def test_expand():
    d = SubsetDistribution(torch.randn(6), 2).expand((3, 4))
    assert d.batch_shape == (3, 4) and d.sample().shape == (3, 4, 6) and d.k == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="'k'"):
        SubsetDistribution(torch.zeros(4), 5)
    with pytest.raises(ValueError, match="'tau'"):
        SubsetDistribution(torch.zeros(4), 2, tau=0.0)
    with pytest.raises(TypeError, match="'generator'"):
        SubsetDistribution(torch.zeros(4), 2, generator=0)
    with pytest.raises(ValueError, match="enumerate_support"):
        SubsetDistribution(torch.zeros(60), 30).enumerate_support()


def test_sample_shape_is_checked():
    dist = SubsetDistribution(torch.zeros(5), 2)
    with pytest.raises(ValueError, match="'sample_shape' parameter of SubsetDistribution.sample"):
        dist.sample((-1,))
    with pytest.raises(TypeError, match="'sample_shape' parameter of SubsetDistribution.rsample"):
        dist.rsample("3")
    assert dist.sample(3).shape == (3, 5)


def test_log_prob_refuses_a_subset_of_the_wrong_size_even_without_validation():
    """Under ``python -O`` torch turns argument validation off; our check does not vanish."""
    dist = SubsetDistribution(torch.zeros(5), 2, validate_args=False)
    with pytest.raises(ValueError, match="exactly k=2 ones"):
        dist.log_prob(torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        dist.log_prob(torch.tensor([0.5, 1.5, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="n=5 entries"):
        dist.log_prob(torch.tensor([1.0, 1.0]))


def test_log_prob_check_holds_under_python_O():
    import subprocess
    import sys

    code = (
        "import torch\nfrom subsel.ops import SubsetDistribution\n"
        "d = SubsetDistribution(torch.zeros(4), 2)\n"
        "try:\n    d.log_prob(torch.tensor([1., 0., 0., 0.]))\nexcept ValueError:\n    print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "refused"
