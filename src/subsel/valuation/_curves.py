"""Addition and removal curves of data valuation (private; public through ``metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._progress import progress_range
from .._validation import (
    check_bool,
    check_embeddings,
    check_seed,
    check_values,
    input_error,
    param_error,
)
from ._metric_checks import (
    _FRACTIONS,
    DEFAULT_CURVE_FRACTIONS,
    _check_fractions,
    _check_labels,
    _count,
)

__all__ = ["ValuationCurve", "addition_curve", "removal_curve"]


# ---------------------------------------------------------------------------------------------
# addition / removal curves
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValuationCurve:
    """Test accuracy against the fraction of top-valued points added or removed.

    Attributes
    ----------
    kind : {"addition", "removal"}
        ``"addition"``: trained on the top fraction; ``"removal"``: on all points but it.
    fractions : ndarray of float64, shape (F,)
        The fractions, in the order given.
    accuracies : ndarray of float64, shape (F,)
        Test accuracy (in [0, 1]) of the model trained at each fraction.
    n_train : ndarray of int64, shape (F,)
        Number of training points at each fraction.
    n_classes_seen : ndarray of int64, shape (F,)
        Number of classes in each training subset (1: the constant prediction was used).
    """

    kind: str
    fractions: np.ndarray
    accuracies: np.ndarray
    n_train: np.ndarray
    n_classes_seen: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types (lists), e.g. for JSON records."""
        return {
            "kind": self.kind,
            "fractions": self.fractions.tolist(),
            "accuracies": self.accuracies.tolist(),
            "n_train": self.n_train.tolist(),
            "n_classes_seen": self.n_classes_seen.tolist(),
        }


def _check_model(model: Any, func: str):
    if model is None:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
        raise param_error(
            func,
            "model",
            "None or a scikit-learn classifier (with fit and predict)",
            model,
            kind=TypeError,
        )
    return model


def _fresh_model(model: Any, random_state: int, func: str):
    """A clone of ``model``; an unset ``random_state`` is fixed so that ``seed`` decides it."""
    from sklearn.base import clone

    try:
        est = clone(model)
    except (TypeError, RuntimeError) as exc:
        raise param_error(
            func,
            "model",
            "a scikit-learn compatible classifier (clonable with get_params)",
            model,
            kind=TypeError,
        ) from exc
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    if "random_state" in params and params["random_state"] is None:
        est.set_params(random_state=random_state)
    return est


def _curve(
    kind: str,
    func: str,
    values: Any,
    X: Any,
    y: Any,
    X_test: Any,
    y_test: Any,
    fractions: Any,
    model: Any,
    seed: Any,
    progress: bool,
) -> ValuationCurve:
    Xtr = check_embeddings(X, func, "X")
    n, d = Xtr.shape
    v = check_values(values, n, func, "values")
    labels = _check_labels(y, n, func, "y")
    Xte = check_embeddings(X_test, func, "X_test")
    if Xte.shape[1] != d:
        raise input_error(
            func,
            "X_test",
            f"must have the {d} columns of X; got shape {Xte.shape}",
            "embed the test points with the same features as the training points",
        )
    labels_test = _check_labels(y_test, Xte.shape[0], func, "y_test")
    unseen = np.setdiff1d(np.unique(labels_test), np.unique(labels))
    if unseen.size:
        n_bad = int(np.isin(labels_test, unseen).sum())
        raise input_error(
            func,
            "y_test",
            f"holds labels never seen in 'y' ({unseen[:5].tolist()}"
            f"{', ...' if unseen.size > 5 else ''}; {n_bad} of the {labels_test.size} test points)",
            "drop those test points or add training points of those classes",
        )
    fr = _check_fractions(fractions, func)
    progress = check_bool(progress, "progress", func)
    base = _check_model(model, func)
    rng = check_seed(seed, func)

    counts = np.array([_count(f, n) for f in fr], dtype=np.int64)
    if kind == "addition":
        sizes = np.maximum(counts, 1)
    else:
        sizes = n - counts
        if (sizes < 1).any():
            bad = float(fr[sizes < 1][0])
            raise param_error(
                func,
                "fractions",
                f"{_FRACTIONS} that leaves at least one training point (round(f * n) < n, "
                f"n={n}; entry {bad!r} removes all)",
                fractions,
            )
    # rank by descending value, ties in a random order
    order = np.lexsort((rng.permutation(n), -v))
    random_state = int(rng.integers(2**31 - 1))

    accuracies = np.empty(fr.size)
    seen = np.empty(fr.size, dtype=np.int64)
    for i in progress_range(fr.size, progress, f"{kind} curve"):
        top = order[: counts[i]] if kind == "removal" else order[: sizes[i]]
        keep = np.setdiff1d(np.arange(n), top) if kind == "removal" else np.sort(top)
        classes = np.unique(labels[keep])
        seen[i] = classes.size
        if classes.size == 1:  # most classifiers refuse one class: predict it
            pred = np.full(labels_test.shape, classes[0])
        else:
            est = _fresh_model(base, random_state, func)
            est.fit(Xtr[keep], labels[keep])
            pred = np.asarray(est.predict(Xte))
        accuracies[i] = float(np.mean(pred == labels_test))
    return ValuationCurve(
        kind=kind,
        fractions=fr,
        accuracies=accuracies,
        n_train=sizes.astype(np.int64),
        n_classes_seen=seen,
    )


_CURVE_DOC = """
    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per-point values; higher is more valuable. Finite.
    X : array-like of float, shape (n, d)
        Training features.
    y : array-like of int, shape (n,)
        Training labels (possibly noisy), integer classes.
    X_test : array-like of float, shape (n_test, d)
        Test features.
    y_test : array-like of int, shape (n_test,)
        Test labels; each must occur in ``y`` (else ``ValueError``).
    fractions : float or sequence of float in (0, 1], shape (F,), default 0.05, 0.1, ..., 0.5
        Fractions of the training set, in the order reported.
    model : scikit-learn classifier, optional
        Cloned (``sklearn.base.clone``) for every fit. Default
        ``LogisticRegression(max_iter=1000)``. A ``random_state`` left at None is set from
        ``seed`` (the same for every fraction).
    seed : None, int or numpy.random.Generator, optional
        Breaks ties in ``values`` at random and seeds the model; the same int, the same curve.
    progress : bool, default False
        Show a progress bar over the fractions.

    Returns
    -------
    ValuationCurve
        ``fractions``, ``accuracies``, ``n_train`` and ``n_classes_seen``, each of shape (F,).

    Notes
    -----
    A training subset with a single class is not fitted (most classifiers refuse it): it predicts
    that class for every test point. A subset that misses some (but not all but one) classes is
    fitted as it is; the model then never predicts the missing classes. Cost: F model fits on at
    most n points plus O(n log n) for the ranking.
"""


def addition_curve(
    values: Any,
    X: Any,
    y: Any,
    X_test: Any,
    y_test: Any,
    *,
    fractions: Sequence[float] | float = DEFAULT_CURVE_FRACTIONS,
    model: Any = None,
    seed: Any = None,
    progress: bool = False,
) -> ValuationCurve:
    return _curve(
        "addition",
        "addition_curve",
        values,
        X,
        y,
        X_test,
        y_test,
        fractions,
        model,
        seed,
        progress,
    )


def removal_curve(
    values: Any,
    X: Any,
    y: Any,
    X_test: Any,
    y_test: Any,
    *,
    fractions: Sequence[float] | float = DEFAULT_CURVE_FRACTIONS,
    model: Any = None,
    seed: Any = None,
    progress: bool = False,
) -> ValuationCurve:
    return _curve(
        "removal",
        "removal_curve",
        values,
        X,
        y,
        X_test,
        y_test,
        fractions,
        model,
        seed,
        progress,
    )


addition_curve.__doc__ = (
    """Test accuracy of a model trained on the top-valued fraction of the training set.

    For each fraction ``f`` the model is trained on the ``max(1, round(f * n))`` points of highest
    value (paper Fig. 1, top: a good valuation reaches full-data accuracy early).
"""
    + _CURVE_DOC
)
removal_curve.__doc__ = (
    """Test accuracy of a model trained on all points but the top-valued fraction.

    For each fraction ``f`` the ``round(f * n)`` points of highest value are removed and the model
    is trained on the rest (paper Fig. 1, bottom: a good valuation makes accuracy drop fast).
    Every fraction must leave at least one point.
"""
    + _CURVE_DOC
)
