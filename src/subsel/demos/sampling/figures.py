"""Figures of the sampling demo (matplotlib ``Figure`` objects, no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_frequencies", "plot_tau_curve", "plot_bars", "plot_speed"]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_frequencies(exp: dict):
    """Figure 1: empirical frequency per subset and tau (95% intervals) and the exact p(S|w)."""
    fig = _figure(8, 4.2)
    ax = fig.add_subplot()
    m, taus = len(exp["labels"]), exp["taus"]
    width = 0.8 / len(taus)
    x = np.arange(m)
    for j, tau in enumerate(taus):
        freq = np.array(exp["freq"][tau])
        lo, hi = np.array(exp["intervals"][tau]).T
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(
            pos,
            freq,
            width,
            label=f"tau = {tau:g} (TV {exp['tv'][tau]:.4f})",
            yerr=[freq - lo, hi - freq],
            capsize=2,
            alpha=0.85,
        )
    ax.scatter(x, exp["exact"], marker="D", color="black", zorder=3, label="exact p(S|w)")
    ax.set_xticks(x, exp["labels"])
    ax.set_xlabel("subset S (1-based)")
    ax.set_ylabel("frequency")
    ax.set_title(f"w = {exp['weights']}, k = {exp['k']}, {exp['num_samples']} samples per tau")
    ax.legend(fontsize=8)
    return fig


def plot_tau_curve(
    taus: np.ndarray,
    outs: np.ndarray,
    scores: Sequence[float],
    k: int,
    mark: tuple[float, Sequence[float]] | None = None,
):
    """Each entry of relaxed_topk(scores, k) against tau (log scale); ``mark`` = (tau, values)."""
    fig = _figure(6.5, 3.8)
    ax = fig.add_subplot()
    for i in range(outs.shape[1]):
        ax.plot(taus, outs[:, i], label=f"entry {i + 1} (score {scores[i]:g})")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.axvline(1.0, color="grey", lw=0.8, ls=":", label="tau = 1")
    if mark is not None:
        tau_m, vals = mark
        ax.scatter([tau_m] * len(vals), vals, color="black", s=14, zorder=3)
        ax.annotate(
            f"tau = {tau_m:g}: [" + ", ".join(f"{v:.3f}" for v in vals) + "]",
            (tau_m, max(vals)),
            xytext=(-40, 28),
            textcoords="offset points",
            fontsize=8,
            arrowprops={"arrowstyle": "->", "lw": 0.6},
        )
    ax.set_xscale("log")
    ax.set_xlabel("tau")
    ax.set_ylabel("relaxed top-k output")
    ax.set_title(f"relaxed_topk(scores={list(scores)}, k={k})")
    ax.legend(fontsize=8)
    return fig


def plot_bars(bars: dict):
    """Relaxed top-k at several tau next to the hard top-k mask, for random scores."""
    fig = _figure(8, 3.8)
    ax = fig.add_subplot()
    n = len(bars["scores"])
    series = [(f"tau = {t:g}", v) for t, v in bars["relaxed"].items()]
    series.append(("hard top-k", bars["hard"]))
    width = 0.8 / len(series)
    x = np.arange(n)
    for j, (label, v) in enumerate(series):
        ax.bar(
            x - 0.4 + width * (j + 0.5),
            v,
            width,
            label=label,
            color="black" if label == "hard top-k" else None,
        )
    ax.set_xticks(x, [f"{i + 1}\n{s:.2f}" for i, s in enumerate(bars["scores"])])
    ax.set_xlabel("item (score)")
    ax.set_ylabel("output")
    ax.set_title(f"relaxed_topk on {n} random scores, k = {bars['k']}")
    ax.set_ylim(0, 1.3)
    ax.legend(fontsize=8, ncol=len(series), loc="upper center")
    return fig


def plot_speed(series: dict, batch: int = 64):
    """Log-log median time against n, one panel per mode, one line per method and k."""
    modes = sorted({mode for mode, _ in series})
    fig = _figure(4.2 * len(modes), 3.8)
    styles = {"neuralsort": "s--", "torch.topk": "^:"}
    for i, mode in enumerate(modes):
        ax = fig.add_subplot(1, len(modes), i + 1)
        for (m, k), methods in sorted(series.items()):
            if m != mode:
                continue
            for label, points in sorted(methods.items()):
                points = sorted(points)
                ax.plot(
                    [n for n, _ in points],
                    [t * 1e3 for _, t in points],
                    styles.get(label, "o-"),
                    label=f"{label}, k={k}",
                    alpha=0.85 if k == 5 else 0.5,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (items per row)")
        ax.set_ylabel("median ms")
        ax.set_title(f"{mode}, batch {batch}")
        ax.grid(True, which="major", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
