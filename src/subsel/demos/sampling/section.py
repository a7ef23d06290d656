"""The sampling section of the demo report: HTML around the experiments, figures and records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ...ops import relaxed_topk
from ...report import Section, esc, html_table, save_figure
from .experiments import relaxed_topk_bars, relaxed_topk_curve, synthetic_experiment
from .figures import plot_bars, plot_frequencies, plot_speed, plot_tau_curve
from .results import _bench_candidates, load_benchmark_rows, speed_series

__all__ = ["TITLE", "build_section"]

TITLE = "Subset sampling and relaxed top-k (Xie & Ermon, 2019)"
PAPER_SPEED = (
    "paper (Titan Xp GPU, k=5): NeuralSort 3.694 s vs RelaxSubSample 0.110 s at n=5000 (33x)"
)


def _experiment_html(exp: dict) -> str:
    taus, bound = exp["taus"], exp["tv_bound"]
    tv_rows = [
        [f"{t:g}", f"{exp['tv'][t]:.4f}", f"{bound:g}", "yes" if exp["tv"][t] <= bound else "NO"]
        for t in taus
    ]
    freq_rows = []
    for i, label in enumerate(exp["labels"]):
        cells = [label, f"{exp['exact'][i]:.4f}"]
        for t in taus:
            lo, hi = exp["intervals"][t][i]
            cells.append(f"{exp['freq'][t][i]:.4f} [{lo:.4f}, {hi:.4f}]")
        freq_rows.append(cells)
    short = [t for t in taus if exp["tv"][t] > bound]
    if short:
        verdict = (
            "<p><strong>Falls short:</strong> TV exceeds the paper's 0.016 at tau = "
            + ", ".join(f"{t:g}" for t in short)
            + ".</p>"
        )
    else:
        verdict = "<p>Every temperature is within the paper's bound of 0.016.</p>"
    if exp["num_samples"] != 10000:
        verdict += (
            f"<p>Note: this run used {exp['num_samples']} samples per temperature; the "
            "paper's bound is for 10,000, and sampling noise grows like 1/sqrt(samples).</p>"
        )
    noise = exp["tv_exact_sampler"]
    return (
        "<h3>Synthetic experiment (section 4.1, Figure 1)</h3>"
        f"<p>w = {esc(exp['weights'])}, k = {exp['k']}, {exp['num_samples']} relaxed samples per "
        f"temperature from <code>relaxed_subset_sample</code> (seed {exp['seed']}); each sample "
        "becomes a subset by taking the top-k entries of the relaxed vector. The exact p(S|w) is a "
        "brute-force sum of eq. (1) over orderings; it agrees with exp(<code>subset_log_prob</code>)"
        f" to {exp['exact_check']:.1e}. Intervals: {esc(exp['interval_method'])}.</p>"
        + html_table(["tau", "TV distance", "paper's bound", "within bound"], tv_rows)
        + verdict
        + f"<p>For scale: an exact sampler with the same number of samples has TV "
        f"{noise['mean']:.4f} on average (95th percentile {noise['p95']:.4f}), by simulation. "
        "For tau &ge; 1 the top-k of the relaxed vector is exactly the Gumbel-top-k sample "
        "(Theorem 1); for tau &lt; 1 it is only approximately so.</p>"
        + html_table(["subset", "exact p(S|w)", *[f"tau = {t:g}" for t in taus]], freq_rows)
    )


def _benchmark_html() -> str:
    path, rows, problem = load_benchmark_rows()
    paper = html_table(
        ["reference", "NeuralSort", "RelaxSubSample", "speedup"],
        [["paper (Titan Xp GPU, k=5), n=5000", "3.694 s", "0.110 s", "33x"]],
    )
    head = "<h3>Speed (benchmarks/topk_ops.py)</h3>"
    if rows:
        table = html_table(
            [
                "n",
                "k",
                "batch",
                "mode",
                "subsel backend",
                "subsel median ms",
                "neuralsort median ms",
                "torch.topk ms",
                "speedup vs NeuralSort",
                "device",
            ],
            rows,
        )
        return head + f"<p>Records from <code>{esc(path)}</code>.</p>" + table + paper
    why = f"<p>{esc(problem)}</p>" if problem else ""
    return (
        head + why + "<p>No benchmark results found (benchmarks/results/topk_ops.json). Run "
        "<code>make bench</code> to produce them, then rerun the demo.</p>"
        + f"<p>For reference, {esc(PAPER_SPEED)}.</p>"
        + paper
    )


def build_section(
    out_dir: Path, *, samples: int = 10000, seed: int = 0, step: Callable[[str], None] | None = None
) -> Section:
    """Compute the sampling demo, write its figures into ``out_dir``, return the section."""
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("synthetic experiment (relaxed samples at 3 temperatures)")
    exp = synthetic_experiment(samples, seed)
    step("figures")
    scores, k = (1.0, 2.0), 2
    taus, outs = relaxed_topk_curve(scores, k)
    at_04 = relaxed_topk(torch.tensor(scores, dtype=torch.float64), k, tau=0.4).tolist()
    bars = relaxed_topk_bars(10, 3, seed)
    figs = [
        save_figure(plot_frequencies(exp), out_dir / "sampling_frequencies.png"),
        save_figure(
            plot_tau_curve(taus, outs, scores, k, mark=(0.4, at_04)),
            out_dir / "sampling_relaxed_topk_tau.png",
        ),
        save_figure(plot_bars(bars), out_dir / "sampling_relaxed_topk_bars.png"),
    ]
    step("benchmark table")
    bench_path = next((q for q in _bench_candidates() if q.is_file()), None)
    if bench_path is not None:
        try:
            series = speed_series(bench_path)
        except (OSError, ValueError, TypeError, KeyError):
            series = {}
        if series:
            figs.append(save_figure(plot_speed(series), out_dir / "sampling_speed.png"))
    curve = (
        "<h3>Relaxed top-k and the temperature</h3>"
        "<p>Successive softmax (eqs. 3-5). For tau &lt; 1 the output is not order preserving and "
        f"entries can exceed 1: scores [1, 2], k = 2, tau = 0.4 give "
        f"[{at_04[0]:.3f}, {at_04[1]:.3f}]. For tau &ge; 1 a larger score never gets a smaller "
        "output; as tau &rarr; 0 the output tends to the hard top-k mask.</p>"
    )
    return Section(TITLE, _experiment_html(exp) + curve + _benchmark_html(), figs, "built")
