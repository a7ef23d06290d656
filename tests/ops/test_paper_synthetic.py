"""Section 4.1 of Xie & Ermon: relaxed samples recover p(S | w) (their Figure 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from subsel.ops import relaxed_subset_sample
from tests.common.exact import subset_distribution

W = [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_total_variation_within_the_papers_bound(tau):
    exact = subset_distribution(W, 2)
    logits = torch.tensor(W).log().expand(10_000, 4)
    relaxed = relaxed_subset_sample(logits, 2, tau=tau, generator=torch.Generator().manual_seed(0))
    chosen = relaxed.topk(2, -1).indices.sort(-1).values
    counts = {s: 0 for s in exact}
    for s in map(tuple, chosen.tolist()):
        counts[s] += 1
    empirical = np.array([counts[s] for s in exact]) / 10_000
    tv = 0.5 * np.abs(empirical - np.array(list(exact.values()))).sum()
    assert tv <= 0.016, f"TV {tv:.4f} at tau={tau}"


def test_exact_distribution_of_the_example():
    exact = subset_distribution(W, 2)
    assert sum(exact.values()) == pytest.approx(1.0)
    # the heaviest pair {3, 4} (1-based) is the most likely
    assert max(exact, key=exact.get) == (2, 3)
    assert exact[(2, 3)] == pytest.approx(0.3 * 0.4 / 0.7 + 0.4 * 0.3 / 0.6)
