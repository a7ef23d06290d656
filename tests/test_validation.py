"""The one error format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from subsel import _validation as v


def test_param_error_format():
    err = v.param_error("relaxed_topk", "k", "an int in [1, n] (n=10)", 12)
    assert isinstance(err, ValueError)
    assert (
        str(err)
        == "The 'k' parameter of relaxed_topk must be an int in [1, n] (n=10). Got 12 instead."
    )


def test_nan_message_counts_positions_and_says_the_fix():
    x = torch.tensor([0.0, float("nan"), 1.0, float("nan"), float("nan")])
    with pytest.raises(ValueError) as info:
        v.check_scores(x, "scores", "relaxed_topk")
    assert str(info.value) == (
        "Input 'scores' of relaxed_topk contains NaN at 3 positions; remove or impute them."
    )


def test_neg_inf_allowed_only_when_asked():
    x = torch.tensor([0.0, float("-inf")])
    with pytest.raises(ValueError, match="infinite"):
        v.check_scores(x, "scores", "f")
    assert v.check_scores(x, "scores", "f", allow_neg_inf=True) is x
    with pytest.raises(ValueError, match=r"\+inf"):
        v.check_scores(torch.tensor([float("inf")]), "scores", "f", allow_neg_inf=True)


@pytest.mark.parametrize(
    "value,kind",
    [(True, TypeError), (2.5, TypeError), ("3", TypeError), (0, ValueError), (11, ValueError)],
)
def test_check_int(value, kind):
    with pytest.raises(kind, match="'k' parameter of f must be an int in"):
        v.check_int(value, "k", "f", low=1, high=10)


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf")])
def test_check_positive_float_rejects(value):
    with pytest.raises(ValueError, match="'tau' parameter of f must be a finite float > 0"):
        v.check_positive_float(value, "tau", "f")


def test_check_positive_float_type():
    with pytest.raises(TypeError):
        v.check_positive_float("1", "tau", "f")


def test_check_dim():
    assert v.check_dim(-1, 3, "f") == 2
    with pytest.raises(ValueError, match=r"in \[-3, 2\]"):
        v.check_dim(3, 3, "f")
    with pytest.raises(TypeError):
        v.check_dim(1.0, 3, "f")


def test_check_k_tensor():
    k_max, k_rows = v.check_k(torch.tensor([1, 3]), 4, (2,), "f")
    assert k_max == 3 and k_rows.dtype == torch.long
    assert v.check_k(torch.tensor(2), 4, (2,), "f") == (2, None)
    with pytest.raises(TypeError):
        v.check_k(torch.tensor([1.0, 2.0]), 4, (2,), "f")


def test_check_seed():
    a = v.check_seed(3, "f").integers(0, 1000, 5)
    b = v.check_seed(3, "f").integers(0, 1000, 5)
    assert np.array_equal(a, b)
    rng = np.random.default_rng(0)
    assert v.check_seed(rng, "f") is rng
    with pytest.raises(ValueError):
        v.check_seed(-1, "f")
    with pytest.raises(TypeError):
        v.check_seed("x", "f")


def test_generator_device_must_match():
    with pytest.raises(TypeError, match="'generator'"):
        v.check_generator(np.random.default_rng(0), "f")
    g = torch.Generator()
    assert v.check_generator(g, "f", device="cpu") is g
