"""The paper's neural-network protocol: warm start, clusters on embeddings, sensitivity sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from subsel.selection.oracles import loss_oracle
from subsel.selection.protocol import sensitivity_protocol


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)


def make_parts(X, y, log):
    def train(idx):
        log["train"].append(idx)
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(30):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
        return model

    def embed(model):
        with torch.no_grad():
            return model[1](model[0](X)).numpy()

    def oracle(model):
        inner = loss_oracle(model, X, y)

        def counted(idx):
            log["queries"].append(idx)
            return inner(idx)

        return counted

    return train, embed, oracle


def test_protocol_parts_sizes_and_queries(digits):
    X, y = digits
    log = {"train": [], "queries": []}
    train, embed, oracle = make_parts(X, y, log)
    sel = sensitivity_protocol(len(X), budget=200, train=train, embed=embed, oracle=oracle, seed=0)
    assert len(sel) == 200 and len(np.unique(sel.indices)) == 200
    assert len(log["train"]) == 1 and len(log["train"][0]) == 40  # k' = 0.2 k
    assert len(log["queries"]) == 1 and len(log["queries"][0]) == 40  # k'' = 0.2 k
    assert sel.n_queries == 40 <= 0.3 * 200
    parts = sel.extra["parts"]
    assert np.array_equal(sel.indices[:40], parts["warm"])
    assert np.isnan(sel.probabilities[: len(sel) - len(parts["sampled"])]).all()
    assert (sel.probabilities[len(sel) - len(parts["sampled"]) :] > 0).all()


def test_protocol_is_reproducible_and_validates(digits):
    X, y = digits
    parts = make_parts(X, y, {"train": [], "queries": []})
    a = sensitivity_protocol(
        len(X), budget=50, train=parts[0], embed=parts[1], oracle=parts[2], seed=3
    )
    b = sensitivity_protocol(
        len(X), budget=50, train=parts[0], embed=parts[1], oracle=parts[2], seed=3
    )
    assert np.array_equal(a.indices, b.indices)
    with pytest.raises(ValueError, match="'budget'"):
        sensitivity_protocol(10, budget=11, train=parts[0], embed=parts[1], oracle=parts[2])
    with pytest.raises(ValueError, match="'warm_fraction'"):
        sensitivity_protocol(
            len(X), budget=50, train=parts[0], embed=parts[1], oracle=parts[2], warm_fraction=1.5
        )
    with pytest.raises(ValueError, match="one row per point"):
        sensitivity_protocol(
            len(X), budget=50, train=parts[0], embed=lambda m: np.zeros((3, 2)), oracle=parts[2]
        )


def _cheap_parts(n=40, seed=0):
    E = np.random.default_rng(seed).normal(size=(n, 3))
    return {
        "train": lambda idx: None,
        "embed": lambda m: E,
        "oracle": lambda m: lambda i: np.ones(len(i)),
    }


@pytest.mark.parametrize("budget", [2, 3, 5, 8])
@pytest.mark.parametrize(("warm", "cluster"), [(0.2, 0.2), (0.9, 0.1), (0.5, 0.5), (0.05, 0.05)])
def test_protocol_returns_exactly_budget_distinct_points(budget, warm, cluster):
    """budget=1 used to return 2 points and warm_fraction=0.9 at budget=2 returned 3: the warm
    start is capped at budget - 1 so that one centre always fits."""
    sel = sensitivity_protocol(
        40, budget=budget, warm_fraction=warm, cluster_fraction=cluster, seed=1, **_cheap_parts()
    )
    assert len(sel) == budget and np.unique(sel.indices).size == budget
    parts = sel.extra["parts"]
    assert len(parts["warm"]) >= 1 and len(parts["centers"]) >= 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        (dict(budget=1), ValueError, "budget"),
        (dict(z=0.0), ValueError, "z"),
        (dict(z=-2.0), ValueError, "z"),
        (dict(lam=float("nan")), ValueError, "lam"),
        (dict(lam=-1.0), ValueError, "lam"),
        (dict(warm_fraction=0.6, cluster_fraction=0.6), ValueError, "cluster_fraction"),
        (dict(seed="x"), TypeError, "seed"),
    ],
)
def test_protocol_parameters_are_refused_in_the_one_format(kwargs, exc, name):
    args = {"budget": 6, **_cheap_parts(), **kwargs}
    with pytest.raises(exc, match=rf"^The '{name}' parameter of sensitivity_protocol must be"):
        sensitivity_protocol(40, **args)


def test_protocol_refuses_non_callables_and_bad_embeddings():
    parts = _cheap_parts()
    with pytest.raises(TypeError, match="The 'train' parameter"):
        sensitivity_protocol(40, budget=6, **{**parts, "train": None})
    with pytest.raises(TypeError, match="The 'oracle' parameter"):
        sensitivity_protocol(40, budget=6, **{**parts, "oracle": lambda m: np.ones(40)})
    with pytest.raises(TypeError, match=r"Input 'embed\(model\)' .* must be real"):
        sensitivity_protocol(40, budget=6, **{**parts, "embed": lambda m: np.ones((40, 2)) * 1j})
