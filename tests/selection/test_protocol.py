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
