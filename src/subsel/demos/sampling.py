"""Demo section: subset sampling and relaxed top-k (Xie & Ermon, 2019).

Reproduces the synthetic experiment of section 4.1 (their Figure 1), plots the relaxed top-k
operator against the temperature, and shows the speed records of ``benchmarks/topk_ops.py``.
Everything is seeded and deterministic.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..ops import relaxed_subset_sample, relaxed_topk, subset_log_prob
from ..report import Section, esc, html_table, save_figure

__all__ = [
    "TITLE",
    "exact_subset_probs",
    "wilson_interval",
    "synthetic_experiment",
    "relaxed_topk_curve",
    "relaxed_topk_bars",
    "load_benchmark_rows",
    "build_section",
]

TITLE = "Subset sampling and relaxed top-k (Xie & Ermon, 2019)"
WEIGHTS = (0.1, 0.2, 0.3, 0.4)
TAUS = (0.1, 1.0, 10.0)
TV_BOUND = 0.016  # the paper's Figure 1, as stated in the issue
PAPER_SPEED = (
    "paper (Titan Xp GPU, k=5): NeuralSort 3.694 s vs RelaxSubSample 0.110 s at n=5000 (33x)"
)
BENCH_FILE = Path("benchmarks") / "results" / "topk_ops.json"
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


def wilson_interval(count: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    phat = count / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


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
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1; got {num_samples!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}.")
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


# ----------------------------------------------------------------------------------- figures


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


# --------------------------------------------------------------------------------- benchmark


def _bench_candidates() -> list[Path]:
    paths = [Path.cwd() / BENCH_FILE]
    root = Path(__file__).resolve().parents[3]  # src/subsel/demos/sampling.py -> repository
    if (root / "pyproject.toml").is_file():
        paths.append(root / BENCH_FILE)
    return paths


def _method_kind(method: str) -> str:
    m = method.lower()
    if "neuralsort" in m:
        return "neuralsort"
    if "torch" in m:
        return "torch.topk"
    return "subsel"


def load_benchmark_rows(paths: Sequence[Path] | None = None) -> tuple[Path | None, list, str]:
    """Read the speed records of ``benchmarks/topk_ops.py``, if they exist.

    Returns
    -------
    path : Path or None
        The file read (the first that exists), or None.
    rows : list of list
        ``[n, k, batch, mode, subsel variant, subsel ms, neuralsort ms, torch.topk ms, speedup,
        device]``; subsel is quoted for its default backend (``lean`` on the CPU).
    problem : str
        Empty, or why the file could not be used.
    """
    for path in paths if paths is not None else _bench_candidates():
        if path.is_file():
            break
    else:
        return None, [], ""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        groups: dict[tuple, dict] = {}
        for r in records:
            if r.get("metric") not in ("seconds_median", "speedup_vs_neuralsort"):
                continue
            p = r.get("params", {})
            key = (p["n"], p["k"], p.get("batch", ""), p.get("mode", ""))
            g = groups.setdefault(key, {"device": r.get("device", "")})
            if r["metric"] != "seconds_median" or r.get("value") is None:
                continue
            kind = _method_kind(str(r.get("method", "")))
            if kind == "subsel":
                kind = f"subsel:{p.get('variant', '')}"
            g[kind] = float(r["value"]) * 1000.0
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return path, [], f"could not read {path}: {type(exc).__name__}: {exc}"

    def fmt(v, suffix=""):
        return "-" if v is None else f"{v:.3g}{suffix}"

    rows = []
    # Sort by mode, then n, k, batch (zero-padded text sorts numbers numerically).
    for key in sorted(groups, key=lambda t: (str(t[3]), *(str(v).zfill(12) for v in t[:3]))):
        g = groups[key]
        variants = sorted(v for v in g if v.startswith("subsel:"))
        # Quote the device's default backend: "lean" on the CPU, else "compile", else any.
        chosen = next(
            (v for v in ("subsel:lean", "subsel:compile", "subsel:") if v in g),
            variants[0] if variants else None,
        )
        ours = g.get(chosen) if chosen else None
        speedup = g["neuralsort"] / ours if ours and g.get("neuralsort") else None
        rows.append(
            [
                *key,
                chosen.split(":", 1)[1] if chosen else "-",
                fmt(ours),
                fmt(g.get("neuralsort")),
                fmt(g.get("torch.topk")),
                fmt(speedup, "x"),
                g["device"],
            ]
        )
    return path, rows, "" if rows else f"{path} has no seconds_median records"


def speed_series(path: Path, batch: int = 64) -> dict:
    """Median seconds against n at ``batch``, keyed ``(mode, k) -> {label: [(n, s), ...]}``.

    subsel is taken at its default backend (``lean`` on the CPU, else ``compile``).
    """
    series: dict = {}
    for r in json.loads(path.read_text(encoding="utf-8")):
        p = r.get("params", {})
        if r.get("metric") != "seconds_median" or r.get("value") is None or p.get("batch") != batch:
            continue
        label = _method_kind(str(r.get("method", "")))
        if label == "subsel":
            if p.get("variant") not in ("lean", "compile", None):
                continue
            label = f"subsel ({p.get('variant') or 'default'})"
        series.setdefault((p["mode"], p["k"]), {}).setdefault(label, []).append(
            (p["n"], float(r["value"]))
        )
    return series


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


# ----------------------------------------------------------------------------------- section


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
