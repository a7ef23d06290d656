"""The synthetic experiment of Xie & Ermon (section 4.1) and the relaxed top-k curves (numbers only)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from ..._validation import check_int
from ...ops import relaxed_subset_sample, relaxed_topk, subset_log_prob

__all__ = [
    "WEIGHTS",
    "TAUS",
    "TV_BOUND",
    "exact_subset_probs",
    "wilson_interval",
    "synthetic_experiment",
    "relaxed_topk_curve",
    "relaxed_topk_bars",
]

WEIGHTS = (0.1, 0.2, 0.3, 0.4)
TAUS = (0.1, 1.0, 10.0)
TV_BOUND = 0.016  # the paper's Figure 1, as stated in the issue
_CHUNK = 200_000


def exact_subset_probs(
    weights: Sequence[float], k: int
) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Brute-force ``p(S | w)``: sum eq. (1) over every ordering of every k-subset.

    Parameters
    ----------
    weights : sequence of float > 0
    k : int

    Returns
    -------
    subsets : list of tuple of int
        All k-subsets (0-based, sorted), in lexicographic order.
    probs : ndarray of float64
        ``p(S | w)`` for each subset.
    """
    w = [float(x) for x in weights]
    total = sum(w)
    subsets = list(itertools.combinations(range(len(w)), k))
    probs = []
    for subset in subsets:
        p_set = 0.0
        for order in itertools.permutations(subset):
            p, rest = 1.0, total
            for i in order:
                p *= w[i] / rest
                rest -= w[i]
            p_set += p
        probs.append(p_set)
    return subsets, np.array(probs)


def wilson_interval(count: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``count / n`` (95% by default)."""
    from scipy.stats import binomtest

    ci = binomtest(int(count), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _count_subsets(
    logits: torch.Tensor,
    k: int,
    tau: float,
    num_samples: int,
    generator: torch.Generator,
    index: dict[tuple[int, ...], int],
) -> np.ndarray:
    """Draw relaxed samples, take the top-k entries of each, and count the subsets."""
    counts = np.zeros(len(index), dtype=np.int64)
    # Each subset gets a unique code from its sorted indices (base n).
    n = logits.shape[-1]
    code_to_slot = {sum(i * n**j for j, i in enumerate(s)): slot for s, slot in index.items()}
    done = 0
    while done < num_samples:
        m = min(_CHUNK, num_samples - done)
        a = relaxed_subset_sample(logits.expand(m, n), k, tau=tau, generator=generator)
        top = a.topk(k, dim=-1).indices.sort(dim=-1).values
        codes = (top * (n ** torch.arange(k))).sum(-1)
        uniq, cnt = torch.unique(codes, return_counts=True)
        for c, v in zip(uniq.tolist(), cnt.tolist(), strict=True):
            counts[code_to_slot[c]] += v
        done += m
    return counts


def synthetic_experiment(
    num_samples: int = 10000, seed: int = 0, taus: Sequence[float] = TAUS
) -> dict:
    """The synthetic experiment of Xie & Ermon, section 4.1 (Figure 1).

    ``w = [0.1, 0.2, 0.3, 0.4]``, ``k = 2``. For each temperature, ``num_samples`` relaxed samples
    are drawn with :func:`~subsel.ops.relaxed_subset_sample`; each becomes a subset by taking the
    top-k entries of the relaxed vector. The empirical frequencies of the 6 subsets are compared to
    the exact ``p(S | w)`` by total-variation distance ``0.5 * sum |empirical - exact|``.

    Parameters
    ----------
    num_samples : int >= 1
        Samples per temperature.
    seed : int >= 0
        Seeds one ``torch.Generator``; the temperatures draw independent samples in turn from it.
    taus : sequence of float > 0

    Returns
    -------
    dict
        ``weights``, ``k``, ``taus``, ``num_samples``, ``seed``; ``subsets`` (0-based tuples),
        ``labels`` (1-based, like ``"{1,2}"``); ``exact`` (brute force over orderings of eq. 1) and
        ``exact_check`` (max abs difference to ``exp(subset_log_prob)``); per temperature (keyed by
        tau) ``counts``, ``freq``, ``intervals`` (95% Wilson score intervals, see
        ``interval_method``) and ``tv``; ``tv_bound`` (0.016); ``tv_exact_sampler`` (mean and 95th
        percentile of the TV of an exact sampler with the same ``num_samples``, by simulation: the
        TV expected from sampling noise alone).
    """
    num_samples = check_int(num_samples, "num_samples", "synthetic_experiment", low=1)
    seed = check_int(seed, "seed", "synthetic_experiment", low=0)
    k = 2
    subsets, exact = exact_subset_probs(WEIGHTS, k)
    logits = torch.tensor(WEIGHTS, dtype=torch.float64).log()
    masks = torch.zeros(len(subsets), len(WEIGHTS), dtype=torch.float64)
    for row, s in enumerate(subsets):
        masks[row, list(s)] = 1.0
    via_ops = subset_log_prob(logits.expand_as(masks), masks).exp().numpy()
    index = {s: i for i, s in enumerate(subsets)}
    gen = torch.Generator().manual_seed(seed)
    result = {
        "weights": list(WEIGHTS),
        "k": k,
        "taus": [float(t) for t in taus],
        "num_samples": num_samples,
        "seed": seed,
        "subsets": subsets,
        "labels": ["{" + ",".join(str(i + 1) for i in s) + "}" for s in subsets],
        "exact": exact.tolist(),
        "exact_check": float(np.abs(via_ops - exact).max()),
        "interval_method": "Wilson score, 95%",
        "tv_bound": TV_BOUND,
        "counts": {},
        "freq": {},
        "intervals": {},
        "tv": {},
    }
    for tau in result["taus"]:
        counts = _count_subsets(logits, k, tau, num_samples, gen, index)
        freq = counts / num_samples
        result["counts"][tau] = counts.tolist()
        result["freq"][tau] = freq.tolist()
        result["intervals"][tau] = [wilson_interval(int(c), num_samples) for c in counts]
        result["tv"][tau] = float(0.5 * np.abs(freq - exact).sum())
    sim = np.random.default_rng(seed).multinomial(num_samples, exact, size=4000) / num_samples
    sim_tv = 0.5 * np.abs(sim - exact).sum(-1)
    result["tv_exact_sampler"] = {
        "mean": float(sim_tv.mean()),
        "p95": float(np.quantile(sim_tv, 0.95)),
    }
    return result


def relaxed_topk_curve(
    scores: Sequence[float] = (1.0, 2.0), k: int = 2, taus: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``relaxed_topk(scores, k, tau)`` for a range of temperatures.

    Returns
    -------
    taus : ndarray, shape (T,)
        By default 61 points in ``logspace(-1.5, 1.5)``.
    outputs : ndarray, shape (T, n)
    """
    taus = np.logspace(-1.5, 1.5, 61) if taus is None else np.asarray(taus, dtype=float)
    x = torch.tensor(scores, dtype=torch.float64)
    outs = np.stack([relaxed_topk(x, k, tau=float(t)).numpy() for t in taus])
    return taus, outs


def relaxed_topk_bars(n: int = 10, k: int = 3, seed: int = 0, taus: Sequence[float] = TAUS) -> dict:
    """Random scores (standard normal, seeded), their relaxed top-k at each tau and the hard mask."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    hard = torch.zeros(n, dtype=torch.float64).scatter_(0, x.topk(k).indices, 1.0)
    return {
        "scores": x.numpy(),
        "k": k,
        "hard": hard.numpy(),
        "relaxed": {float(t): relaxed_topk(x, k, tau=float(t)).numpy() for t in taus},
    }
