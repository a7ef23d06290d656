"""Neighbour-sampling stochastic neighbour embedding (RSS-SNE, Xie & Ermon section 4.4, eq. 7),
and van der Maaten's (2009) parametric t-SNE as its peer, both training :class:`NeighborSNE`.

**RSS-SNE.** Within a batch of m points, the high-dimensional neighbour weights of point i are
``w(i, j) = exp(-beta_i ||x_i - x_j||^2)`` over ``j != i`` (``beta_i = 1`` as in the paper, or the
t-SNE perplexity precision with ``neighbor_scale="perplexity"``). An exact ordered sample of k
neighbours without replacement, ``[e^{i_1}, ..., e^{i_k}] ~ p(S_wrs | w(i))`` (eq. 1), is drawn by
Gumbel top-k of ``log w`` (:func:`subsel.ops.gumbel_topk`). In the embedding,
``w_hat(i, j) = exp(-||h(x_i) - h(x_j)||^2)`` and the relaxed ordered sample ``[a^{i_1}, ...,
a^{i_k}]`` is the k intermediate steps of :func:`subsel.ops.relaxed_topk` applied to
``log w_hat(i) + g`` (g standard Gumbel) at temperature tau. The loss (eq. 7)::

    L = 1/m sum_i sum_{j=1..k} e^{-(j-1)} < e^{i_j}, -log(a^{i_j} + bias) >

matches the two samples, putting more weight on closer neighbours; ``bias = 1e-8`` as in the
paper. Only neighbour identities and order enter, so the two spaces' distance scales need not
agree (no Student-t needed). Scale choice: the raw weights of the paper are the default; on
pixel data in [0, 1] (nearest squared distances ~15, gaps of several units) they make the
high-dimensional sample almost the exact nearest-neighbour order, which is what eq. 7 wants to
keep. ``neighbor_scale="perplexity"`` (t-SNE's per-point precision) is offered; it scored lower
in one exploratory MNIST run (T(12) 0.835 vs 0.841 at d = 2). Practical notes: the
low-dimensional Gumbel noise has scale 1, so the embedding's initial spread matters
(``init_scale``); and with few optimisation steps tau = 1 learns far faster than the paper's
0.1 (the benchmark picks both on validation data).

**Parametric t-SNE** (the peer): per batch, Gaussian conditionals with per-point precisions
calibrated to a perplexity (:func:`conditional_affinities`), symmetrised
``P = (P_c + P_c^T) / sum``, floored at 1e-12; Student-t ``Q`` with ``alpha`` degrees of freedom;
loss ``KL(P || Q)`` (:func:`parametric_tsne_loss`).

:func:`train_neighbor_sne` trains either with Adam over shuffled batches and keeps the weights of
the epoch with the lowest mean training loss ("choosing the model with the best training loss").
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from .. import ops as _ops
from .._progress import progress_range
from .._validation import (
    check_bool,
    check_choice,
    check_embeddings,
    check_generator,
    check_int,
    check_positive_float,
    check_real,
    check_scores,
    check_seed,
    input_error,
    param_error,
)
from ._sne_nets import (
    ACTIVATIONS,
    NeighborSNE,
    _check_perplexity,
    _joint,
    _sq_dists,
    binary_search_beta,
    conditional_affinities,
    pretrain_layerwise,
    tsne_affinities,
)

__all__ = [
    "NeighborSNE",
    "train_neighbor_sne",
    "rss_sne_loss",
    "sample_neighbors",
    "parametric_tsne_loss",
    "conditional_affinities",
    "tsne_affinities",
]

METHODS = ("rss", "parametric_tsne")
SCALES = ("raw", "perplexity")


# ----------------------------------------------------------------------------- helpers
def _check_batch(Z: Any, name: str, func: str) -> torch.Tensor:
    Z = check_scores(Z, name, func)
    if Z.ndim != 2:
        raise input_error(func, name, f"must be 2-d (m, features); got shape {tuple(Z.shape)}")
    return Z


def _check_device(device: Any, func: str) -> torch.device:
    if not isinstance(device, (str, torch.device)):
        raise param_error(func, "device", "'cpu', 'cuda' or a torch.device", device, kind=TypeError)
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise param_error(func, "device", "'cpu', 'cuda' or a torch.device", device) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise param_error(func, "device", "'cpu' here (no CUDA device is available)", device)
    return dev


def _low_dim_steps(H: torch.Tensor, k: int, tau: float, noise: torch.Tensor) -> torch.Tensor:
    """The k relaxed one-hot steps (m, k, m) of ``relaxed_topk(log w_hat + noise)``, i excluded."""
    m = H.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=H.device)
    scores = (-_sq_dists(H) + noise).masked_fill(eye, float("-inf"))
    return _ops.relaxed_topk(scores, k, tau=tau, return_steps=True)[1]


# ----------------------------------------------------------------------------- losses
def rss_sne_loss(
    X: torch.Tensor,
    H: torch.Tensor,
    *,
    k: int = 1,
    tau: float = 0.1,
    bias: float = 1e-8,
    beta: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The RSS-SNE loss of eq. 7 on one batch (one exact and one relaxed neighbour sample per row).

    Parameters
    ----------
    X : tensor (m, D)
        High-dimensional points of the batch (no gradient needed).
    H : tensor (m, d)
        Their embeddings ``h(X)``; the loss is differentiable in ``H``.
    k : int in [1, m - 1]
        Neighbours sampled per point (ordered, without replacement).
    tau : float > 0
        Temperature of the relaxed top-k (paper: 0.1).
    bias : float >= 0
        Added to the relaxed one-hot steps inside the log (paper: 1e-8).
    beta : tensor (m,) > 0, optional
        Per-point precisions, ``log w(i, j) = -beta_i ||x_i - x_j||^2``; ``None``: 1 (the paper).
    generator : torch.Generator, optional
        Source of both samples' Gumbel noise (on ``H``'s device).

    Returns
    -------
    scalar tensor: ``1/m sum_i sum_j e^{-(j-1)} (-log(a^{i_j}[i_j] + bias))``.

    Cost: O(m^2 (D + d) + k m^2) time, O(k m^2) memory (the k relaxed steps).
    """
    func = "rss_sne_loss"
    X = _check_batch(X, "X", func)
    H = _check_batch(H, "H", func)
    m = H.shape[0]
    if X.shape[0] != m:
        raise input_error(func, "X", f"must have one row per row of H ({m}); got {X.shape[0]}")
    if m < 2:
        raise input_error(func, "H", f"needs at least 2 rows (points); got {m}")
    k = check_int(k, "k", func, low=1, high=m - 1, high_label="m - 1", extra=f" (m={m})")
    tau = check_positive_float(tau, "tau", func)
    bias = check_real(bias, "bias", func, low=0.0)
    generator = check_generator(generator, func, H.device)
    beta = _check_beta(beta, m, func)
    return _rss_loss(X, H, k, tau, bias, beta, generator)


def sample_neighbors(
    X: torch.Tensor,
    k: int = 1,
    *,
    beta: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Exact ordered neighbour samples ``S_wrs ~ p(S_wrs | w(i))`` for every row i of a batch.

    ``log w(i, j) = -beta_i ||x_i - x_j||^2`` for ``j != i`` (``beta = None``: 1), ``w(i, i) = 0``;
    Gumbel top-k (:func:`subsel.ops.gumbel_topk`). ``X``: tensor (m, D); returns a LongTensor
    (m, k), the neighbours in the order drawn. O(m^2 D) time, O(m^2) memory.
    """
    func = "sample_neighbors"
    X = _check_batch(X, "X", func)
    m = X.shape[0]
    if m < 2:
        raise input_error(func, "X", f"needs at least 2 rows (points); got {m}")
    k = check_int(k, "k", func, low=1, high=m - 1, high_label="m - 1", extra=f" (m={m})")
    beta = _check_beta(beta, m, func)
    generator = check_generator(generator, func, X.device)
    return _sample(X, k, beta, generator)


def _check_beta(beta, m, func):
    if beta is not None:
        beta = check_scores(beta, "beta", func)
        if tuple(beta.shape) != (m,) or bool((beta <= 0).any()):
            raise input_error(
                func, "beta", f"must hold {m} positive precisions; got shape {tuple(beta.shape)}"
            )
    return beta


def _sample(X, k, beta, generator):
    with torch.no_grad():
        d2 = _sq_dists(X.detach().to(torch.float64))
        if beta is not None:
            d2 = d2 * beta.detach().to(d2)[:, None]
        eye = torch.eye(X.shape[0], dtype=torch.bool, device=X.device)
        return _ops.gumbel_topk((-d2).masked_fill(eye, float("-inf")), k, generator=generator)


def _rss_loss(X, H, k, tau, bias, beta, generator):
    m = H.shape[0]
    idx = _sample(X.to(H.device), k, beta, generator)
    with torch.no_grad():
        noise = (
            -torch.empty(m, m, device=H.device, dtype=H.dtype)
            .exponential_(generator=generator)
            .clamp_min(torch.finfo(H.dtype).tiny)
            .log()
        )
    steps = _low_dim_steps(H, k, tau, noise)  # (m, k, m)
    picked = steps.gather(-1, idx.unsqueeze(-1)).squeeze(-1)  # (m, k)
    weight = torch.exp(-torch.arange(k, device=H.device, dtype=H.dtype))
    return -(torch.log(picked + bias) * weight).sum(1).mean()


def parametric_tsne_loss(P: torch.Tensor, H: torch.Tensor, *, alpha: float = 1.0) -> torch.Tensor:
    """``KL(P || Q)`` of parametric t-SNE on one batch.

    ``q_ij = (1 + ||h_i - h_j||^2 / alpha)^(-(alpha + 1) / 2) / sum_{k != l} (...)`` for i != j.

    Parameters
    ----------
    P : tensor (m, m)
        Joint affinities (:func:`tsne_affinities`): non-negative, summing to 1; diagonal ignored.
    H : tensor (m, d)
        Embeddings; the loss is differentiable in ``H``.
    alpha : float > 0
        Student-t degrees of freedom (the paper's table: 1).

    Returns
    -------
    scalar tensor ``sum_{i != j} p_ij log(p_ij / q_ij)`` (terms with p_ij = 0 are 0).

    Cost: O(m^2 d) time, O(m^2) memory.
    """
    func = "parametric_tsne_loss"
    H = _check_batch(H, "H", func)
    P = _check_batch(P, "P", func)
    m = H.shape[0]
    if tuple(P.shape) != (m, m):
        raise input_error(
            func,
            "P",
            f"must have shape ({m}, {m}) (one row and column per row of H); got {tuple(P.shape)}",
        )
    if bool((P < 0).any()):
        raise input_error(func, "P", "must be >= 0 (affinities)", "use tsne_affinities")
    alpha = check_positive_float(alpha, "alpha", func)
    return _tsne_loss(P.to(H), H, alpha)


def _tsne_loss(P, H, alpha):
    m = H.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=H.device)
    num = (1.0 + _sq_dists(H) / alpha).pow(-(alpha + 1.0) / 2.0).masked_fill(eye, 0.0)
    logq = torch.log((num / num.sum()).clamp_min(1e-30))
    P = P.masked_fill(eye, 0.0)
    return (torch.xlogy(P, P) - P * logq).masked_fill(eye, 0.0).sum()


# ----------------------------------------------------------------------------- training
def train_neighbor_sne(
    X: Any,
    *,
    d: int = 2,
    method: str = "rss",
    k: int = 1,
    tau: float = 0.1,
    bias: float = 1e-8,
    neighbor_scale: str = "raw",
    perplexity: float = 30.0,
    alpha: float = 1.0,
    epochs: int = 200,
    batch_size: int = 1000,
    lr: float = 1e-3,
    activation: str = "relu",
    hidden: tuple[int, ...] = (500, 500, 2000),
    init_scale: float = 1.0,
    pretrain_epochs: int = 0,
    seed: int | np.random.Generator | None = None,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> NeighborSNE:
    """Train a parametric embedding ``h`` (:class:`NeighborSNE`) with RSS-SNE or parametric t-SNE.

    Parameters
    ----------
    X : array or tensor (n, D)
        Training points (e.g. pixels in [0, 1]).
    d : int >= 1
        Embedding size.
    method : {"rss", "parametric_tsne"}
        ``"rss"``: eq. 7 (:func:`rss_sne_loss`); ``"parametric_tsne"``: ``KL(P || Q)``
        (:func:`parametric_tsne_loss`, P per batch at ``perplexity``, Student-t ``alpha``).
    k, tau, bias : RSS-SNE settings (paper: 1, 0.1, 1e-8).
    neighbor_scale : {"raw", "perplexity"}
        RSS-SNE's high-dimensional weights: ``"raw"`` ``exp(-||x_i - x_j||^2)`` (the paper) or
        ``"perplexity"`` ``exp(-beta_i ||x_i - x_j||^2)`` with t-SNE's calibrated ``beta_i``.
    perplexity : float in [1, batch - 1)
        For ``"parametric_tsne"`` and ``neighbor_scale="perplexity"`` (van der Maaten: 30).
    alpha : float > 0
        Student-t degrees of freedom of parametric t-SNE.
    epochs, batch_size, lr : Adam over shuffled batches (paper: 200 epochs, batches of 1000).
        The n points are split into ``ceil(n / batch_size)`` batches of near-equal size;
        neighbours are sampled only within a batch.
    activation : {"relu", "sigmoid"}
        Hidden units of the network.
    hidden : tuple of ints
        Hidden widths (the paper's (500, 500, 2000)).
    init_scale : float > 0
        Multiplies the output layer's initial weights. At 1 (PyTorch's default) an MNIST
        embedding starts ~1e-2 wide, the low-dimensional sample is then pure Gumbel noise and
        eq. 7's gradient is nearly always zero; ~30 starts it at the noise's scale and RSS-SNE
        learns far faster (the benchmark uses 30; see benchmarks/sne.py).
    pretrain_epochs : int >= 0
        Greedy layer-wise autoencoder pretraining before the embedding loss (the paper's
        "pretrain" rows: 10 epochs a layer); 0 (default) skips it. ``model.pretrain_losses_``
        then holds each layer's final reconstruction error.
    seed : None, int or numpy Generator
        Seeds the initialisation, the shuffling and every Gumbel draw; same seed, same weights.
    progress : bool
        Show a progress bar over the epochs.
    device : "cpu", "cuda" or torch.device

    Returns
    -------
    NeighborSNE on ``device`` in eval mode, holding the weights of the epoch with the lowest mean
    training loss; ``model.history_`` lists the mean loss of every epoch and ``model.best_epoch_``
    the one kept. Raises ``RuntimeError`` when no epoch's loss is finite (diverged).

    Cost per epoch: O(n * 1.65 M) for the network (forward and backward) plus O(n * B (D + k))
    for the in-batch neighbour sampling with B the batch size; parametric t-SNE adds the
    calibration, O(n * B * iterations).
    """
    func = "train_neighbor_sne"
    arr = check_embeddings(X, func, dtype=np.float32, distances=True)
    n = arr.shape[0]
    d = check_int(d, "d", func, low=1)
    method = check_choice(method, METHODS, "method", func)
    epochs = check_int(epochs, "epochs", func, low=1)
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    n_batches = -(-n // batch_size)
    m_min = n // n_batches
    if m_min < 3:
        raise input_error(
            func,
            "X",
            f"needs batches of at least 3 points; got n={n} and batch_size={batch_size}",
            "pass more rows or a larger batch_size",
        )
    k = check_int(
        k,
        "k",
        func,
        low=1,
        high=m_min - 1,
        high_label="m - 1",
        extra=f" (smallest batch m={m_min})",
    )
    tau = check_positive_float(tau, "tau", func)
    bias = check_real(bias, "bias", func, low=0.0)
    neighbor_scale = check_choice(neighbor_scale, SCALES, "neighbor_scale", func)
    if method == "parametric_tsne" or neighbor_scale == "perplexity":
        perplexity = _check_perplexity(perplexity, m_min, func)
    else:  # unused: any positive number
        perplexity = check_positive_float(perplexity, "perplexity", func)
    alpha = check_positive_float(alpha, "alpha", func)
    lr = check_positive_float(lr, "lr", func)
    activation = check_choice(activation, ACTIVATIONS, "activation", func)
    init_scale = check_positive_float(init_scale, "init_scale", func)
    pretrain_epochs = check_int(pretrain_epochs, "pretrain_epochs", func, low=0)
    progress = check_bool(progress, "progress", func)
    dev = _check_device(device, func)
    rng = check_seed(seed, func)

    model = NeighborSNE(
        arr.shape[1], d, hidden=hidden, activation=activation, init_scale=init_scale, seed=rng
    ).to(dev)
    gen = torch.Generator(device=dev).manual_seed(int(rng.integers(2**63 - 1)))
    Xt = torch.from_numpy(arr).to(dev)
    if pretrain_epochs:
        model.pretrain_losses_ = pretrain_layerwise(
            model, Xt, epochs=pretrain_epochs, batch_size=batch_size, lr=lr, rng=rng, gen=gen
        )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, history = float("inf"), None, []
    for epoch in progress_range(epochs, progress, f"{method} d={d}"):
        model.train()
        total = 0.0
        for rows in np.array_split(rng.permutation(n), n_batches):
            xb = Xt[torch.from_numpy(rows).to(dev)]
            hb = model(xb)
            if method == "rss":
                beta = None
                if neighbor_scale == "perplexity":
                    beta = binary_search_beta(_sq_dists(xb.double()), perplexity)[1]
                loss = _rss_loss(xb, hb, k, tau, bias, beta, gen)
            else:
                P = _joint(xb, perplexity)[0].to(hb.dtype)
                loss = _tsne_loss(P, hb, alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        history.append(total / n)
        if history[-1] < best:
            best, best_state = history[-1], copy.deepcopy(model.state_dict())
            model.best_epoch_ = epoch
    if best_state is None:  # no finite epoch loss (diverged): say so rather than guess
        raise RuntimeError(
            f"{func}: the training loss was never finite ({history[:3]}...); lower 'lr' or "
            "rescale 'X'."
        )
    model.load_state_dict(best_state)
    model.history_ = history
    return model.eval()
