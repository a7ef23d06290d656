"""Saving and loading the weights of the models in :mod:`subsel.apps` (one way for all of them).

Weights are written atomically (a temporary file, then a rename: a killed run never leaves a
half-written file) and read with ``torch.load(weights_only=True)``: nothing a user hands in is
unpickled.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from subsel._io import atomic_write_bytes
from subsel._validation import param_error

__all__ = ["save_weights", "load_weights"]


def _check_path(path, name: str, func: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise param_error(func, name, "a str or a pathlib.Path", path, kind=TypeError)
    return Path(path)


def save_weights(module: nn.Module, path, *, func: str, extra: dict | None = None) -> Path:
    """Write ``module.state_dict()`` (and ``extra``, plain data: numbers, strings, lists, tensors)
    to ``path`` atomically; returns the path."""
    path = _check_path(path, "path", func)
    buf = io.BytesIO()
    torch.save({"state_dict": module.state_dict(), "extra": dict(extra or {})}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_weights(module: nn.Module, path, *, func: str, map_location="cpu") -> dict:
    """Load weights written by :func:`save_weights` into ``module`` (strictly: every name and
    shape must match); returns the ``extra`` dict saved with them.

    Raises ``ValueError`` naming ``path`` for a missing, empty or unreadable file, or one whose
    weights do not fit ``module`` (a model built with other settings).
    """
    path = _check_path(path, "path", func)
    if not path.is_file():
        raise ValueError(
            f"{func}: path {str(path)!r} is not a readable file; pass the file that save() wrote."
        )
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any unreadable file is the same user error
        raise ValueError(
            f"{func}: path {str(path)!r} cannot be read as saved weights ({type(exc).__name__}); "
            "pass the file that save() wrote."
        ) from None
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ValueError(
            f"{func}: path {str(path)!r} does not hold weights saved by subsel; pass the file "
            "that save() wrote."
        )
    try:
        module.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines()]
        first = " ".join(lines[1:3] or lines)[:300]
        raise ValueError(
            f"{func}: path {str(path)!r} holds weights of another architecture ({first}); build "
            "the model with the settings it was saved with."
        ) from None
    return dict(blob.get("extra", {}))
