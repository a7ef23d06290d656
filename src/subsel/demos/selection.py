"""The data-selection part of the demo report.

Computed here (a few seconds): how well a weighted sample estimates a model's total loss over a
pool, sensitivity sampling against uniform sampling, on scikit-learn's bundled digits. Read from
``benchmarks/results/`` when present: the neural-network experiment (``selection_nn.json``), the
regression experiment (``selection_regression.json``) and the scale runs
(``selection_scale.json``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..report import (
    ScoreRow,
    Section,
    details,
    embed_figure,
    esc,
    fmt,
    html_table,
    pivot_table,
    save_figure,
)
from ..selection import kz_clustering, sensitivity_probabilities
from ._results import load_records

TITLE = "Data selection with coresets"
SIZES = (25, 50, 100, 200)
PAPER_NN = {
    "uniform": 0.8091,
    "kcenter": 0.7692,
    "kcenter-greedy-warm": 0.7692,
    "loss": 0.8140,
    "gradient": 0.8107,
}


# ---------------------------------------------------------------------------- the experiment


def digits_losses(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (pixels / 16, shape (n, 64)) and per-example log-losses of a logistic
    regression trained on the other half of scikit-learn's digits (n = 898 pool points)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
    model = LogisticRegression(C=0.05, max_iter=2000).fit(Xa, ya)
    proba = model.predict_proba(Xb)
    losses = -np.log(np.clip(proba[np.arange(len(yb)), yb], 1e-12, None))
    return Xb, losses


def estimate_experiment(
    reps: int = 200, seed: int = 0, sizes: Sequence[int] = SIZES, n_clusters: int = 20
) -> dict:
    """Relative error of the weighted total-loss estimate, ``|sum_S w l - sum l| / sum l``, over
    ``reps`` seeds for each sample size: uniform (with replacement, weights n / s) against
    sensitivity sampling's draws (Algorithm 1 steps 3-4) from one k-means clustering with
    ``n_clusters`` centres, lam set so that lam Phi equals the estimated total loss (half the
    mass from each term). One clustering and ``reps x len(sizes)`` draws: well under a second."""
    X, losses = digits_losses(seed)
    n, total = len(losses), float(losses.sum())
    cl = kz_clustering(X, n_clusters, z=2.0, rng=np.random.default_rng(seed))
    loss_hat = losses[cl.center_indices][cl.labels]
    lam = float(loss_hat.sum() / cl.cost.sum())
    p = sensitivity_probabilities(loss_hat, cl.cost, lam)
    estimates: dict[str, dict[int, np.ndarray]] = {"uniform": {}, "sensitivity": {}}
    rng = np.random.default_rng(seed)
    for s in sizes:
        uni = rng.integers(0, n, size=(reps, s))
        estimates["uniform"][s] = n / s * losses[uni].sum(1)
        idx = rng.choice(n, size=(reps, s), p=p)
        estimates["sensitivity"][s] = (losses[idx] / (s * p[idx])).sum(1)
    errors = {
        name: {s: np.abs(e - total) / total for s, e in by_s.items()}
        for name, by_s in estimates.items()
    }
    return {
        "n": n,
        "total": total,
        "lam": lam,
        "k": n_clusters,
        "reps": reps,
        "sizes": list(sizes),
        "errors": errors,
        "estimates": estimates,
    }


def plot_errors(exp: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot()
    for name, marker in (("uniform", "o"), ("sensitivity", "s")):
        med = [np.median(exp["errors"][name][s]) for s in exp["sizes"]]
        q90 = [np.quantile(exp["errors"][name][s], 0.9) for s in exp["sizes"]]
        line = ax.plot(exp["sizes"], med, marker=marker, label=f"{name} (median)")[0]
        ax.plot(exp["sizes"], q90, ls="--", color=line.get_color(), label=f"{name} (90th pct.)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sample size s")
    ax.set_ylabel("relative error of the total-loss estimate")
    ax.set_title(f"digits pool (n = {exp['n']}), {exp['reps']} seeds per point")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ benchmark results

NN_COMMAND = "python benchmarks/selection_nn.py"
REGRESSION_COMMAND = "python benchmarks/selection_regression.py"
SCALE_COMMAND = "python benchmarks/selection_scale.py"
_OURS = ("loss", "gradient")


def nn_table(records: list[dict]) -> dict:
    """{dataset: {method: {k: (mean, std, reps, seconds, queries)}}} from the records of
    ``benchmarks/selection_nn.py`` (metrics ``accuracy_mean``, ``accuracy_std``,
    ``selection_seconds_mean``, ``queries_mean``; the method is ``params["variant"]``)."""
    cells: dict = defaultdict(dict)
    for r in records:
        p = r.get("params", {})
        if "k" not in p or r.get("metric") == "skipped":
            continue
        method = p.get("variant") or r.get("method")
        key = (r.get("dataset"), method, int(p["k"]))
        cells[key][r["metric"]] = r["value"]
        cells[key].setdefault("reps", p.get("reps"))
    out: dict = defaultdict(lambda: defaultdict(dict))
    for (ds, method, k), m in cells.items():
        if "accuracy_mean" not in m:
            continue
        out[ds][method][k] = (
            m["accuracy_mean"],
            m.get("accuracy_std"),
            m.get("reps"),
            m.get("selection_seconds_mean"),
            m.get("queries_mean"),
        )
    return out


def plot_nn(table: dict):
    from matplotlib.figure import Figure

    names = sorted(table)
    fig = Figure(figsize=(4.2 * max(1, len(names)), 3.6))
    for i, ds in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        for method, by_k in sorted(table[ds].items()):
            ks = sorted(by_k)
            ax.errorbar(
                ks,
                [by_k[k][0] for k in ks],
                yerr=[by_k[k][1] or 0.0 for k in ks],
                marker="o",
                capsize=3,
                label=method,
            )
        ax.set_xscale("log")
        ax.set_xlabel("budget k")
        ax.set_ylabel("test accuracy")
        ax.set_title(ds)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fmt(x, spec=".3f"):
    return fmt(x, spec)


def _mean_std(mean, std) -> str:
    return _fmt(mean) if std is None else f"{_fmt(mean)} \u00b1 {_fmt(std)}"


def _nn_html(table: dict, figure: str = "") -> str:
    head = "<h3>Training on the selected points (benchmarks/selection_nn.py)</h3>"
    if not table:
        return head + (
            "<p>No results yet: run <code>make bench</code> (it fetches the data with "
            "<code>make data</code>) and rerun the demo.</p>"
        )
    parts = [
        head,
        "<p>MLP (one 128-unit hidden layer, 10 epochs, Adam 1e-3, batch 32) trained on k "
        "selected points; test accuracy, mean &plusmn; standard deviation over repetitions. "
        "<em>loss</em> and <em>gradient</em> are ours (sensitivity sampling); the others are "
        "the peers.</p>",
        figure,
    ]
    full = []
    for ds in sorted(table):
        cells = {
            (method, k): _mean_std(v[0], v[1])
            for method, by_k in table[ds].items()
            for k, v in by_k.items()
        }
        parts.append(f"<h4>{esc(ds)}</h4>")
        parts.append(
            pivot_table(cells, row_label="method", col_label=lambda k: f"k = {k}", value=str)
        )
        if ds in ("fmnist", "fashion-mnist"):
            rows = [
                [m, _fmt(PAPER_NN[m], ".4f"), _mean_std(*table[ds][m][2000][:2])]
                for m in sorted(PAPER_NN)
                if 2000 in table[ds].get(m, {})
            ]
            if rows:
                parts.append(
                    "<p>Beside the paper's Fashion-MNIST k = 2000 column:</p>"
                    + html_table(["method", "paper", "ours"], rows)
                )
        for method in sorted(table[ds]):
            for k, (mean, std, reps, sec, q) in sorted(table[ds][method].items()):
                full.append(
                    [
                        ds,
                        method,
                        k,
                        _fmt(mean, ".4f"),
                        _fmt(std, ".4f"),
                        reps,
                        _fmt(sec, ".1f"),
                        _fmt(q, ".0f"),
                    ]
                )
    parts.append(
        details(
            f"All {len(full)} records",
            html_table(
                ["data", "method", "k", "accuracy", "std", "reps", "seconds", "queries"], full
            ),
        )
    )
    return "".join(parts)


def nn_scorecard(table: dict) -> ScoreRow:
    """The paper's headline: on Fashion-MNIST at k = 2000, loss-based sensitivity sampling beats
    every other selection method."""
    claim = "Fashion-MNIST, k = 2000: MLP trained on the sensitivity sample beats the baselines"
    paper = "0.814 (uniform 0.809, k-center 0.769)"
    by_method = table.get("fmnist", {}) if table else {}
    ours = by_method.get("loss", {}).get(2000)
    peers = {m: v[2000] for m, v in by_method.items() if m not in _OURS and 2000 in v}
    if ours is None or not peers:
        return ScoreRow(claim, paper, "", "", None, NN_COMMAND)
    best = max(peers, key=lambda m: peers[m][0])
    noise = max(ours[1] or 0.0, peers[best][1] or 0.0)
    within = "; the gap is within one std" if abs(ours[0] - peers[best][0]) < noise else ""
    return ScoreRow(
        claim,
        paper,
        f"{_mean_std(ours[0], ours[1])} (loss, {ours[2]} reps{within})",
        f"{best} {_mean_std(peers[best][0], peers[best][1])}",
        ours[0] >= peers[best][0],
        NN_COMMAND,
    )


def _regression_cells(records: list[dict]) -> dict:
    cells = {}
    for r in records:
        if r.get("metric") == "one_minus_r2_val_mean":
            p = r["params"]
            name = r["method"]
            if r["method"] == "subsel":
                k = p.get("k")
                name = "ours (Algorithm 2)" if k is None else f"ours (Algorithm 2, k = {k})"
            if r["method"] == "leverage":
                name = f"leverage ({p.get('variant', '')})"
            cells[(name, int(p["s"]))] = r["value"]
    return cells


def _regression_html(records: list[dict]) -> str:
    head = "<h3>Linear regression (benchmarks/selection_regression.py)</h3>"
    cells = _regression_cells(records)
    if not cells:
        return head + f"<p>No results yet: run <code>{esc(REGRESSION_COMMAND)}</code>.</p>"
    return (
        head + "<p>Validation 1 - R&sup2; of least squares on s weighted points (diamonds, 100 "
        "repetitions; lower is better), ours with k = 500 clusters and with k = 10% of n as the "
        "paper does. The paper finds its method almost on par with leverage scores; here "
        "k = 10% of n beats uniform and k = 500 from s = 500 on, and leverage scores stay "
        "best.</p>"
        + pivot_table(
            cells,
            row_label="method",
            col_label=lambda s: f"s = {s}",
            value=lambda v: _fmt(v, ".4f"),
        )
    )


def regression_scorecard(records: list[dict]) -> ScoreRow:
    """The paper's claim: clustering-based sampling is almost on par with leverage scores (taken
    here as within 10% of the best leverage-score error at the largest sample size)."""
    claim = "Diamonds linear regression: validation 1 - R\u00b2 at the largest s"
    paper = "almost on par with leverage-score sampling"
    cells = _regression_cells(records)
    if not cells:
        return ScoreRow(claim, paper, "", "", None, REGRESSION_COMMAND)
    s = max(size for _, size in cells)
    ours = {m: v for (m, size), v in cells.items() if size == s and m.startswith("ours")}
    peers = {m: v for (m, size), v in cells.items() if size == s and not m.startswith("ours")}
    if not ours or not peers:
        return ScoreRow(claim, paper, "", "", None, REGRESSION_COMMAND)
    m_best = min(ours, key=ours.get)
    p_best = min(peers, key=peers.get)
    return ScoreRow(
        f"{claim} (s = {s})",
        paper,
        f"{ours[m_best]:.4f}, {m_best}",
        f"{p_best} {peers[p_best]:.4f}",
        ours[m_best] <= 1.1 * peers[p_best],
        REGRESSION_COMMAND,
    )


def _setting_name(method: str, variant: object, n: object) -> str:
    inner = ", ".join(str(x) for x in (variant, None if n is None else f"n = {n:,}") if x)
    return f"{method} ({inner})" if inner else method


def _scale_html(records: list[dict]) -> str:
    head = "<h3>Scale (benchmarks/selection_scale.py)</h3>"
    if not records:
        return head + f"<p>No results yet: run <code>{esc(SCALE_COMMAND)}</code>.</p>"
    rows = [
        [
            r["method"],
            r["params"].get("variant"),
            r["params"].get("n"),
            r["metric"],
            _fmt(r["value"], ".3g"),
            r.get("device"),
        ]
        for r in records
    ]
    cells = {}
    for r in records:
        name = _setting_name(r["method"], r["params"].get("variant"), r["params"].get("n"))
        metric, value = r["metric"], r["value"]
        if metric.endswith("_bytes") and isinstance(value, (int, float)):
            metric, value = metric[: -len("_bytes")] + " (GiB)", value / 2**30
        cells[(name, metric)] = value
    return (
        head
        + pivot_table(cells, row_label="run", value=lambda v: _fmt(v, ".3g"))
        + details(
            f"All {len(rows)} records",
            html_table(["method", "variant", "n", "metric", "value", "device"], rows),
        )
    )


def _experiment_html(exp: dict) -> str:
    rows = []
    for s in exp["sizes"]:
        u, v = exp["errors"]["uniform"][s], exp["errors"]["sensitivity"][s]
        rows.append(
            [
                s,
                _fmt(float(np.median(u))),
                _fmt(float(np.median(v))),
                _fmt(float(np.quantile(u, 0.9))),
                _fmt(float(np.quantile(v, 0.9))),
            ]
        )
    return (
        "<h3>Estimating a model's total loss from a weighted sample</h3>"
        f"<p>A logistic regression's log-loss on {exp['n']} held-out digits; the estimate "
        "sum<sub>S</sub> w l is unbiased for both samplers. Sensitivity sampling clusters the "
        f"pixel embeddings into k = {exp['k']} centres, queries the loss there only, and samples "
        f"by estimated loss plus lam times distance (lam = {exp['lam']:.3g}); one clustering, "
        f"{exp['reps']} independent samples per size. Relative error:</p>"
        + html_table(
            [
                "s",
                "uniform median",
                "sensitivity median",
                "uniform 90th pct.",
                "sensitivity 90th pct.",
            ],
            rows,
        )
    )


def build_section(
    out_dir: Path,
    *,
    samples: int = 10000,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
    results: Path | None = None,
) -> Section:
    """Run the estimate experiment, read the benchmark results, write the figures."""
    del samples  # the sampling section's knob; this section's cost is fixed
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("data selection: total-loss estimates on digits")
    exp = estimate_experiment(seed=seed)
    est_fig = embed_figure(
        save_figure(plot_errors(exp), out_dir / "selection_estimates.png"),
        "Relative error of the total-loss estimate against the sample size (log axes).",
    )
    step("data selection: benchmark results")
    table = nn_table(load_records(results, "selection_nn"))
    nn_fig = ""
    if table:
        nn_fig = embed_figure(
            save_figure(plot_nn(table), out_dir / "selection_nn.png"),
            "Test accuracy against the budget k, mean and standard deviation over repetitions.",
        )
    regression = load_records(results, "selection_regression")
    body = (
        _experiment_html(exp)
        + est_fig
        + _nn_html(table, nn_fig)
        + _regression_html(regression)
        + _scale_html(load_records(results, "selection_scale"))
    )
    scorecard = [nn_scorecard(table), regression_scorecard(regression)]
    return Section(TITLE, body, [], "built", scorecard)


__all__ = ["build_section", "estimate_experiment", "nn_table", "load_records"]
