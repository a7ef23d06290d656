"""The networks of the L2X-style explainer (:mod:`subsel.apps.explain`): explainer and
variational approximator ``q``, for dense inputs (images, tabular rows) and for token ids (text).

- ``PatchCNN``: 28x28 images -> 7x7 = 49 logits, one per 4x4 patch (two 3x3 conv + 2x2 max-pool
  stages and a 1x1 conv to one channel, the shape of L2X's MNIST explainer).
- ``DenseMLP``: any (n, d) input -> (n, out) (explainer over arbitrary groups, and ``q``).
- ``WordExplainer``: token ids (n, L) -> (n, L) logits, L2X's IMDB-word explainer: embedding,
  a conv over 3 words, a global (max-pooled, dense) and a local (second conv) branch,
  concatenated and reduced by 1x1 convs to one logit per word.
- ``WordApproximator``: L2X's IMDB-word ``q``: embedding times the (relaxed) mask, mean over
  positions, a dense hidden layer, class logits.

Also the feature groups, masks and the two relaxed k-subset samplers (public through
:mod:`subsel.apps.explain`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import ops as _ops
from .._validation import (
    check_bool,
    check_choice,
    check_generator,
    check_index_array,
    check_int,
    check_positive_float,
    check_scores,
    input_error,
    param_error,
)

SAMPLERS = ("subset", "l2x")


class PatchCNN(nn.Module):
    """(n, 784) images in [0, 1] -> (n, 49) logits of the 4x4 patches (row-major 7x7)."""

    def __init__(self, channels: int = 16):
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * c, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, 1, 28, 28)).reshape(x.shape[0], 49)


class DenseMLP(nn.Module):
    """(n, d) -> (n, out): two ReLU hidden layers of ``hidden`` units."""

    def __init__(self, d: int, out: int, hidden: int = 200):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class WordExplainer(nn.Module):
    """Token ids (n, L) -> (n, L) logits, one per position (L2X's IMDB-word explainer)."""

    def __init__(self, vocab_size: int, embed_dim: int = 50, filters: int = 64, dropout=0.2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.conv1 = nn.Conv1d(embed_dim, filters, 3, padding=1)
        self.glob = nn.Linear(filters, filters)
        self.local = nn.Conv1d(filters, filters, 3, padding=1)
        self.mix = nn.Conv1d(2 * filters, filters, 1)
        self.out = nn.Conv1d(filters, 1, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.drop(self.embed(ids)).transpose(1, 2)  # (n, E, L)
        h = torch.relu(self.conv1(e))  # (n, F, L)
        g = self.glob(h.amax(dim=2))  # (n, F) global information
        loc = torch.relu(self.local(h))  # (n, F, L) local information
        z = torch.cat([g[:, :, None].expand_as(loc), loc], dim=1)
        z = torch.relu(self.mix(self.drop(z)))
        return self.out(z)[:, 0, :]


class WordApproximator(nn.Module):
    """q for text: ids (n, L) and a (relaxed) position mask (n, L) -> class logits (n, C).

    The unselected words' embeddings are multiplied by their mask value (0: removed), then
    averaged over the L positions (L2X's IMDB-word ``q``)."""

    def __init__(self, vocab_size: int, n_classes: int, embed_dim: int = 50, hidden: int = 100):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.head = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.embed(ids) * mask[..., None].to(self.embed.weight.dtype)
        return self.head(e.mean(dim=1))


# ----------------------------------------------------------------------------- groups and masks
def group_index(groups: Any, d: int) -> np.ndarray:
    """Feature -> group map ``(d,)`` of ints in ``[0, G)``, every group non-empty.

    ``groups``: ``None`` (every feature its own group, G = d), ``"patches4x4"`` (d = 784: a 28x28
    image in row-major order cut into 7x7 = 49 patches of 4x4 pixels, L2X's MNIST setting), or an
    integer array ``(d,)`` naming each feature's group.
    """
    func = "group_index"
    d = check_int(d, "d", func, low=1)
    if groups is None:
        return np.arange(d, dtype=np.int64)
    if isinstance(groups, str):
        check_choice(groups, ("patches4x4",), "groups", func)
        if d != 784:
            raise param_error(func, "groups", "'patches4x4' only for 28x28 images (d=784)", groups)
        r, c = np.divmod(np.arange(784), 28)
        return ((r // 4) * 7 + c // 4).astype(np.int64)
    idx = check_index_array(groups, "groups", func)
    if idx.shape != (d,):
        raise input_error(
            func,
            "groups",
            f"must have shape ({d},), one group id per feature; got shape {idx.shape}",
        )
    if idx.min() < 0 or np.unique(idx).size != idx.max() + 1:
        raise input_error(
            func,
            "groups",
            "must use every group id 0..G-1 (none negative)",
            "renumber the groups, e.g. with np.unique(groups, return_inverse=True)",
        )
    return idx


def expand_group_mask(mask: torch.Tensor, index: Any) -> torch.Tensor:
    """Group mask ``(n, G)`` -> feature mask ``(n, d)``: feature j takes the value of its group
    ``index[j]`` (``index`` (d,) from :func:`group_index`). Differentiable; O(n d)."""
    func = "expand_group_mask"
    mask = check_scores(mask, "mask", func)
    if torch.is_tensor(index) and index.dtype == torch.long and index.ndim == 1:
        idx = index.to(mask.device)  # fast path: the explainer's own buffer
    else:
        idx = torch.as_tensor(check_index_array(index, "index", func)).to(mask.device)
    if idx.numel() == 0 or int(idx.min()) < 0 or int(idx.max()) >= mask.shape[-1]:
        raise input_error(
            func,
            "index",
            f"must hold group ids in [0, {mask.shape[-1]}) (one per feature)",
            "build it with group_index(groups, d)",
        )
    return mask.index_select(-1, idx)


def mask_input(X: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
    """``x_S``: dense ``X`` times the mask (unselected features 0); integer token ids are set to
    the pad id 0 where the mask is <= 0.5. Shapes ``(n, d)``; O(n d)."""
    func = "mask_input"
    if not torch.is_tensor(X) or X.is_complex() or X.dtype == torch.bool or X.numel() == 0:
        raise input_error(
            func,
            "X",
            "must be a non-empty real torch.Tensor (n, d)",
            kind=TypeError if not torch.is_tensor(X) or X.is_complex() else ValueError,
        )
    if X.is_floating_point():
        check_scores(X, "X", func)
    feature_mask = check_scores(feature_mask, "feature_mask", func)
    if feature_mask.shape != X.shape:
        raise input_error(
            func,
            "feature_mask",
            f"must have the shape of 'X' {tuple(X.shape)}; got shape {tuple(feature_mask.shape)}",
        )
    if X.is_floating_point():
        return X * feature_mask.to(X.dtype)
    return X * (feature_mask > 0.5).to(X.dtype)


# ----------------------------------------------------------------------------- samplers
def concrete_max_sample(
    logits: torch.Tensor,
    k: int,
    *,
    tau: float = 1.0,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L2X's relaxed subset: the element-wise max of ``k`` independent Concrete samples.

    ``c_j = softmax((logits + g_j) / tau)`` with Gumbel noise ``g_j`` (j = 1..k), and
    ``S = max_j c_j``. With ``hard=True`` it returns the discrete version, ``max_j
    one_hot(argmax c_j)``: a 0/1 mask with between 1 and k ones (a group drawn twice counts once).

    logits : Tensor (n, G); returns (n, G). O(k n G).
    """
    func = "concrete_max_sample"
    logits = check_scores(logits, "logits", func)
    if logits.ndim != 2:
        raise input_error(func, "logits", f"must be 2-d (n, G); got shape {tuple(logits.shape)}")
    generator = check_generator(generator, func, logits.device)
    k = check_int(k, "k", func, low=1, high=logits.shape[-1], high_label="G")
    tau = check_positive_float(tau, "tau", func)
    hard = check_bool(hard, "hard", func)
    n, g = logits.shape
    u = torch.rand((n, k, g), generator=generator, device=logits.device, dtype=logits.dtype)
    gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
    samples = torch.softmax((logits[:, None, :] + gumbel) / tau, dim=-1)
    if hard:
        one_hot = torch.zeros_like(samples).scatter_(-1, samples.argmax(-1, keepdim=True), 1.0)
        return one_hot.amax(dim=1)
    return samples.amax(dim=1)


def sample_mask(
    logits: torch.Tensor,
    k: int,
    *,
    sampler: str = "subset",
    tau: float = 1.0,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A relaxed (or, with ``hard``, discrete) k-subset mask ``(n, G)`` of the group logits:
    ``"subset"`` -> :func:`subsel.ops.relaxed_subset_sample` (sums to k), ``"l2x"`` ->
    :func:`concrete_max_sample` (at most k)."""
    sampler = check_choice(sampler, SAMPLERS, "sampler", "sample_mask")
    if sampler == "subset":
        return _ops.relaxed_subset_sample(logits, k, tau=tau, hard=hard, generator=generator)
    return concrete_max_sample(logits, k, tau=tau, hard=hard, generator=generator)


def distinct_features(
    logits: torch.Tensor, k: int, *, sampler: str = "subset", tau: float = 1.0, generator=None
) -> torch.Tensor:
    """Number of distinct groups ``(n,)`` in one discrete draw of the training sampler: always
    k for ``"subset"``; between 1 and k for ``"l2x"`` (L2X's flaw)."""
    with torch.no_grad():
        m = sample_mask(logits, k, sampler=sampler, tau=tau, hard=True, generator=generator)
    return (m > 0.5).sum(-1)


def read_extra(path) -> dict:
    """The ``extra`` dict saved with weights (read without building a model)."""
    func = "Explainer.load"
    if not isinstance(path, (str, os.PathLike)):
        raise param_error(func, "path", "a str or a pathlib.Path", path, kind=TypeError)
    if not os.path.isfile(path):
        raise ValueError(
            f"{func}: path {str(path)!r} is not a readable file; pass the file that save() wrote."
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{func}: path {str(path)!r} cannot be read as saved weights "
            f"({type(exc).__name__}); pass the file that save() wrote."
        ) from None
    return dict(blob.get("extra", {})) if isinstance(blob, dict) else {}
