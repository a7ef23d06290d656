"""Shared pieces of the valuation baselines (private): input checks and the base class."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._selector import ParamsMixin
from .._validation import (
    check_embeddings,
    input_error,
)
from ._metric_checks import _check_labels


# ---------------------------------------------------------------------------------------------
# shared input checks
# ---------------------------------------------------------------------------------------------
def _check_data(X: Any, y: Any, X_val: Any, y_val: Any, func: str):
    """Check a training and a validation set; encode labels as indices into the training classes.

    Returns ``X`` (n, d) float64, ``y`` (n,) int64 in [0, C), ``X_val`` (m, d), ``y_val`` (m,)
    in [0, C) and ``classes`` (C,), the sorted distinct training labels.
    """
    Xtr = check_embeddings(X, func, "X", distances=True)
    n, d = Xtr.shape
    labels = _check_labels(y, n, func, "y")
    Xv = check_embeddings(X_val, func, "X_val", distances=True)
    if Xv.shape[1] != d:
        raise input_error(
            func,
            "X_val",
            f"must have the {d} columns of X; got shape {Xv.shape}",
            "embed the validation points with the same features as the training points",
        )
    labels_val = _check_labels(y_val, Xv.shape[0], func, "y_val")
    classes = np.unique(labels)
    unseen = np.setdiff1d(np.unique(labels_val), classes)
    if unseen.size:
        n_bad = int(np.isin(labels_val, unseen).sum())
        raise input_error(
            func,
            "y_val",
            f"holds labels never seen in 'y' ({unseen[:5].tolist()}"
            f"{', ...' if unseen.size > 5 else ''}; {n_bad} of the {labels_val.size} "
            "validation points)",
            "drop those validation points or add training points of those classes",
        )
    return (
        Xtr,
        np.searchsorted(classes, labels),
        Xv,
        np.searchsorted(classes, labels_val),
        classes,
    )


def _torch_generator(rng: np.random.Generator):
    import torch

    return torch.Generator().manual_seed(int(rng.integers(0, 2**62)))


def _import_torch(func: str):
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a core dependency
        raise ImportError(f"{func} needs PyTorch; install it with `pip install torch`.") from exc
    return torch


class _Valuation(ParamsMixin):
    """The one ``fit`` of every baseline: the settings are checked (``_settings``, which returns
    them by name), then the data (:func:`_check_data`), then ``_fit`` values the training points
    and sets ``values_`` and its own attributes; ``classes_`` and ``seconds_`` are set here."""

    values_: np.ndarray
    seconds_: float
    classes_: np.ndarray

    def fit(self, X, y, X_val, y_val):
        """Value the training points (``values_``, higher = more valuable).

        Parameters
        ----------
        X, y, X_val, y_val : arrays of shapes (n, d), (n,), (m, d), (m,)
            Training points and integer labels; validation points and labels (seen in ``y``).

        Returns
        -------
        self
        """
        func = f"{type(self).__name__}.fit"
        t0 = time.perf_counter()
        settings = self._settings(func)
        Xtr, ytr, Xv, yv, classes = _check_data(X, y, X_val, y_val, func)
        self._fit(func, Xtr, ytr, Xv, yv, classes, **settings)
        self.classes_ = classes
        self.seconds_ = time.perf_counter() - t0
        return self

    def _settings(self, func: str) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, func, Xtr, ytr, Xv, yv, classes, **settings) -> None:  # pragma: no cover
        raise NotImplementedError
