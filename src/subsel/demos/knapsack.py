"""The knapsack section of the demo report: smoothed DP knapsack / top-k (Vivier-Ardisson et al.).

Live: the soft selection of one instance against tau for each regularizer, and the permutation
equivariance of each regularizer on random instances. From the records: the speed against a
straightforward Numba implementation (``benchmarks/knapsack_ops.py``) and the decision-focused
learning regret against PyEPO's methods (``benchmarks/dfl_knapsack.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..ops import knapsack, soft_knapsack
from ..report import ScoreRow, Section, details, embed_figure, esc, html_table, save_figure
from ._results import load_records

__all__ = ["TITLE", "build_section", "tau_curves", "equivariance_gaps"]

TITLE = "Differentiable knapsack and top-k by smoothed dynamic programming"
REGS = ("shannon", "gini", "tsallis")
SPEED_COMMAND = "python benchmarks/knapsack_ops.py --device cpu"
DFL_COMMAND = "python benchmarks/dfl_knapsack.py"

# One small instance: values, integer weights, capacity.
VALUES = (2.0, 1.6, 1.5, 1.2, 1.0, 0.8, 0.5, 0.2)
WEIGHTS = (4, 3, 2, 3, 1, 2, 1, 1)
CAPACITY = 7


def tau_curves(taus=None) -> dict:
    """Soft selections of the demo instance for each regularizer and tau (float64).

    Returns ``{"taus": (T,), "exact": (n,), reg: (T, n)}``.
    """
    taus = np.logspace(-2, 1, 61) if taus is None else np.asarray(taus, dtype=float)
    theta = torch.tensor(VALUES, dtype=torch.float64)
    out = {"taus": taus, "exact": knapsack(theta, WEIGHTS, CAPACITY).numpy()}
    for reg in REGS:
        out[reg] = np.stack(
            [
                soft_knapsack(theta, WEIGHTS, CAPACITY, tau=float(t), regularizer=reg).numpy()
                for t in taus
            ]
        )
    return out


def equivariance_gaps(trials: int = 30, seed: int = 0) -> dict[str, float]:
    """Largest ``|y(theta[perm]) - y(theta)[perm]|`` over random instances, per regularizer."""
    g = torch.Generator().manual_seed(seed)
    worst = dict.fromkeys(REGS, 0.0)
    for _ in range(trials):
        n = int(torch.randint(3, 9, (), generator=g))
        theta = torch.randn(n, generator=g, dtype=torch.float64)
        w = torch.randint(1, 4, (n,), generator=g)
        cap = int(w.sum()) // 2
        perm = torch.randperm(n, generator=g)
        for reg in REGS:
            y = soft_knapsack(theta, w, cap, tau=0.5, regularizer=reg)
            yp = soft_knapsack(theta[perm], w[perm], cap, tau=0.5, regularizer=reg)
            worst[reg] = max(worst[reg], float((yp - y[perm]).abs().max()))
    return worst


def _plot_tau(curves: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3, sharey=True)
    colors = [f"C{i}" for i in range(len(VALUES))]
    for ax, reg in zip(axes, REGS, strict=True):
        for i, c in enumerate(colors):
            ax.plot(curves["taus"], curves[reg][:, i], color=c, lw=1.5, label=f"item {i + 1}")
            ax.plot([curves["taus"][0] * 0.8], [curves["exact"][i]], marker="<", color=c, ms=6)
        ax.set_xscale("log")
        ax.set_title(reg)
        ax.set_xlabel("tau")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("soft selection y_i")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(
        f"values {list(VALUES)}, weights {list(WEIGHTS)}, capacity {CAPACITY}; "
        "triangles: the exact solution",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------------
def _median(values):
    return float(np.median(values)) if values else math.nan


def speed_rows(records: list[dict]) -> list[dict]:
    """Our default configuration against the Numba reference, one dict per setting.

    Reads the ``speedup_vs_numba_ref`` records of ``benchmarks/knapsack_ops.py`` whose
    ``params.is_default`` is true (``checkpoint="auto"``, ``backend="auto"``): ``value`` is the
    reference's median time over ours, ``seconds`` ours and ``params.numba_ref_s`` the reference's.
    """
    rows = []
    for r in records:
        p = r.get("params", {})
        if r.get("metric") != "speedup_vs_numba_ref" or not p.get("is_default"):
            continue
        rows.append(
            {
                "problem": p.get("problem"),
                "mode": p.get("mode"),
                "B": p.get("batch"),
                "n": p.get("n"),
                "C": p.get("capacity", p.get("k")),
                "ours": float(r.get("seconds")),
                "reference": float(p.get("numba_ref_s")),
                "ratio": float(r.get("value")),
                "variant": p.get("variant"),
            }
        )
    return rows


def _plot_speed(rows: list[dict]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, mode in zip(axes, ("forward", "forward_backward"), strict=True):
        sel = [r for r in rows if r["mode"] == mode and r["problem"] == "knapsack"]
        for i, C in enumerate(sorted({r["C"] for r in sel})):
            pts = sorted((r["n"], r["ours"], r["reference"]) for r in sel if r["C"] == C)
            ns = [p[0] for p in pts]
            ax.plot(ns, [p[1] for p in pts], "o-", color=f"C{i}", label=f"ours, C = {C}")
            ax.plot(
                ns, [p[2] for p in pts], "s--", color=f"C{i}", alpha=0.6, label=f"Numba, C = {C}"
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n items")
        ax.set_title(mode.replace("_", " + "))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("median seconds, batch 64")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def _speed_html(results: Path | None, out_dir: Path) -> tuple[str, list[ScoreRow]]:
    records = load_records(results, "knapsack_ops")
    claim = "Smoothed DP operator, CPU, batch 64: time against a straightforward Numba version"
    rows = [r for r in speed_rows(records) if r["B"] == 64]
    head = "<h3>Speed against the Numba approach of the official code</h3>"
    gpu = ScoreRow(
        "GPU: B = 64, n = 1000, k = 100, forward + backward",
        "under 10 ms (the issue's goal)",
        "not measured (no GPU was lent to this session)",
        "",
        None,
        SPEED_COMMAND.replace("cpu", "cuda"),
    )
    if not rows:
        return (
            head + f"<p>No speed records found. Run <code>{esc(SPEED_COMMAND)}</code> (or "
            "<code>make bench</code>), then rerun the demo.</p>",
            [
                ScoreRow(claim, "at least as fast (the issue's goal)", "", "", None, SPEED_COMMAND),
                gpu,
            ],
        )
    ratios = [r["ratio"] for r in rows]
    held = sum(x >= 1.0 for x in ratios)
    worst = min(rows, key=lambda r: r["ratio"])
    table = html_table(
        ["problem", "mode", "n", "C or k", "ours ms", "Numba ms", "Numba / ours", "ours keeps"],
        [
            [
                r["problem"],
                r["mode"].replace("_", " + "),
                r["n"],
                r["C"],
                f"{1e3 * r['ours']:.3g}",
                f"{1e3 * r['reference']:.3g}",
                f"{r['ratio']:.2f}x",
                "checkpoints" if "ckpt" in str(r["variant"]) else "the table",
            ]
            for r in sorted(rows, key=lambda r: (r["problem"], r["mode"], r["n"], r["C"]))
        ],
    )
    fig = embed_figure(
        save_figure(_plot_speed(rows), out_dir / "knapsack_speed.png"),
        "Median time against n at batch 64 (log axes): ours (default settings) and a "
        "straightforward Numba implementation with full tables, per capacity.",
    )
    row = ScoreRow(
        claim,
        "at least as fast at B = 64 (the issue's goal; the paper reports no CPU times)",
        f"{np.median(ratios):.2f}x faster in the median; as fast or faster in {held} of "
        f"{len(ratios)} settings, {worst['ratio']:.2f}x at worst ({worst['problem']}, "
        f"{worst['mode'].replace('_', ' + ')}, n = {worst['n']}, C = {worst['C']})",
        "Numba, full tables, parallel over the batch",
        held == len(ratios),
        SPEED_COMMAND,
    )
    body = (
        head
        + "<p>Both run on the same 2 CPU cores in one benchmark run, outputs equal to 1e-6. Ours "
        "keeps the table while it fits in 128 MiB and checkpoints beyond (O(B C sqrt n) memory; "
        "at n = 10,000, C = 1000 the reference needs 14.7 GB, ours 4.9 GB with the table and "
        "about 70 MB with checkpoints).</p>"
        + fig
        + details(f"All {len(rows)} settings at batch 64", table)
    )
    return body, [row, gpu]


def regret_table(records: list[dict]) -> dict:
    """``{(deg, n_train, method): (mean, std, count)}`` of the normalized regret records."""
    groups = defaultdict(list)
    for r in records:
        if r.get("metric") != "normalized_regret":
            continue
        p = r.get("params", {})
        method = str(r.get("method"))
        if p.get("variant"):
            method = f"{method} ({p['variant']})"
        groups[(p.get("deg"), p.get("n_train"), method)].append(float(r["value"]))
    return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in groups.items()}


def _dfl_html(results: Path | None) -> tuple[str, list[ScoreRow]]:
    records = load_records(results, "dfl_knapsack")
    table = regret_table(records)
    claim = "Decision-focused learning (PyEPO knapsack): normalized regret at degree >= 2"
    head = "<h3>Decision-focused learning</h3>"
    if not table:
        return (
            head + f"<p>No regret records found. Run <code>{esc(DFL_COMMAND)}</code>, then rerun "
            "the demo.</p>",
            [ScoreRow(claim, "lower than SPO+ and PFYL", "", "", None, DFL_COMMAND)],
        )
    methods = sorted({m for _, _, m in table})
    settings = sorted({(d, n) for d, n, _ in table})
    rows = []
    for d, n in settings:
        cells = [d, n]
        for m in methods:
            v = table.get((d, n, m))
            cells.append(f"{v[0]:.4f} ± {v[1]:.4f}" if v else "")
        rows.append(cells)
    ours = [m for m in methods if str(m).startswith("subsel")]
    peers = [m for m in methods if str(m).lower() in ("spo+", "spoplus", "spo_plus", "pfyl", "pfy")]
    # Each of our variants against the better of SPO+ and PFYL, cell by cell (degree >= 2).
    cells = [(d, n) for d, n in settings if d is not None and d >= 2]
    wins = {}
    for m in ours:
        got = [
            table[(d, n, m)][0] < min(table[(d, n, p)][0] for p in peers if (d, n, p) in table)
            for d, n in cells
            if (d, n, m) in table and any((d, n, p) in table for p in peers)
        ]
        wins[m] = (sum(got), len(got))
    verdict = any(w == t and t for w, t in wins.values()) if wins and peers else None
    secs = defaultdict(list)
    for r in records:
        if r.get("metric") == "seconds_per_epoch":
            secs[r.get("method")].append(float(r["value"]))
    time_rows = [[m, f"{_median(v):.3g}"] for m, v in sorted(secs.items())]
    row = ScoreRow(
        claim,
        "lower regret than SPO+ and perturbed Fenchel-Young (the issue's goal)",
        "; ".join(f"{m}: lower in {w} of {t}" for m, (w, t) in sorted(wins.items())),
        ", ".join(peers),
        verdict,
        DFL_COMMAND,
    )
    html = (
        head
        + "<p>Normalized regret on 1000 test instances (mean ± std over seeds), a linear model of "
        "the item values trained through each method.</p>"
        + html_table(["degree", "n train", *methods], rows)
        + (
            details("Seconds per epoch (median)", html_table(["method", "s"], time_rows))
            if time_rows
            else ""
        )
    )
    return html, [row]


def build_section(
    out_dir: Path,
    *,
    samples: int = 10000,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
    results: Path | None = None,
) -> Section:
    """Compute the knapsack demo, write its figure into ``out_dir``, return the section."""
    del samples
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("knapsack: soft selection against tau")
    curves = tau_curves()
    fig = embed_figure(
        save_figure(_plot_tau(curves), out_dir / "knapsack_tau.png"),
        "soft_knapsack of one instance against tau, per regularizer: Shannon stays dense, Gini "
        "and Tsallis reach exact 0 and 1 at a finite tau; all tend to the exact solution.",
    )
    step("knapsack: permutation equivariance")
    gaps = equivariance_gaps(seed=seed)
    eq_table = html_table(
        ["regularizer", "max |y(P theta) - P y(theta)| over 30 random instances"],
        [[reg, f"{gaps[reg]:.2e}"] for reg in REGS],
    )
    eq_row = ScoreRow(
        "Only Shannon makes the operator permutation-equivariant",
        "proved (Shannon is the unique such regularizer)",
        f"Shannon {gaps['shannon']:.1e}; Gini {gaps['gini']:.2f}, Tsallis {gaps['tsallis']:.2f}",
        "",
        gaps["shannon"] < 1e-9 and gaps["gini"] > 1e-3 and gaps["tsallis"] > 1e-3,
        "subsel demo",
    )
    step("knapsack: records")
    speed_html, speed_rows_ = _speed_html(results, out_dir)
    dfl_html, dfl_rows = _dfl_html(results)
    body = (
        "<p><code>soft_knapsack</code>, <code>soft_topk</code> and <code>knapsack_sample</code> "
        "smooth the knapsack recursion V[i, c] = max(V[i-1, c], theta_i + V[i-1, c - w_i]); the "
        "soft selection is the gradient of the smoothed value, computed by one reverse sweep, and "
        "with Shannon it equals the marginals of p(S) ~ exp(&lt;theta, S&gt; / tau) over the "
        "feasible sets (checked against brute force in the tests).</p>"
        + fig
        + "<h3>Permutation equivariance</h3>"
        + eq_table
        + speed_html
        + dfl_html
    )
    return Section(TITLE, body, [], "built", [eq_row, *speed_rows_, *dfl_rows])
