"""Brute-force reference distributions over subsets, by enumeration (small n only)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def ordered_prob(weights, order) -> float:
    """Eq. (1) of Xie & Ermon: probability of drawing ``order`` without replacement."""
    w = np.asarray(weights, dtype=float)
    remaining = w.sum()
    p = 1.0
    for i in order:
        p *= w[i] / remaining
        remaining -= w[i]
    return p


def subset_prob(weights, subset) -> float:
    """Eq. (2): the sum of eq. (1) over every ordering of ``subset``."""
    return sum(ordered_prob(weights, perm) for perm in itertools.permutations(subset))


def all_subsets(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.combinations(range(n), k))


def subset_distribution(weights, k: int) -> dict[tuple[int, ...], float]:
    n = len(weights)
    return {s: subset_prob(weights, s) for s in all_subsets(n, k)}


def ordered_distribution(weights, k: int) -> dict[tuple[int, ...], float]:
    n = len(weights)
    return {s: ordered_prob(weights, s) for s in itertools.permutations(range(n), k)}


def log_binom(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
