"""NeuralSort, the O(n^2) peer (Grover et al., 2019)."""

from __future__ import annotations

import torch

from subsel.ops import neuralsort, neuralsort_topk


def test_rows_are_distributions_and_tend_to_the_sort():
    x = torch.tensor([[0.3, 2.0, -1.0, 1.1]], dtype=torch.float64)
    p = neuralsort(x, tau=1.0)
    assert p.shape == (1, 4, 4)
    assert torch.allclose(p.sum(-1), torch.ones(1, 4, dtype=torch.float64))
    hard = neuralsort(x, tau=1e-3)
    assert hard.argmax(-1).tolist() == [[1, 3, 0, 2]]
    assert torch.allclose(hard, hard.round(), atol=1e-9)


def test_topk_tends_to_the_hard_mask():
    x = torch.tensor([0.3, 2.0, -1.0, 1.1, 0.8], dtype=torch.float64)
    out = neuralsort_topk(x, 2, tau=1e-3)
    assert torch.allclose(out, torch.tensor([0, 1, 0, 1, 0], dtype=torch.float64), atol=1e-9)


def test_gradcheck():
    x = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: neuralsort(z, tau=0.7), (x,))
