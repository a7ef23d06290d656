"""Statistical assertions with tolerances derived from the sample size.

Every check here is calibrated so that a correct sampler fails with probability at most ``alpha``
(default 1e-6), and a wrong one fails once the sample is large enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ALPHA = 1e-6


def chi_square_pvalue(counts: Sequence[int], probs: Sequence[float]) -> float:
    """Pearson chi-square goodness-of-fit p-value of ``counts`` against ``probs``.

    Cells with expected count below 5 make the approximation unreliable; callers choose sample
    sizes so that every expected count is far above that.
    """
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float)
    if abs(probs.sum() - 1) > 1e-9:
        raise ValueError(f"probabilities sum to {probs.sum()}, not 1")
    expected = counts.sum() * probs
    if expected.min() < 5:
        raise ValueError(f"expected count {expected.min():.2f} < 5: raise the sample size")
    return float(stats.chisquare(counts, expected).pvalue)


def assert_matches_distribution(counts, probs, *, alpha: float = ALPHA) -> None:
    """Fail unless ``counts`` are consistent with ``probs`` at level ``alpha``.

    Two checks, with the level split between them: the chi-square test, and for every cell a
    two-sided normal bound on the frequency, Bonferroni-corrected over the cells.
    """
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float)
    p_value = chi_square_pvalue(counts, probs)
    assert p_value > alpha / 2, f"chi-square p-value {p_value:.3g} <= {alpha / 2:g}"
    n = counts.sum()
    z = stats.norm.isf(alpha / 4 / len(probs))
    freq = counts / n
    tol = z * np.sqrt(probs * (1 - probs) / n) + 1.0 / n
    worst = np.max(np.abs(freq - probs) - tol)
    assert worst <= 0, f"a cell frequency is off by {worst:.3g} beyond its tolerance"


def mean_within(samples: np.ndarray, target, *, alpha: float = ALPHA) -> None:
    """Fail unless the mean of ``samples`` (axis 0) is within z * standard error of ``target``."""
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[0]
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / math.sqrt(n)
    cells = max(1, int(np.size(mean)))
    z = stats.norm.isf(alpha / 2 / cells)
    err = np.abs(mean - np.asarray(target))
    assert np.all(err <= z * se + 1e-12), (
        f"mean off by {np.max(err / np.maximum(se, 1e-300)):.2f} SE"
    )
