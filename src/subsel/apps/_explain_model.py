"""The :class:`~subsel.apps.explain.Explainer` module (explainer and variational approximator)
and the input check the explanation functions share; re-exported by :mod:`subsel.apps.explain`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import (
    as_real_array,
    check_embeddings,
    check_index_array,
    check_int,
    input_error,
    param_error,
)
from ._explain_nets import (
    DenseMLP,
    PatchCNN,
    WordApproximator,
    WordExplainer,
    expand_group_mask,
    group_index,
    read_extra,
)
from ._weights import load_weights, save_weights


# ----------------------------------------------------------------------------- helpers
def _check_X(
    X: Any, func: str, *, text: bool | None = None, d: int | None = None, name: str = "X"
) -> torch.Tensor:
    """Dense float32 ``(n, d)`` or token ids int64 ``(n, L)`` (integer dtype means text)."""
    if torch.is_tensor(X):
        is_int = not X.is_floating_point() and not X.is_complex() and X.dtype != torch.bool
    else:
        is_int = np.issubdtype(as_real_array(X, name, func).dtype, np.integer)
    if text is None:
        text = is_int
    if text:
        if not is_int:
            raise input_error(
                func, name, "must hold integer token ids for a text explainer", kind=TypeError
            )
        arr = check_index_array(X.cpu() if torch.is_tensor(X) else X, name, func, ndim=2)
        if arr.size == 0 or arr.min() < 0:
            raise input_error(func, name, "must be non-empty with token ids >= 0")
        t = torch.as_tensor(arr)
    else:
        dev = X.device if torch.is_tensor(X) else "cpu"
        t = torch.as_tensor(check_embeddings(X, func, name, dtype=np.float32)).to(dev)
    if d is not None and t.shape[1] != d:
        raise input_error(func, name, f"must have {d} columns; got shape {tuple(t.shape)}")
    return t


# ----------------------------------------------------------------------------- the model
class Explainer(nn.Module):
    """Explainer ``E`` (group logits) and approximator ``q`` (class logits of ``x_S``).

    Parameters
    ----------
    d : int
        Features per input (pixels; token positions for text).
    k : int
        Groups to select, 1 <= k <= G.
    n_classes : int
        Classes of the black box (>= 2).
    groups : None, "patches4x4" or int array (d,)
        Feature groups (:func:`group_index`); "patches4x4" uses a CNN explainer
        (:class:`PatchCNN`), the others an MLP. Must be None for text.
    vocab_size : int, optional
        Given for text: inputs are token ids in ``[0, vocab_size)`` (0 = pad) and E, q are word
        CNNs (L2X's IMDB-word networks).
    hidden : int
        Width of the MLP layers (and of the word networks' filters).

    Cost: one forward is O(n d hidden) (MLP) or O(n L E F) (text).
    """

    def __init__(
        self,
        d: int,
        k: int,
        n_classes: int,
        *,
        groups: Any = None,
        vocab_size: int | None = None,
        hidden: int = 200,
    ):
        super().__init__()
        func = "Explainer"
        d = check_int(d, "d", func, low=1)
        n_classes = check_int(n_classes, "n_classes", func, low=2)
        hidden = check_int(hidden, "hidden", func, low=1)
        if vocab_size is not None:
            vocab_size = check_int(vocab_size, "vocab_size", func, low=2)
            if groups is not None:
                raise param_error(func, "groups", "None for text (vocab_size given)", groups)
        idx = group_index(groups, d)
        self.n_groups = int(idx.max()) + 1
        self.k = check_int(k, "k", func, low=1, high=self.n_groups, high_label="G")
        self.d, self.n_classes, self.vocab_size, self.hidden = d, n_classes, vocab_size, hidden
        self._groups = groups if isinstance(groups, str) or groups is None else idx.tolist()
        self.register_buffer("group_index", torch.as_tensor(idx))
        if vocab_size is not None:
            self.explainer = WordExplainer(vocab_size, filters=hidden)
            self.approximator = WordApproximator(vocab_size, n_classes, hidden=hidden)
        else:
            self.explainer = (
                PatchCNN() if self._groups == "patches4x4" else DenseMLP(d, self.n_groups, hidden)
            )
            self.approximator = DenseMLP(d, n_classes, hidden)

    @property
    def is_text(self) -> bool:
        return self.vocab_size is not None

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Group logits ``(n, G)`` of inputs ``(n, d)``."""
        return self.explainer(X)

    def expand(self, group_mask: torch.Tensor) -> torch.Tensor:
        """Group mask ``(n, G)`` -> feature mask ``(n, d)``."""
        return expand_group_mask(group_mask, self.group_index)

    def approximate(self, X: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        """Class logits ``(n, C)`` of q on ``x_S`` (the mask may be relaxed)."""
        if self.is_text:
            return self.approximator(X, feature_mask)
        return self.approximator(X * feature_mask.to(X.dtype))

    @torch.no_grad()
    def select(self, X: Any, *, batch_size: int = 1024) -> torch.Tensor:
        """Deterministic explanation: the k-hot group mask ``(n, G)`` of the top-k logits."""
        X = _check_X(X, "Explainer.select", text=self.is_text, d=self.d).to(self.group_index.device)
        batch_size = check_int(batch_size, "batch_size", "Explainer.select", low=1)
        was = self.training
        self.eval()
        out = []
        for s in range(0, X.shape[0], batch_size):
            logits = self(X[s : s + batch_size])
            top = logits.topk(self.k, dim=-1).indices
            out.append(torch.zeros_like(logits).scatter_(-1, top, 1.0))
        self.train(was)
        return torch.cat(out)

    def feature_mask(self, X: Any, *, batch_size: int = 1024) -> torch.Tensor:
        """:meth:`select` expanded to the features, ``(n, d)``."""
        return self.expand(self.select(X, batch_size=batch_size))

    def _config(self) -> dict:
        return {
            "d": self.d,
            "k": self.k,
            "n_classes": self.n_classes,
            "groups": self._groups,
            "vocab_size": self.vocab_size,
            "hidden": self.hidden,
        }

    def save(self, path) -> Any:
        """Write the weights and the settings to ``path`` (atomic); returns the path."""
        return save_weights(self, path, func="Explainer.save", extra={"config": self._config()})

    @classmethod
    def load(cls, path, *, map_location="cpu") -> Explainer:
        """An explainer rebuilt from the settings in ``path`` with its saved weights."""
        extra = read_extra(path)
        cfg = extra.get("config") if isinstance(extra, dict) else None
        if not isinstance(cfg, dict):
            raise ValueError(
                f"Explainer.load: path {str(path)!r} holds no explainer settings; "
                "pass the file that Explainer.save() wrote."
            )
        model = cls(
            cfg["d"],
            cfg["k"],
            cfg["n_classes"],
            groups=cfg["groups"],
            vocab_size=cfg["vocab_size"],
            hidden=cfg["hidden"],
        )
        load_weights(model, path, func="Explainer.load", map_location=map_location)
        return model.eval()


Explainer.__module__ = "subsel.apps.explain"
