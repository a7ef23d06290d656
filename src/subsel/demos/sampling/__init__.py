"""Demo section: subset sampling and relaxed top-k (Xie & Ermon, 2019).

Reproduces the synthetic experiment of section 4.1 (their Figure 1), plots the relaxed top-k
operator against the temperature, and shows the speed records of ``benchmarks/topk_ops.py``.
Everything is seeded and deterministic.

- :mod:`.experiments`: the numbers (exact p(S|w), relaxed-sample frequencies, curves);
- :mod:`.figures`: matplotlib figures of them;
- :mod:`.results`: the benchmark records;
- :mod:`.section`: the report section that puts them together.
"""

from .experiments import (
    TAUS,
    TV_BOUND,
    WEIGHTS,
    exact_subset_probs,
    relaxed_topk_bars,
    relaxed_topk_curve,
    synthetic_experiment,
    wilson_interval,
)
from .figures import plot_bars, plot_frequencies, plot_speed, plot_tau_curve
from .results import BENCH_FILE, load_benchmark_rows, speed_series
from .section import TITLE, build_section

__all__ = [
    "TITLE",
    "WEIGHTS",
    "TAUS",
    "TV_BOUND",
    "BENCH_FILE",
    "exact_subset_probs",
    "wilson_interval",
    "synthetic_experiment",
    "relaxed_topk_curve",
    "relaxed_topk_bars",
    "load_benchmark_rows",
    "speed_series",
    "plot_frequencies",
    "plot_tau_curve",
    "plot_bars",
    "plot_speed",
    "build_section",
]
