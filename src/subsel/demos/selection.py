"""The data-selection part of the demo report.

Computed here (a few seconds): how well a weighted sample estimates a model's total loss over a
pool, sensitivity sampling against uniform sampling, on scikit-learn's bundled digits. Read from
``benchmarks/results/`` when present: the neural-network experiment (``selection_nn.json``), the
regression experiment (``selection_regression.json``) and the scale runs
(``selection_scale.json``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..report import Section, html_table, save_figure
from ..selection import kz_clustering, sensitivity_probabilities

TITLE = "Data selection with coresets"
SIZES = (25, 50, 100, 200)
RESULTS = Path("benchmarks") / "results"
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


def _results_dir() -> Path | None:
    candidates = [Path.cwd() / RESULTS]
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file():
        candidates.append(root / RESULTS)
    return next((c for c in candidates if c.is_dir()), None)


def load_records(name: str) -> list[dict]:
    """The records of ``benchmarks/results/<name>.json``, or [] when absent or unreadable."""
    where = _results_dir()
    if where is None or not (where / f"{name}.json").is_file():
        return []
    try:
        data = json.loads((where / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return (
        [r for r in data if isinstance(r, dict) and "metric" in r] if isinstance(data, list) else []
    )


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


def _fmt(x, spec=".4f"):
    return "" if x is None else format(x, spec)


def _nn_html(table: dict) -> str:
    head = "<h3>Training on the selected points (benchmarks/selection_nn.py)</h3>"
    if not table:
        return head + (
            "<p>No results yet: run <code>make bench</code> (it fetches the data with "
            "<code>make data</code>) and rerun the demo.</p>"
        )
    rows = []
    for ds in sorted(table):
        for method in sorted(table[ds]):
            for k, (mean, std, reps, sec, q) in sorted(table[ds][method].items()):
                fashion = ds in ("fmnist", "fashion-mnist")
                paper = PAPER_NN.get(method) if fashion and k == 2000 else None
                queries = _fmt(q, ".0f")
                rows.append(
                    [
                        ds,
                        method,
                        k,
                        _fmt(mean),
                        _fmt(std),
                        reps,
                        _fmt(sec, ".1f"),
                        queries,
                        _fmt(paper),
                    ]
                )
    return (
        head + "<p>MLP (one 128-unit hidden layer, 10 epochs, Adam 1e-3, batch 32) trained on k "
        "selected points; mean and standard deviation over repetitions. The last column is the "
        "paper's Fashion-MNIST k = 2000 row.</p>"
        + html_table(
            ["data", "method", "k", "accuracy", "std", "reps", "seconds", "queries", "paper"],
            rows,
        )
    )


def _regression_html(records: list[dict]) -> str:
    head = "<h3>Linear regression (benchmarks/selection_regression.py)</h3>"
    cells = defaultdict(dict)
    for r in records:
        if r.get("metric") == "one_minus_r2_val_mean":
            p = r["params"]
            name = r["method"]
            if r["method"] == "subsel":
                k = p.get("k")
                name = "ours (Algorithm 2)" if k is None else f"ours (Algorithm 2, k = {k})"
            if r["method"] == "leverage":
                name = f"leverage ({p.get('variant', '')})"
            cells[int(p["s"])][name] = r["value"]
    if not cells:
        return head + "<p>No results yet: run <code>make bench</code>.</p>"
    names = sorted({m for row in cells.values() for m in row})
    rows = [[s, *[_fmt(cells[s].get(m)) for m in names]] for s in sorted(cells)]
    return (
        head + "<p>Validation 1 - R&sup2; of least squares on s weighted points (diamonds, 100 "
        "repetitions), ours with k = 500 clusters and with k = 10% of n as the paper does. The paper "
        "finds its method almost on par with leverage scores; here k = 10% of n beats uniform and "
        "k = 500 from s = 500 on, and leverage scores stay best.</p>"
        + html_table(["s", *names], rows)
    )


def _scale_html(records: list[dict]) -> str:
    head = "<h3>Scale (benchmarks/selection_scale.py)</h3>"
    if not records:
        return head + "<p>No results yet: run <code>benchmarks/selection_scale.py</code>.</p>"
    rows = [
        [
            r["method"],
            r["params"].get("variant", ""),
            r["params"].get("n", ""),
            r["metric"],
            _fmt(r["value"], ".4g"),
            r.get("device", ""),
        ]
        for r in records
    ]
    return head + html_table(["method", "variant", "n", "metric", "value", "device"], rows)


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
    out_dir: Path, *, samples: int = 10000, seed: int = 0, step: Callable[[str], None] | None = None
) -> Section:
    """Run the estimate experiment, read the benchmark results, write the figures."""
    del samples  # the sampling section's knob; this section's cost is fixed
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("data selection: total-loss estimates on digits")
    exp = estimate_experiment(seed=seed)
    figs = [save_figure(plot_errors(exp), out_dir / "selection_estimates.png")]
    step("data selection: benchmark results")
    table = nn_table(load_records("selection_nn"))
    if table:
        figs.append(save_figure(plot_nn(table), out_dir / "selection_nn.png"))
    body = (
        _experiment_html(exp)
        + _nn_html(table)
        + _regression_html(load_records("selection_regression"))
        + _scale_html(load_records("selection_scale"))
    )
    return Section(TITLE, body, figs, "built")


__all__ = ["build_section", "estimate_experiment", "nn_table", "load_records"]
