"""The standard evaluations of data valuation and high-value subset selection.

What the HOST-CP paper (and pyDVL / OpenDataVal) report for a vector of per-point ``values``
(higher = more valuable):

- :func:`addition_curve`, :func:`removal_curve`: test accuracy of a classifier trained on the
  top-valued fraction of the training set, or on the training set without it (paper Fig. 1);
- :func:`mislabel_detection`: the share of flipped labels found among the lowest-valued fraction
  (paper Table 1), :func:`mislabel_f1_2means` (OpenDataVal's 2-means F1) and :func:`mislabel_auc`;
- :func:`ndcg_at_k`: NDCG@k of the ascending-value ranking against "flipped" (paper section 4.5);
- :func:`class_balance`: the class make-up of a selected subset (paper Fig. 3);
- :func:`flip_labels`: the flipped-labels protocol that makes the ground truth for the above.

Direction: **low value = suspicious**. Every mislabel metric ranks points by ascending value, so a
valuation that scores suspicious points high must be negated first.

Ties in ``values`` never depend on the input order. The ranking metrics (:func:`mislabel_detection`,
:func:`ndcg_at_k`, :func:`mislabel_auc`) return the *expectation* over a uniformly random order of
tied points, computed exactly (a constant valuation scores exactly what a random one scores on
average); the curves, which must pick concrete points, break ties at random with ``seed``.

Counts: a fraction ``f`` of ``n`` points is ``round(f * n)`` points (Python's ``round``, half to
even).

Imports numpy and :mod:`subsel._validation`; scikit-learn only inside the curve functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import (
    check_indices,
    check_int,
    check_real,
    check_seed,
    check_values,
    input_error,
)
from ._curves import ValuationCurve, addition_curve, removal_curve
from ._metric_checks import (
    DEFAULT_CURVE_FRACTIONS,
    DEFAULT_INSPECT_FRACTIONS,
    _check_flipped,
    _check_fractions,
    _check_labels,
    _count,
)

__all__ = [
    "DEFAULT_CURVE_FRACTIONS",
    "DEFAULT_INSPECT_FRACTIONS",
    "ClassBalance",
    "ValuationCurve",
    "addition_curve",
    "class_balance",
    "flip_labels",
    "mislabel_auc",
    "mislabel_detection",
    "mislabel_f1_2means",
    "ndcg_at_k",
    "removal_curve",
]


# ---------------------------------------------------------------------------------------------
# ranking metrics
# ---------------------------------------------------------------------------------------------
def _mean_relevance_ascending(values: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Relevance at each position of the ascending-value ranking, tied points averaged.

    Entry ``p`` is the expected relevance of the point at position ``p`` (0-based) when tied
    points are put in a uniformly random order: the mean relevance of its tie group. Without ties
    it is simply ``rel[argsort(values)]``. O(n log n).
    """
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    group_rel = np.bincount(inverse, weights=rel.astype(np.float64), minlength=uniq.size)
    return np.repeat(group_rel / counts, counts)


def mislabel_detection(
    values: Any, flipped: Any, *, fractions: Any = DEFAULT_INSPECT_FRACTIONS
) -> np.ndarray:
    """Share of the flipped labels found among the lowest-valued fraction of points (Table 1).

    For each fraction ``f`` the ``m = round(f * n)`` points of lowest value are inspected; the
    result is ``|flipped among them| / |flipped|`` (a recall). Low value = suspicious. Points tied
    in value across the cut-off count by expectation over a random order of the tie group, so a
    constant valuation scores exactly ``m / n``, what random inspection finds on average.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per-point values; higher is more valuable. Finite.
    flipped : array-like of bool or {0, 1}, shape (n,)
        Ground truth: True where the label was flipped. At least one True.
    fractions : float or sequence of float in (0, 1], shape (F,), default (0.2, 0.4, 0.6, 0.8)
        Inspected fractions.

    Returns
    -------
    found : ndarray of float64, shape (F,)
        Share of flipped points found at each fraction, in [0, 1]. A perfect ranking gives
        ``min(1, m / |flipped|)``.

    Notes
    -----
    Time O(n log n + F), memory O(n).
    """
    func = "mislabel_detection"
    v = check_values(values, None, func, "values")
    mask = _check_flipped(flipped, v.shape[0], func)
    fr = _check_fractions(fractions, func)
    n = v.shape[0]
    cum = np.concatenate([[0.0], np.cumsum(_mean_relevance_ascending(v, mask))])
    m = np.array([_count(f, n) for f in fr], dtype=np.int64)
    return np.clip(cum[m] / mask.sum(), 0.0, 1.0)


def ndcg_at_k(values: Any, flipped: Any, k: int) -> float:
    """NDCG@k of the ranking by ascending value against the binary relevance "flipped" (4.5).

    With the points sorted by ascending value (position ``i = 1`` is the lowest value), relevance
    ``r_i = 1`` for a flipped point and 0 otherwise, and ``F = |flipped|``::

        DCG@k  = sum_{i=1}^{k} r_i / log2(i + 1)
        IDCG@k = sum_{i=1}^{min(k, F)} 1 / log2(i + 1)
        NDCG@k = DCG@k / IDCG@k                       in [0, 1]

    The ideal ranking puts every flipped point first. Tied values are scored by the expected DCG
    over a uniformly random order of each tie group (equal to scikit-learn's ``ndcg_score`` with
    ``ignore_ties=False``). The paper's "k%" is ``k = round(k_percent / 100 * n)``.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per-point values; higher is more valuable. Finite.
    flipped : array-like of bool or {0, 1}, shape (n,)
        Ground truth: True where the label was flipped. At least one True.
    k : int in [1, n]
        Number of top (lowest-valued) positions scored.

    Returns
    -------
    float
        NDCG@k in [0, 1]; 1 when the ``min(k, F)`` lowest values are all flipped points.

    Notes
    -----
    Time O(n log n), memory O(n).
    """
    func = "ndcg_at_k"
    v = check_values(values, None, func, "values")
    mask = _check_flipped(flipped, v.shape[0], func)
    n = v.shape[0]
    k = check_int(k, "k", func, low=1, high=n, high_label="n", extra=f" (n={n})")
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = float(_mean_relevance_ascending(v, mask)[:k] @ discount)
    idcg = float(discount[: min(k, int(mask.sum()))].sum())
    return min(1.0, dcg / idcg)


def mislabel_auc(values: Any, flipped: Any) -> float:
    """ROC AUC of ``-values`` as a score for "flipped" (low value = suspicious).

    The probability that a random flipped point has a lower value than a random clean one, ties
    counted 1/2 (the Mann-Whitney statistic; equal to
    ``sklearn.metrics.roc_auc_score(flipped, -values)``). 0.5 is chance, 1 a perfect separation.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per-point values; higher is more valuable. Finite.
    flipped : array-like of bool or {0, 1}, shape (n,)
        Ground truth; at least one flipped and one clean point.

    Returns
    -------
    float
        AUC in [0, 1].

    Notes
    -----
    Time O(n log n) (tie-averaged ranks), memory O(n).
    """
    func = "mislabel_auc"
    v = check_values(values, None, func, "values")
    mask = _check_flipped(flipped, v.shape[0], func, both=True)
    score = -v
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    start = np.cumsum(counts) - counts  # 0-based first position of each tie group
    ranks = (start + (counts + 1) / 2.0)[inverse]  # 1-based average ranks
    pos = int(mask.sum())
    neg = mask.size - pos
    u = ranks[mask].sum() - pos * (pos + 1) / 2.0
    return float(u / (pos * neg))


def _two_means_split(values: np.ndarray) -> float | None:
    """Threshold of the optimal 1-d 2-means clustering, or None when all values are equal.

    In 1-d an optimal 2-clustering is contiguous in sorted order, so scanning the ``n - 1`` cuts
    between distinct consecutive values with prefix sums finds the global optimum of the k-means
    objective (which Lloyd's algorithm / ``KMeans`` only approximates). Returns the largest value
    of the low cluster. O(n log n).
    """
    s = np.sort(values)
    n = s.size
    cut = np.flatnonzero(s[1:] != s[:-1]) + 1  # sizes of the low cluster at admissible cuts
    if cut.size == 0:
        return None
    # centre so that the prefix-sum form of the SSE does not lose precision
    x = s - s.mean()
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    left = c2[cut] - c1[cut] ** 2 / cut
    right = (c2[n] - c2[cut]) - (c1[n] - c1[cut]) ** 2 / (n - cut)
    best = cut[int(np.argmin(left + right))]
    return float(s[best - 1])


def mislabel_f1_2means(values: Any, flipped: Any) -> float:
    """OpenDataVal's mislabel F1: 2-means on the values, the low cluster predicted as flipped.

    The values are split into two clusters minimizing the within-cluster sum of squares (solved
    exactly: in 1-d the optimum is a threshold, found by scanning the sorted values); points in
    the cluster with the lower mean are predicted mislabeled and scored against ``flipped`` by
    ``F1 = 2 TP / (2 TP + FP + FN)``. When all values are equal there is no split, nothing is
    predicted and F1 is 0.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Per-point values; higher is more valuable. Finite.
    flipped : array-like of bool or {0, 1}, shape (n,)
        Ground truth; at least one True.

    Returns
    -------
    float
        F1 in [0, 1].

    Notes
    -----
    Time O(n log n), memory O(n). Deterministic (no seed): scikit-learn's ``KMeans`` reaches the
    same clusters when its initialisation finds the global optimum.
    """
    func = "mislabel_f1_2means"
    v = check_values(values, None, func, "values")
    mask = _check_flipped(flipped, v.shape[0], func)
    threshold = _two_means_split(v)
    if threshold is None:
        return 0.0
    pred = v <= threshold
    tp = int((pred & mask).sum())
    return 2.0 * tp / (int(pred.sum()) + int(mask.sum()))


# ---------------------------------------------------------------------------------------------
# class balance
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassBalance:
    """The class make-up of a selected subset (paper Fig. 3).

    Attributes
    ----------
    classes : ndarray of int64, shape (C,)
        Every class present in the full label vector, ascending.
    counts : ndarray of int64, shape (C,)
        Selected points per class (0 for a class the subset misses).
    shares : ndarray of float64, shape (C,)
        ``counts / counts.sum()``.
    population_shares : ndarray of float64, shape (C,)
        Class shares in the full label vector, for comparison.
    entropy : float
        Shannon entropy of ``shares`` in nats (``0 log 0 = 0``).
    normalized_entropy : float
        ``entropy / log(C)`` in [0, 1]: 1 for a perfectly balanced subset (1.0 when C = 1).
    max_min_ratio : float
        ``max(counts) / min(counts)``: 1 when balanced, ``inf`` when a class is missing.
    """

    classes: np.ndarray
    counts: np.ndarray
    shares: np.ndarray
    population_shares: np.ndarray
    entropy: float
    normalized_entropy: float
    max_min_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types (lists, floats), e.g. for JSON records."""
        return {
            "classes": self.classes.tolist(),
            "counts": self.counts.tolist(),
            "shares": self.shares.tolist(),
            "population_shares": self.population_shares.tolist(),
            "entropy": self.entropy,
            "normalized_entropy": self.normalized_entropy,
            "max_min_ratio": self.max_min_ratio,
        }


def class_balance(selected: Any, y: Any) -> ClassBalance:
    """Per-class counts and shares of a selected subset, with entropy and max/min summaries.

    Parameters
    ----------
    selected : array-like of int, shape (s,), or bool mask, shape (n,)
        The selected points: distinct indices into ``y`` or a boolean mask. Not empty.
    y : array-like of int, shape (n,)
        Class labels of all points; the classes reported are those present in ``y``.

    Returns
    -------
    ClassBalance

    Notes
    -----
    Time O(n log n + s), memory O(n).
    """
    func = "class_balance"
    labels = _check_labels(y, None, func)
    idx = check_indices(selected, labels.shape[0], "selected", func)
    if idx.size == 0:
        raise input_error(func, "selected", "is empty", "select at least one point")
    classes, inverse = np.unique(labels, return_inverse=True)
    C = classes.size
    counts = np.bincount(inverse[idx], minlength=C).astype(np.int64)
    shares = counts / counts.sum()
    population = np.bincount(inverse, minlength=C) / labels.shape[0]
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    normalized = entropy / np.log(C) if C > 1 else 1.0
    ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
    return ClassBalance(
        classes=classes.astype(np.int64),
        counts=counts,
        shares=shares,
        population_shares=population,
        entropy=entropy,
        normalized_entropy=float(min(1.0, normalized)),
        max_min_ratio=ratio,
    )


# ---------------------------------------------------------------------------------------------
# flipped labels
# ---------------------------------------------------------------------------------------------
def flip_labels(
    y: Any, fraction: float, *, seed: Any = None, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flip a fraction of the labels, each to a different class drawn uniformly at random.

    Exactly ``m = round(fraction * n)`` points, drawn uniformly without replacement, get a new
    label drawn uniformly from the ``C - 1`` classes other than their own (for two classes: the
    other class). This is the paper's 10%-flipped protocol (``fraction=0.1``).

    Parameters
    ----------
    y : array-like of int, shape (n,)
        Clean class labels.
    fraction : float in [0, 1]
        Share of points to flip.
    seed : None, int or numpy.random.Generator, optional
        Randomness; the same int gives the same flips.
    n_classes : int >= 2, optional
        Classes are ``0 .. n_classes - 1`` (``y`` must lie in that range; a flipped label may
        move to a class absent from ``y``). By default the classes are those present in ``y``.

    Returns
    -------
    y_noisy : ndarray of int64, shape (n,)
        A copy of ``y`` with the flipped labels.
    flipped : ndarray of bool, shape (n,)
        True exactly at the ``m`` flipped points.

    Notes
    -----
    Time O(n log n), memory O(n).
    """
    func = "flip_labels"
    labels = _check_labels(y, None, func)
    fraction = check_real(fraction, "fraction", func, low=0.0, high=1.0)
    rng = check_seed(seed, func)
    if n_classes is None:
        classes = np.unique(labels)
        if classes.size < 2:
            raise input_error(
                func,
                "y",
                f"holds a single class ({int(classes[0])}), so no label can change",
                "pass n_classes to flip into classes absent from y",
            )
    else:
        n_classes = check_int(n_classes, "n_classes", func, low=2)
        out = (labels < 0) | (labels >= n_classes)
        if out.any():
            raise input_error(
                func,
                "y",
                f"must hold labels in [0, {n_classes - 1}] (n_classes={n_classes}); got "
                f"{int(out.sum())} outside (e.g. {int(labels[out][0])})",
                "raise n_classes or encode y with np.unique(y, return_inverse=True)",
            )
        classes = np.arange(n_classes, dtype=np.int64)
    n, C = labels.shape[0], classes.size
    m = _count(fraction, n)
    chosen = rng.choice(n, size=m, replace=False) if m else np.zeros(0, dtype=np.int64)
    position = np.searchsorted(classes, labels[chosen])
    shift = rng.integers(1, C, size=m)  # uniform over the C - 1 other classes
    y_noisy = labels.copy()
    y_noisy[chosen] = classes[(position + shift) % C]
    flipped = np.zeros(n, dtype=bool)
    flipped[chosen] = True
    return y_noisy, flipped
