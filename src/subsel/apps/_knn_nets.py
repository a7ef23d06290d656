"""The model of the deep stochastic kNN (:class:`StochasticKNN`, :func:`knn_predict`, re-exported by
:mod:`subsel.apps.knn`), its embedding network and input checks.

The network is the small CNN of Grover et al. (2019) for MNIST (``ConvNet`` in their code, which
the subset-sampling paper reuses): conv k x k (``channels[0]``) -> ReLU -> max-pool 2 -> conv k x k
(``channels[1]``) -> ReLU -> max-pool 2 -> linear -> ReLU, with valid (unpadded) convolutions. With
the defaults (20 and 50 channels, 5 x 5 kernels, 500 outputs) a 28 x 28 image becomes 50 x 4 x 4
before the linear layer: 0.43 M parameters, about 2.3 M multiply-adds per image.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._validation import (
    as_real_array,
    check_int,
    check_scores,
    check_seed,
    input_error,
    param_error,
)
from ._weights import _check_path, load_weights, save_weights

__all__ = [
    "StochasticKNN",
    "knn_predict",
    "ConvEmbedding",
    "as_images",
    "as_labels",
    "check_image_shape",
    "check_channels",
]


def _out_size(size: int, kernel: int) -> int:
    """Spatial size after a valid conv (kernel) and a 2 x 2 max-pool (floor)."""
    return (size - kernel + 1) // 2


class ConvEmbedding(nn.Module):
    """conv, ReLU, pool, conv, ReLU, pool, linear, ReLU: ``(n, C, H, W) -> (n, d)``."""

    def __init__(self, image_shape, channels, kernel_size: int, embedding_dim: int):
        super().__init__()
        c, h, w = image_shape
        self.conv1 = nn.Conv2d(c, channels[0], kernel_size)
        self.conv2 = nn.Conv2d(channels[0], channels[1], kernel_size)
        hh = _out_size(_out_size(h, kernel_size), kernel_size)
        ww = _out_size(_out_size(w, kernel_size), kernel_size)
        self.linear = nn.Linear(channels[1] * hh * ww, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.linear(x.flatten(1)))

    def reset_parameters(self, gen: torch.Generator) -> None:
        """PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
        drawn from ``gen`` (the global random state is never touched)."""
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.linear):
                fan_in = layer.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                for p in (layer.weight, layer.bias):
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


def check_image_shape(image_shape: Any, kernel_size: int, func: str) -> tuple[int, int, int]:
    """``(C, H, W)`` (or ``(H, W)``, one channel) positive ints, big enough for two conv+pool
    stages of ``kernel_size``."""
    constraint = "a tuple (C, H, W) or (H, W) of positive ints"
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
        raise param_error(func, "image_shape", constraint, image_shape, kind=TypeError)
    shape = [check_int(s, "image_shape", func, low=1) for s in image_shape]
    if len(shape) == 2:
        shape = [1] + shape
    c, h, w = shape
    for size in (h, w):
        if _out_size(_out_size(size, kernel_size), kernel_size) < 1:
            raise param_error(
                func,
                "image_shape",
                f"large enough for two valid {kernel_size}x{kernel_size} convolutions each "
                f"followed by a 2x2 pool (H, W >= {3 * kernel_size - 1}; or use a smaller "
                "kernel_size)",
                image_shape,
            )
    return (c, h, w)


def check_channels(channels: Any, func: str) -> tuple[int, int]:
    """Two positive ints (the output channels of the two convolutions)."""
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise param_error(
            func, "channels", "a pair (c1, c2) of positive ints", channels, kind=TypeError
        )
    c1, c2 = (check_int(c, "channels", func, low=1) for c in channels)
    return c1, c2


def as_images(
    X: Any, image_shape: tuple[int, int, int], name: str, func: str, device=None
) -> torch.Tensor:
    """Images ``(n, C*H*W)``, ``(n, H, W)`` (one channel) or ``(n, C, H, W)`` as a float32 tensor
    ``(n, C, H, W)`` on ``device``; finite, non-empty."""
    if isinstance(X, torch.Tensor):
        if X.is_complex() or not (
            X.is_floating_point() or X.dtype in (torch.uint8, torch.int32, torch.int64)
        ):
            raise input_error(func, name, f"must be real; got dtype {X.dtype}", kind=TypeError)
        t = X.detach().to(dtype=torch.float32)
    else:
        t = torch.as_tensor(
            as_real_array(X, name, func, what="an array of images"), dtype=torch.float32
        )
    c, h, w = image_shape
    want = f"(n, {c * h * w}), (n, {c}, {h}, {w})" + (f" or (n, {h}, {w})" if c == 1 else "")
    if t.ndim == 2 and t.shape[1] == c * h * w:
        t = t.reshape(-1, c, h, w)
    elif t.ndim == 3 and c == 1 and tuple(t.shape[1:]) == (h, w):
        t = t.unsqueeze(1)
    elif not (t.ndim == 4 and tuple(t.shape[1:]) == (c, h, w)):
        raise input_error(
            func,
            name,
            f"must have shape {want} for image_shape {image_shape}; got shape {tuple(t.shape)}",
            "reshape the images or build the model with their image_shape",
        )
    if t.shape[0] == 0:
        raise input_error(
            func, name, f"is empty (shape {tuple(t.shape)})", "pass at least one image"
        )
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        raise input_error(
            func,
            name,
            f"contains NaN or inf at {int(bad.sum())} positions",
            "remove or impute them",
        )
    return t.to(device) if device is not None else t


def as_labels(y: Any, n: int, name: str, func: str) -> np.ndarray:
    """Class labels: a 1-d integer array of length ``n`` (any integer values)."""
    arr = as_real_array(y, name, func, what=f"a 1-d array of {n} integer labels")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise input_error(
            func, name, f"must have shape ({n},), one label per image; got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == bool:
            return arr.astype(np.int64)
        finite = np.isfinite(arr)
        if not finite.all() or not np.array_equal(arr, np.round(arr)):
            raise input_error(
                func,
                name,
                "must hold integer class labels; got non-integer values",
                "pass class indices such as 0..9",
            )
    return arr.astype(np.int64)


# ----------------------------------------------------------------------------- embeddings
def _embeddings(x: Any, name: str, func: str) -> torch.Tensor:
    check_scores(x, name, func)
    if x.ndim != 2:
        raise input_error(
            func, name, f"must be 2-d (n, p), one embedding a row; got shape {tuple(x.shape)}"
        )
    return x


def _pair(query: Any, candidates: Any, func: str) -> tuple[torch.Tensor, torch.Tensor]:
    q = _embeddings(query, "query", func)
    c = _embeddings(candidates, "candidates", func)
    if c.shape[1] != q.shape[1] or c.device != q.device:
        raise input_error(
            func,
            "candidates",
            f"must have the width {q.shape[1]} and device "
            f"{q.device} of 'query'; got shape {tuple(c.shape)} on {c.device}",
        )
    return q, c


def _scores(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    d2 = q.pow(2).sum(1, keepdim=True) - 2 * q @ c.T + c.pow(2).sum(1)
    return -d2.clamp_min(0)


def _vote(ref_codes: torch.Tensor, n_classes: int, idx: torch.Tensor) -> torch.Tensor:
    """Majority label code of each row of neighbour indices (nearest first); among tied labels,
    the one of the nearest neighbour wins."""
    near = ref_codes[idx]  # (n, k) label codes, nearest first
    counts = torch.zeros(idx.shape[0], n_classes, dtype=torch.long, device=idx.device)
    counts.scatter_add_(1, near, torch.ones_like(near))
    top = counts.gather(1, near) == counts.max(1, keepdim=True).values
    first = top.to(torch.uint8).argmax(1, keepdim=True)  # first neighbour with a top label
    return near.gather(1, first).squeeze(1)


def _predict_codes(q, ref, ref_codes, n_classes, k, chunk=512):
    out = []
    ref_sq = ref.pow(2).sum(1)
    for s in range(0, q.shape[0], chunk):
        qb = q[s : s + chunk]
        d2 = qb.pow(2).sum(1, keepdim=True) - 2 * qb @ ref.T + ref_sq
        out.append(_vote(ref_codes, n_classes, d2.topk(k, dim=1, largest=False).indices))
    return torch.cat(out)


def knn_predict(
    query: torch.Tensor, reference: torch.Tensor, reference_labels: Any, k: int = 9
) -> np.ndarray:
    """Exact kNN classification in embedding space: the majority label of the k nearest
    ``reference`` rows of each query (a tie goes to the tied label of the nearest neighbour).

    Parameters
    ----------
    query : Tensor, shape (n, p)
    reference : Tensor, shape (r, p)
    reference_labels : int array or tensor, shape (r,)
    k : int in [1, r]

    Returns
    -------
    ndarray, shape (n,): labels taken from ``reference_labels``.

    Complexity: O(n r p) time, O(512 r) memory (queries in chunks of 512).
    """
    func = "knn_predict"
    q = _embeddings(query, "query", func)
    ref = _embeddings(reference, "reference", func)
    if ref.shape[1] != q.shape[1]:
        raise input_error(
            func,
            "reference",
            f"must have the width {q.shape[1]} of 'query'; got shape {tuple(ref.shape)}",
        )
    k = check_int(
        k,
        "k",
        func,
        low=1,
        high=ref.shape[0],
        high_label="r",
        extra=f" (r={ref.shape[0]} reference points)",
    )
    y = (
        reference_labels.detach().cpu().numpy()
        if isinstance(reference_labels, torch.Tensor)
        else reference_labels
    )
    y = as_labels(y, ref.shape[0], "reference_labels", func)
    classes, codes = np.unique(y, return_inverse=True)
    with torch.no_grad():
        pred = _predict_codes(
            q.detach(),
            ref.detach().to(q.device),
            torch.as_tensor(codes, device=q.device),
            len(classes),
            k,
        )
    return classes[pred.cpu().numpy()]


# ----------------------------------------------------------------------------- model
class StochasticKNN(nn.Module):
    """The embedding CNN of the deep stochastic kNN, and exact kNN prediction with it.

    Parameters
    ----------
    image_shape : (C, H, W) or (H, W)
        Input images; flat rows of C*H*W values are accepted too.
    channels : (c1, c2)
        Output channels of the two convolutions (Grover et al.'s MNIST net: 20, 50).
    kernel_size : int
        Square kernel of both convolutions (5; smaller for tiny images).
    embedding_dim : int
        Width of the embedding (500).
    k : int
        Neighbours used by :meth:`predict` by default (9 in the paper).
    seed : None, int or numpy Generator
        Seeds the initial weights (the global random state is not touched).

    Attributes
    ----------
    net : ConvEmbedding
        The trunk; ``forward`` is ``net`` on reshaped images.
    history : list of dict
        Filled by :func:`train_stochastic_knn`: per epoch ``loss`` and ``val_accuracy``.
    """

    def __init__(
        self,
        image_shape=(1, 28, 28),
        *,
        channels=(20, 50),
        kernel_size: int = 5,
        embedding_dim: int = 500,
        k: int = 9,
        seed=None,
    ):
        super().__init__()
        func = "StochasticKNN"
        kernel_size = check_int(kernel_size, "kernel_size", func, low=1)
        self.image_shape = check_image_shape(image_shape, kernel_size, func)
        self.channels = check_channels(channels, func)
        self.kernel_size = kernel_size
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", func, low=1)
        self.k = check_int(k, "k", func, low=1)
        rng = check_seed(seed, func)
        self.net = ConvEmbedding(self.image_shape, self.channels, kernel_size, self.embedding_dim)
        self.net.reset_parameters(torch.Generator().manual_seed(int(rng.integers(2**63 - 1))))
        self.history: list[dict] = []

    def config(self) -> dict:
        """The constructor settings (what :meth:`load` rebuilds the model from)."""
        return {
            "image_shape": list(self.image_shape),
            "channels": list(self.channels),
            "kernel_size": self.kernel_size,
            "embedding_dim": self.embedding_dim,
            "k": self.k,
        }

    def _device(self):
        return next(self.parameters()).device

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Embeddings (n, embedding_dim) of images (n, C*H*W), (n, H, W) or (n, C, H, W);
        differentiable in the weights (X is not checked here: use :meth:`embed` for user data)."""
        c, h, w = self.image_shape
        return self.net(X.reshape(-1, c, h, w))

    def embed(self, X: Any, *, batch_size: int = 1024) -> torch.Tensor:
        """Embeddings of ``X`` (checked) without gradients, in batches; shape (n, embedding_dim)."""
        func = "StochasticKNN.embed"
        batch_size = check_int(batch_size, "batch_size", func, low=1)
        return self._embed(as_images(X, self.image_shape, "X", func), batch_size)

    def _embed(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        was = self.training
        self.eval()
        dev = self._device()
        with torch.no_grad():
            out = torch.cat(
                [
                    self.net(images[s : s + batch_size].to(dev))
                    for s in range(0, images.shape[0], batch_size)
                ]
            )
        self.train(was)
        return out

    def predict(
        self, X: Any, X_ref: Any, y_ref: Any, *, k: int | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """Exact kNN labels of ``X`` (n, ...) with neighbours from ``X_ref`` (r, ...), ``y_ref``
        (r,): the majority label of the k nearest in embedding space (``k`` defaults to
        ``self.k``). O((n + r) * CNN + n r p) time."""
        func = "StochasticKNN.predict"
        Xq = as_images(X, self.image_shape, "X", func)
        Xr = as_images(X_ref, self.image_shape, "X_ref", func)
        y = as_labels(y_ref, Xr.shape[0], "y_ref", func)
        k = self.k if k is None else k
        k = check_int(
            k,
            "k",
            func,
            low=1,
            high=Xr.shape[0],
            high_label="r",
            extra=f" (r={Xr.shape[0]} reference images)",
        )
        batch_size = check_int(batch_size, "batch_size", func, low=1)
        return knn_predict(self._embed(Xq, batch_size), self._embed(Xr, batch_size), y, k)

    def save(self, path) -> Any:
        """Write the weights and settings to ``path`` (atomically); returns the path."""
        return save_weights(self, path, func="StochasticKNN.save", extra={"config": self.config()})

    @classmethod
    def load(cls, path, *, map_location="cpu") -> StochasticKNN:
        """Rebuild a model saved by :meth:`save`."""
        func = "StochasticKNN.load"
        p = _check_path(path, "path", func)
        try:
            blob = torch.load(p, map_location="cpu", weights_only=True) if p.is_file() else None
        except Exception:
            blob = None
        extra = blob.get("extra") if isinstance(blob, dict) else None
        cfg = extra.get("config") if isinstance(extra, dict) else None
        cfg = cfg if isinstance(cfg, dict) else {}  # load_weights reports a foreign file
        model = cls(
            tuple(cfg.get("image_shape", (1, 28, 28))),
            channels=tuple(cfg.get("channels", (20, 50))),
            kernel_size=cfg.get("kernel_size", 5),
            embedding_dim=cfg.get("embedding_dim", 500),
            k=cfg.get("k", 9),
            seed=0,
        )
        load_weights(model, p, func=func, map_location=map_location)
        return model.to(map_location) if map_location is not None else model


StochasticKNN.__module__ = knn_predict.__module__ = "subsel.apps.knn"
