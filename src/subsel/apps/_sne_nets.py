"""The embedding network of :mod:`subsel.apps.sne` and the perplexity calibration of t-SNE.

- :class:`NeighborSNE`: van der Maaten's (2009) parametric t-SNE network
  ``input -> 500 -> 500 -> 2000 -> d`` (hidden widths configurable), ReLU or sigmoid hidden
  units, a linear output layer; initialised from its own ``seed`` (no global random state).
- :func:`binary_search_beta`: the per-point Gaussian precisions ``beta_i`` of t-SNE, found by a
  vectorised bisection (all rows at once, in float64) so that each conditional distribution
  ``p_{j|i} ~ exp(-beta_i ||x_i - x_j||^2)`` has the target perplexity ``2^{H_i}`` (nats here:
  ``exp(H_i)``, the same number); :func:`conditional_affinities` and :func:`tsne_affinities`
  (re-exported by :mod:`subsel.apps.sne`) build on it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import (
    check_choice,
    check_embeddings,
    check_int,
    check_positive_float,
    check_seed,
    input_error,
    param_error,
)
from ._weights import _check_path, load_weights, save_weights

ACTIVATIONS = ("relu", "sigmoid")


def _sq_dists(Z: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (m, m) with a safe gradient (no sqrt)."""
    sq = (Z * Z).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T).clamp_min(0.0)


def _check_hidden(hidden: Any, func: str) -> tuple[int, ...]:
    constraint = "a tuple of ints >= 1 (hidden layer widths), e.g. (500, 500, 2000)"
    if not isinstance(hidden, (tuple, list)) or isinstance(hidden, str):
        raise param_error(func, "hidden", constraint, hidden, kind=TypeError)
    return tuple(check_int(h, "hidden", func, low=1) for h in hidden)


class NeighborSNE(nn.Module):
    """A parametric embedding ``h: R^D -> R^d`` (van der Maaten 2009's feed-forward network).

    Parameters
    ----------
    input_dim : int >= 1
        D, the number of input features.
    d : int >= 1
        The embedding size.
    hidden : tuple of ints
        Hidden widths; the paper's ``(500, 500, 2000)`` by default.
    activation : {"relu", "sigmoid"}
        Hidden-unit non-linearity (the output layer is linear).
    seed : None, int or numpy Generator
        Seeds the initialisation (PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
        and biases); same seed, same weights.

    Cost: O(D*500 + 500*500 + 500*2000 + 2000*d) multiply-adds per point (about 1.65 M for
    MNIST), the same for the parameter count.
    """

    def __init__(
        self,
        input_dim: int,
        d: int = 2,
        *,
        hidden: tuple[int, ...] = (500, 500, 2000),
        activation: str = "relu",
        init_scale: float = 1.0,
        seed: int | np.random.Generator | None = None,
    ):
        func = "NeighborSNE"
        input_dim = check_int(input_dim, "input_dim", func, low=1)
        d = check_int(d, "d", func, low=1)
        hidden = _check_hidden(hidden, func)
        activation = check_choice(activation, ACTIVATIONS, "activation", func)
        init_scale = check_positive_float(init_scale, "init_scale", func)
        rng = check_seed(seed, func)
        super().__init__()
        self.config = {
            "input_dim": input_dim,
            "d": d,
            "hidden": list(hidden),
            "activation": activation,
        }
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        widths = [input_dim, *hidden, d]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            lin = nn.Linear(a, b)
            bound = 1.0 / math.sqrt(a) * (init_scale if i == len(widths) - 2 else 1.0)
            with torch.no_grad():
                lin.weight.copy_((torch.rand(b, a, generator=gen) * 2 - 1) * bound)
                lin.bias.copy_((torch.rand(b, generator=gen) * 2 - 1) * bound)
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(nn.ReLU() if activation == "relu" else nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    @property
    def input_dim(self) -> int:
        return self.config["input_dim"]

    @property
    def d(self) -> int:
        return self.config["d"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``h(x)``: (m, D) float tensor -> (m, d)."""
        return self.net(x)

    def transform(self, X: Any, *, batch_size: int = 4096) -> np.ndarray:
        """Embed ``X`` (n, D) (numpy or tensor) -> float32 array (n, d), no gradient. O(n) passes."""
        func = "NeighborSNE.transform"
        arr = check_embeddings(X, func, dtype=np.float32)
        if arr.shape[1] != self.input_dim:
            raise input_error(
                func,
                "X",
                f"must have {self.input_dim} columns (the model's input_dim); got shape {arr.shape}",
                "pass data with the features the model was trained on",
            )
        batch_size = check_int(batch_size, "batch_size", func, low=1)
        p = next(self.parameters())
        out = []
        was_training = self.training
        self.eval()
        with torch.no_grad():
            for s in range(0, arr.shape[0], batch_size):
                xb = torch.from_numpy(arr[s : s + batch_size]).to(device=p.device, dtype=p.dtype)
                out.append(self(xb).float().cpu().numpy())
        self.train(was_training)
        return np.concatenate(out, axis=0)

    def save(self, path) -> Any:
        """Write the weights and the architecture to ``path`` (atomic); returns the path."""
        return save_weights(self, path, func="NeighborSNE.save", extra={"config": self.config})

    @classmethod
    def load(cls, path) -> NeighborSNE:
        """A new model with the architecture and weights that :meth:`save` wrote to ``path``."""
        func = "NeighborSNE.load"
        path = _check_path(path, "path", func)
        try:  # the architecture first; load_weights then checks every name and shape
            blob = torch.load(path, map_location="cpu", weights_only=True)
            cfg = dict(blob["extra"]["config"])
            model = cls(
                cfg["input_dim"],
                cfg["d"],
                hidden=tuple(cfg["hidden"]),
                activation=cfg["activation"],
            )
        except Exception:  # any unreadable file is the same user error
            load_weights(cls(1, 1, hidden=(1,)), path, func=func)  # raises, naming path
            raise ValueError(
                f"{func}: path {str(path)!r} holds no NeighborSNE architecture; pass the file "
                "that NeighborSNE.save() wrote."
            ) from None
        load_weights(model, path, func=func)
        return model


def binary_search_beta(
    D2: torch.Tensor, perplexity: float, *, tol: float = 1e-5, max_iter: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row precisions ``beta`` giving each conditional ``p_{.|i}`` the target perplexity.

    ``D2`` (m, m) are squared distances; the diagonal is ignored (``p_{i|i} = 0``). Bisection on
    ``beta_i`` (doubling / halving until bracketed, as in van der Maaten's ``x2p``), all rows at
    once in float64, until ``|H_i - log(perplexity)| < tol`` (nats) for every row. Returns
    ``(P_cond, beta)``: rows of ``P_cond`` sum to 1. O(iterations * m^2) time, O(m^2) memory.
    """
    D = D2.detach().to(torch.float64)
    m = D.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=D.device)
    D = D.masked_fill(eye, float("inf"))
    D = D - D.min(dim=1, keepdim=True).values  # p is shift-invariant per row; stable exp
    Dz = D.masked_fill(eye, 0.0)
    target = math.log(perplexity)
    mean = Dz.sum(1) / max(m - 1, 1)
    beta = 1.0 / mean.clamp_min(1e-12)
    lo = torch.zeros(m, dtype=D.dtype, device=D.device)
    hi = torch.full((m,), float("inf"), dtype=D.dtype, device=D.device)
    P = None
    for _ in range(max_iter):
        P = torch.exp(-beta[:, None] * D).masked_fill(eye, 0.0)
        s = P.sum(1)
        H = torch.log(s) + beta * (Dz * P).sum(1) / s
        diff = H - target
        if bool((diff.abs() < tol).all()):
            break
        up = diff > 0  # entropy too high: sharpen (larger beta)
        lo = torch.where(up, beta, lo)
        hi = torch.where(up, hi, beta)
        beta = torch.where(
            up,
            torch.where(torch.isinf(hi), beta * 2.0, (beta + hi) / 2.0),
            (beta + lo) / 2.0,
        )
    P = torch.exp(-beta[:, None] * D).masked_fill(eye, 0.0)
    return P / P.sum(1, keepdim=True), beta


# ----------------------------------------------------------------------------- affinities
def _check_perplexity(perplexity: Any, m: int, func: str) -> float:
    p = check_positive_float(perplexity, "perplexity", func)
    if not 1.0 <= p < m - 1:
        raise param_error(func, "perplexity", f"a float in [1, m - 1) (m={m} points per batch)", p)
    return p


def conditional_affinities(X: Any, *, perplexity: float = 30.0, tol: float = 1e-5) -> np.ndarray:
    """Gaussian conditionals ``p_{j|i}`` (n, n), each row with perplexity ``exp(H_i)`` = target.

    ``p_{j|i} = exp(-beta_i ||x_i - x_j||^2) / sum_{l != i} (...)``, ``p_{i|i} = 0``; ``beta_i`` by
    a vectorised bisection to ``|H_i - log(perplexity)| < tol`` nats. ``X``: (n, D) array or
    tensor. O(iterations * n^2) time (about 30-60 iterations), O(n^2) memory.
    """
    func = "conditional_affinities"
    arr = check_embeddings(X, func, distances=True)
    perplexity = _check_perplexity(perplexity, arr.shape[0], func)
    tol = check_positive_float(tol, "tol", func)
    P, _ = binary_search_beta(_sq_dists(torch.from_numpy(arr)), perplexity, tol=tol)
    return P.numpy()


def _joint(X: torch.Tensor, perplexity: float) -> tuple[torch.Tensor, torch.Tensor]:
    Pc, beta = binary_search_beta(_sq_dists(X.to(torch.float64)), perplexity)
    P = Pc + Pc.T
    P = (P / P.sum()).clamp_min(1e-12)
    return P.fill_diagonal_(0.0), beta


def tsne_affinities(X: Any, *, perplexity: float = 30.0) -> np.ndarray:
    """Symmetrised joint t-SNE affinities ``P = (P_c + P_c^T) / sum`` (n, n), floored at 1e-12
    off the diagonal (van der Maaten), zero diagonal. Same cost as :func:`conditional_affinities`."""
    func = "tsne_affinities"
    arr = check_embeddings(X, func, distances=True)
    perplexity = _check_perplexity(perplexity, arr.shape[0], func)
    return _joint(torch.from_numpy(arr), perplexity)[0].numpy()


def pretrain_layerwise(
    model: NeighborSNE, X: torch.Tensor, *, epochs: int, batch_size: int, lr: float, rng, gen
) -> list[float]:
    """Greedy layer-wise autoencoder pretraining (Xie & Ermon section 4.4), in place.

    For layer l = 1..L: layers 1..l (with the activation after l when it is hidden) are the
    encoder, a new linear layer back to the input space the decoder; both are trained by Adam on
    the mean squared reconstruction error for ``epochs`` epochs. Returns the last epoch's mean
    loss per layer. Cost: about ``L * epochs`` epochs of the network.
    """
    modules = list(model.net)
    ends = [i + 1 for i, mod in enumerate(modules) if isinstance(mod, nn.Linear)]
    ends = [e + 1 if e < len(modules) else e for e in ends]  # include the hidden activation
    D, n = X.shape[1], X.shape[0]
    n_batches = -(-n // batch_size)
    losses = []
    for end in ends:
        encoder = nn.Sequential(*modules[:end])
        width = [m for m in modules[:end] if isinstance(m, nn.Linear)][-1].out_features
        decoder = nn.Linear(width, D).to(X.device)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(width)
            decoder.weight.copy_(
                (torch.rand(D, width, generator=gen, device=X.device) * 2 - 1) * bound
            )
            decoder.bias.zero_()
        opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=lr)
        for _ in range(epochs):
            total = 0.0
            for rows in np.array_split(rng.permutation(n), n_batches):
                xb = X[torch.from_numpy(rows).to(X.device)]
                loss = torch.mean((decoder(encoder(xb)) - xb) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
        losses.append(total / n)
    return losses
