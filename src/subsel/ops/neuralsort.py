"""NeuralSort (Grover et al., 2019): a relaxed sorting operator, the O(n^2) peer of relaxed top-k."""

from __future__ import annotations

import torch

from .._validation import check_positive_float
from ._common import prepare

__all__ = ["neuralsort", "neuralsort_topk"]


def neuralsort(scores: torch.Tensor, *, tau: float = 1.0) -> torch.Tensor:
    """Relaxed permutation matrix of a descending sort (Grover et al., 2019, eq. 5).

    Row i of ``P_hat`` is ``softmax(((n + 1 - 2 i) s - A_s 1) / tau)`` with ``A_s = |s_j - s_l|``
    (i = 1..n), a unimodal row-stochastic matrix that tends to the sorting permutation as
    ``tau -> 0``: row i tends to the one-hot of the i-th largest score.

    Parameters
    ----------
    scores : Tensor, shape (..., n)
    tau : float > 0

    Returns
    -------
    Tensor, shape (..., n, n)

    Notes
    -----
    O(n^2) time and memory per row: this is the cost that relaxed top-k avoids.
    """
    tau = check_positive_float(tau, "tau", "neuralsort")
    x, _, _, _ = prepare(scores, 1, -1, "neuralsort", allow_neg_inf=False)
    n = x.shape[-1]
    pairwise = (x.unsqueeze(-1) - x.unsqueeze(-2)).abs()  # (..., n, n)
    b = pairwise.sum(-1)  # A_s 1, (..., n)
    scale = n + 1 - 2 * torch.arange(1, n + 1, device=x.device, dtype=x.dtype)  # (n,)
    logits = scale.unsqueeze(-1) * x.unsqueeze(-2) - b.unsqueeze(-2)  # (..., n, n)
    return torch.softmax(logits / tau, dim=-1)


def neuralsort_topk(scores: torch.Tensor, k: int, *, tau: float = 1.0) -> torch.Tensor:
    """Relaxed k-hot vector from NeuralSort: the sum of the first k rows of ``P_hat``, shape (..., n).

    Builds the whole n x n matrix as Grover et al. do (O(n^2) time and memory per row).
    """
    prepare(scores, k, -1, "neuralsort_topk", allow_neg_inf=False, allow_tensor_k=False)
    return neuralsort(scores, tau=tau)[..., :k, :].sum(-2)
