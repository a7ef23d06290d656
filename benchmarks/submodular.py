"""Benchmark: facility-location greedy selection, subsel vs apricot-select vs submodlib-py.

Task: choose k = n / 10 of n points of ``sklearn.datasets.make_blobs(n, 1024 features, 10
centres, random_state=0)`` (float64, as a user would pass them) by lazy greedy maximization of
facility location on euclidean similarities, for n in ``--sizes`` (default 1000, 5000, 10000,
50000); then n = 200,000 through a sparse 50-nearest-neighbour graph.

The two peers turn euclidean distances into similarities differently (read from their code):

- apricot 0.6.1 (``FacilityLocationSelection(k, metric="euclidean", optimizer="lazy")``):
  ``D2 = sklearn pairwise_distances(X, squared=True)`` (float64), ``S = D2.max() - D2``.
  Ours with the same similarity: ``FacilityLocation.from_features(X, metric="sqeuclidean",
  kernel="shift")`` (variant ``"apricot-similarity"``).
- submodlib-py 0.0.3 (``FacilityLocationFunction(n, mode="dense", data=X, metric="euclidean")``,
  kernel made in C++): ``S = exp(-||x_i - x_j|| / d)`` with d = 1024 features (checked
  numerically on a small case). Ours: ``metric="euclidean", kernel="exp"`` (variant
  ``"submodlib-similarity"``).

Each comparison uses the matching similarity, so selections are comparable: we report whether
they are identical, the length of the common prefix, the overlap |A & B| / k, and the objective of
each selection under a float64 version of the shared similarity (for apricot's, also the ratio of
the k-medoids costs sum_i min_{j in S} ||x_i - x_j||^2). Ours stores similarities in float32
(the peers in float64), so near-ties may break differently; ``subsel-float64`` (``dtype=float64``,
not timed) shows what our greedy picks with float64 similarities.

Timing: wall seconds from the features to the selected indices, similarity construction included,
for every library (ours also split into similarity and greedy). Each library first runs once on a
200-point problem (imports, numba compilation, thread pools) outside the timing; apricot still
compiles its numba kernels on every ``fit`` (its ``_initialize`` builds them), which is part of
its cost. Repeats are interleaved (ours, apricot, ours, submodlib, ...) so that load from other
processes affects all alike; the median is reported (``--repeats``, 1 repeat where one run takes
over 30 s). A peer whose estimated memory exceeds the machine's available memory is skipped and
recorded with ``value: null`` and the reason (apricot's distance matrix needs 2 n^2 float64
during sklearn's computation, 40 GB at n = 50,000; submodlib returns the kernel from C++ as a
Python list of lists, about 32 n^2 bytes, 80 GB).

Sparse stage (its own subprocess, so that its peak memory is its own): n = ``--sparse-n``
(200,000) points as float32 (0.8 GB), ``FacilityLocation.from_features(X, metric="sqeuclidean",
n_neighbors=50, backend="faiss-ivf")`` (approximate kNN: faiss IVF, ``--ivf-nlist`` sqrt(n) lists, ``--ivf-nprobe`` 16 probes)
and lazy greedy for k = n / 10. Peak memory is the kernel's VmHWM, reset after the data are made,
minus the resident size before; the recall of the IVF graph against exact search is measured on
500 random points (not timed). The dense matrix would need n^2 * 4 bytes = 160 GB. On these
isotropic 1024-d blobs the kNN search dominates the time: k-means puts a large share of the
points into a few inverted lists (at n = 20,000 the 10 largest of 141 lists hold 43% of the
points, the median list 27), and faiss scans the lists query by query, which is memory-bound;
exact search (``backend="faiss"``, 8 * 10^13 flops) is no faster on 2 cores.

Records (``benchmark``, ``dataset``, ``method``, ``metric``, ``value``, ``params``, ``seconds``,
``device``, ``commit``) go to ``--out`` (default ``benchmarks/results/submodular.json``; with
``--quick``, a temporary file; written atomically; records of stages not run this time are kept). The peers' own published times at n = 10,000 (apricot
4.86 s, submodlib 9.42 s) are in every record's ``params.published_seconds_n10000``.

Usage::

    .venv/bin/python benchmarks/submodular.py                         # everything
    .venv/bin/python benchmarks/submodular.py --sizes 1000,5000 --no-sparse
    .venv/bin/python benchmarks/submodular.py --sizes "" --sparse-n 200000
    .venv/bin/python benchmarks/submodular.py --quick   # smoke test: n = 600 and a 3000-point graph

A peer that is not installed is skipped (recorded with ``value: null`` and the reason).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, cpu_label, git_commit, out_path, peak_bytes, reset_peak, rss_bytes

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "submodular.json"
D = 1024
CENTERS = 10
PUBLISHED = {"apricot": 4.86, "submodlib": 9.42}
VARIANTS = {
    "apricot-similarity": {"metric": "sqeuclidean", "kernel": "shift"},
    "submodlib-similarity": {"metric": "euclidean", "kernel": "exp"},
}
PEER_OF = {"apricot-similarity": "apricot", "submodlib-similarity": "submodlib"}
# --quick: every stage and both similarity variants on tiny sizes (explicit flags still win)
QUICK = {"sizes": "600", "repeats": 1, "sparse_n": 3000, "n_neighbors": 10, "all_variants": True}
SLOW_S = 30.0  # one run slower than this: no repeats


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def available_bytes() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def needed_bytes(method: str, n: int) -> float:
    """Rough peak memory of one run (beyond the data)."""
    if method == "apricot":
        return 2 * 8.0 * n * n  # sklearn: X X^T and -2 X X^T, float64
    if method == "submodlib":
        return 32.0 * n * n + 8.0 * n * n  # Python list of n^2 floats, then a float64 array
    return 4.0 * n * n + 64 * 2**20  # ours: float32 matrix + scratch


# ----------------------------------------------------------------------------- runners
def make_data(n: int, seed: int = 0) -> np.ndarray:
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=n, n_features=D, centers=CENTERS, random_state=seed)
    return X


def run_subsel(X, k, variant, dtype=np.float32):
    from subsel.submodular import FacilityLocation, maximize

    t0 = time.perf_counter()
    f = FacilityLocation.from_features(X, dtype=dtype, **VARIANTS[variant])
    t1 = time.perf_counter()
    sel = maximize(f, k, optimizer="lazy")
    t2 = time.perf_counter()
    out = {
        "seconds": t2 - t0,
        "similarity": t1 - t0,
        "greedy": t2 - t1,
        "indices": sel.indices,
        "evaluations": sel.extra["evaluations"],
    }
    del f
    gc.collect()
    return out


def run_apricot(X, k):
    import apricot

    t0 = time.perf_counter()
    sel = apricot.FacilityLocationSelection(k, metric="euclidean", optimizer="lazy").fit(X)
    seconds = time.perf_counter() - t0
    idx = np.asarray(sel.ranking, dtype=np.int64)
    del sel
    gc.collect()
    return {"seconds": seconds, "indices": idx}


def run_submodlib(X, k):
    import submodlib

    t0 = time.perf_counter()
    f = submodlib.FacilityLocationFunction(n=X.shape[0], mode="dense", data=X, metric="euclidean")
    res = f.maximize(
        budget=k,
        optimizer="LazyGreedy",
        stopIfZeroGain=False,
        stopIfNegativeGain=False,
        verbose=False,
        show_progress=False,
    )
    seconds = time.perf_counter() - t0
    del f
    gc.collect()
    return {"seconds": seconds, "indices": np.asarray([i for i, _ in res], dtype=np.int64)}


RUNNERS = {"apricot": run_apricot, "submodlib": run_submodlib}


def warm_up(methods) -> None:
    X = make_data(200, seed=1)
    for v in VARIANTS:
        run_subsel(X, 20, v)
    for m in methods:
        RUNNERS[m](X, 20)


# ----------------------------------------------------------------------------- stages
def rec(method, metric, value, params, seconds=None):
    return {
        "benchmark": "submodular",
        "dataset": f"make_blobs_{D}",
        "method": method,
        "metric": metric,
        "value": None if value is None else float(value),
        "params": dict(
            params,
            published_seconds_n10000=PUBLISHED,
            load_average_1min=round(os.getloadavg()[0], 2),  # other processes on the machine
        ),
        "seconds": seconds,
        "device": cpu_label(),
        "commit": git_commit(),
    }


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    k = len(a)
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    return {
        "identical": float(np.array_equal(a, b)),
        "identical_prefix": float(prefix),
        "overlap": len(set(a.tolist()) & set(b.tolist())) / k,
    }


def stage_dense(args) -> list[dict]:
    n = args.n
    k = n // 10
    X = make_data(n)
    avail = available_bytes() + X.nbytes  # what a fresh run could use
    peers = [p for p in args.peers if p]
    runnable, skipped = [], {}
    for p in peers:
        need = needed_bytes(p, n)
        if importlib.util.find_spec(p) is None:
            skipped[p] = f"{p} is not installed (pip install -e '.[bench]')"
            log(f"[n={n}] {p}: skipped, not installed")
        elif need > 0.85 * avail:
            skipped[p] = (
                f"needs about {need / 2**30:.0f} GiB (see the module docstring) and "
                f"{avail / 2**30:.0f} GiB are available"
            )
        else:
            runnable.append(p)
    variants = [v for v in VARIANTS if PEER_OF[v] in runnable] or ["apricot-similarity"]
    if args.all_variants:
        variants = list(VARIANTS)
    log(f"[n={n}] warm-up; peers {runnable}, skipped {sorted(skipped)}")
    warm_up(runnable)
    base = {"n": n, "k": k, "d": D, "centers": CENTERS, "optimizer": "lazy", "dtype_X": "float64"}
    times: dict[str, list] = {m: [] for m in [*variants, *runnable]}
    extra: dict[str, list] = {v: [] for v in variants}
    picks: dict[str, np.ndarray] = {}
    repeats = args.repeats if n <= args.repeat_max_n else 1
    for r in range(repeats):
        for v in variants:
            if r and times[v] and min(times[v]) > SLOW_S:
                continue
            log(f"[n={n}] repeat {r}: subsel {v}")
            out = run_subsel(X, k, v)
            times[v].append(out["seconds"])
            extra[v].append(out)
            picks[v] = out["indices"]
            peer = PEER_OF[v]
            if peer in runnable and not (r and times[peer] and min(times[peer]) > SLOW_S):
                log(f"[n={n}] repeat {r}: {peer}")
                got = RUNNERS[peer](X, k)
                times[peer].append(got["seconds"])
                picks[peer] = got["indices"]
        for p in runnable:  # peers without a matching variant in this run
            if not any(PEER_OF[v] == p for v in variants) and not (r and min(times[p]) > SLOW_S):
                got = RUNNERS[p](X, k)
                times[p].append(got["seconds"])
                picks[p] = got["indices"]
    records = []
    for v in variants:
        ts = times[v]
        med = statistics.median(ts)
        best = min(range(len(ts)), key=lambda i: abs(ts[i] - med))
        o = extra[v][best]
        params = dict(
            base,
            variant=v,
            similarity=VARIANTS[v],
            repeats=len(ts),
            all_seconds=ts,
            evaluations=o["evaluations"],
        )
        records += [
            rec("subsel", "seconds", med, params, med),
            rec(
                "subsel",
                "seconds_similarity",
                statistics.median(e["similarity"] for e in extra[v]),
                params,
            ),
            rec(
                "subsel", "seconds_greedy", statistics.median(e["greedy"] for e in extra[v]), params
            ),
        ]
    for p in runnable:
        ts = times[p]
        med = statistics.median(ts)
        records.append(rec(p, "seconds", med, dict(base, repeats=len(ts), all_seconds=ts), med))
    for p, why in skipped.items():
        records.append(rec(p, "seconds", None, dict(base, skipped=why)))
    # speed-up against each peer (same similarity) and against the faster peer
    ratios = {}
    for v in variants:
        p = PEER_OF[v]
        if p in runnable:
            ratios[p] = statistics.median(times[p]) / statistics.median(times[v])
            records.append(
                rec(
                    "subsel",
                    f"speedup_vs_{p}",
                    ratios[p],
                    dict(
                        base,
                        variant=v,
                        peer_seconds=statistics.median(times[p]),
                        subsel_seconds=statistics.median(times[v]),
                    ),
                )
            )
    if ratios:
        fastest = min(runnable, key=lambda p: statistics.median(times[p]))
        if fastest in ratios:
            records.append(
                rec(
                    "subsel",
                    "speedup_vs_faster_peer",
                    ratios[fastest],
                    dict(base, faster_peer=fastest, goal=2.0),
                )
            )
    # agreement and objectives under a float64 version of each shared similarity (not timed)
    if n <= args.agree_max_n:
        records += agreement_records(X, k, variants, runnable, picks, base)
    return records


def agreement_records(X, k, variants, runnable, picks, base) -> list[dict]:
    from subsel.submodular import FacilityLocation, maximize

    out = []
    n = X.shape[0]
    for v in variants:
        p = PEER_OF[v]
        f64 = FacilityLocation.from_features(X, dtype=np.float64, **VARIANTS[v])
        ours64 = maximize(f64, k).indices
        sel = {"subsel": picks[v], "subsel-float64": ours64}
        if p in runnable:
            sel[p] = picks[p]
        c = float(f64.similarity[0, 0])  # shift kernel: s_ii = c
        params = dict(base, variant=v, similarity=VARIANTS[v], evaluated_in="float64")
        for name, idx in sel.items():
            value = f64.evaluate(idx)
            out.append(rec(name, "objective", value, params))
            if v == "apricot-similarity":
                out.append(rec(name, "kmedoids_cost", n * c - value, params))
        if p in sel:
            for name in ("subsel", "subsel-float64"):
                for metric, value in agreement(sel[name], sel[p]).items():
                    out.append(rec(name, f"{metric}_with_{p}", value, params))
            ratio = f64.evaluate(sel["subsel"]) / f64.evaluate(sel[p])
            out.append(rec("subsel", f"objective_ratio_vs_{p}", ratio, params))
            if v == "apricot-similarity":
                cr = (n * c - f64.evaluate(sel["subsel"])) / (n * c - f64.evaluate(sel[p]))
                out.append(rec("subsel", "kmedoids_cost_ratio_vs_apricot", cr, params))
        del f64
        gc.collect()
    return out


def stage_sparse(args) -> list[dict]:
    import faiss

    from subsel.submodular import FacilityLocation, maximize

    n, nn = args.sparse_n, args.n_neighbors
    k = n // 10
    base_rss = rss_bytes()
    X = make_data(n).astype(np.float32)
    gc.collect()
    data_bytes = X.nbytes
    reset_peak()
    t0 = time.perf_counter()
    f = FacilityLocation.from_features(
        X,
        metric="sqeuclidean",
        n_neighbors=nn,
        backend="faiss-ivf",
        ivf_nlist=args.ivf_nlist,
        ivf_nprobe=args.ivf_nprobe,
        seed=0,
    )
    t1 = time.perf_counter()
    sel = maximize(f, k, optimizer="lazy")
    t2 = time.perf_counter()
    peak = peak_bytes() - base_rss
    S = f.similarity
    graph_bytes = S.data.nbytes + S.indices.nbytes + S.indptr.nbytes
    # recall of the IVF graph against exact search on a sample (not timed)
    q = np.random.default_rng(0).choice(n, size=500, replace=False)
    exact = faiss.IndexFlatL2(D)
    exact.add(X)
    _, ind = exact.search(X[q], nn)
    rows = S.tocsr()
    recall = float(
        np.mean(
            [
                len(set(ind[a].tolist()) & set(rows[i].indices.tolist())) / nn
                for a, i in enumerate(q)
            ]
        )
    )
    params = {
        "n": n,
        "k": k,
        "d": D,
        "centers": CENTERS,
        "n_neighbors": nn,
        "backend": "faiss-ivf",
        "ivf_nlist": args.ivf_nlist or round(n**0.5),
        "ivf_nprobe": args.ivf_nprobe,
        "similarity": VARIANTS["apricot-similarity"],
        "variant": "sparse-knn",
        "data_bytes": data_bytes,
        "graph_bytes": graph_bytes,
        "dense_float32_bytes": 4.0 * n * n,
        "evaluations": sel.extra["evaluations"],
    }
    return [
        rec("subsel", "seconds", t2 - t0, params, t2 - t0),
        rec("subsel", "seconds_similarity", t1 - t0, params),
        rec("subsel", "seconds_greedy", t2 - t1, params),
        rec("subsel", "peak_rss_bytes", peak, params),
        rec("subsel", "peak_rss_over_data", peak / data_bytes, params),
        rec("subsel", "knn_recall", recall, params),
        rec("subsel", "objective", f.evaluate(sel.indices), params),
    ]


STAGES = {"dense": stage_dense, "sparse": stage_sparse}


# ----------------------------------------------------------------------------- driver
def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000,10000,50000")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--repeat-max-n", type=int, default=10_000, help="above this n, one repeat")
    p.add_argument(
        "--agree-max-n", type=int, default=10_000, help="above this n, no float64 agreement check"
    )
    p.add_argument("--peers", default="apricot,submodlib")
    p.add_argument(
        "--all-variants",
        action="store_true",
        help="run both similarity variants even where a peer is skipped",
    )
    p.add_argument("--no-sparse", action="store_true")
    p.add_argument("--sparse-n", type=int, default=200_000)
    p.add_argument("--n-neighbors", type=int, default=50)
    p.add_argument("--ivf-nlist", type=int, default=None, help="default: sqrt(n)")
    p.add_argument("--ivf-nprobe", type=int, default=16)
    p.add_argument(
        "--quick", action="store_true", help="smoke test: every stage on tiny sizes, in seconds"
    )
    p.add_argument(
        "--out", type=Path, default=None, help=f"default {DEFAULT_OUT} (--quick: a temporary file)"
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    args.out = out_path(args.out, args.quick, "submodular")
    args.peers = [x for x in args.peers.split(",") if x]
    return args


def run_child(stage: str, extra: list[str], argv: list[str]) -> list[dict] | None:
    child = [sys.executable, __file__, "--child", stage, *extra, *argv]
    proc = subprocess.run(child, stdout=subprocess.PIPE, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RECORDS ")]
    if proc.returncode != 0 or not lines:
        log(f"error: stage {stage} {extra} failed (exit {proc.returncode})")
        return None
    return json.loads(lines[-1][len("RECORDS ") :])


def key(r: dict) -> tuple:
    return (r["params"].get("variant") == "sparse-knn", r["params"].get("n"))


def print_table(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    def get(method, metric, n, variant=None):
        for r in records:
            if (r["method"], r["metric"], r["params"].get("n")) == (method, metric, n) and (
                variant is None or r["params"].get("variant") == variant
            ):
                return r["value"]
        return None

    def fmt(x, spec=".2f"):
        return "-" if x is None else format(x, spec)

    t = Table(
        title="facility location, lazy greedy, k = n/10, make_blobs 1024-d: seconds "
        "(median), subsel split into similarity + greedy"
    )
    for col in (
        "n",
        "subsel (apricot sim)",
        "apricot",
        "x",
        "subsel (submodlib sim)",
        "submodlib",
        "x",
        "vs faster peer",
        "same as apricot",
        "same as submodlib",
    ):
        t.add_column(col, justify="right")
    sizes = sorted(
        {r["params"]["n"] for r in records if r["params"].get("variant") != "sparse-knn"}
    )
    for n in sizes:
        cells = [str(n)]
        for v, p in (("apricot-similarity", "apricot"), ("submodlib-similarity", "submodlib")):
            tot = get("subsel", "seconds", n, v)
            sim, gr = (
                get("subsel", "seconds_similarity", n, v),
                get("subsel", "seconds_greedy", n, v),
            )
            cells.append("-" if tot is None else f"{tot:.2f} ({sim:.2f}+{gr:.2f})")
            peer = get(p, "seconds", n)
            cells.append(fmt(peer) if peer is not None else "skipped")
            cells.append(fmt(get("subsel", f"speedup_vs_{p}", n, v)))
        cells.append(fmt(get("subsel", "speedup_vs_faster_peer", n)))
        for p, v in (("apricot", "apricot-similarity"), ("submodlib", "submodlib-similarity")):
            same = get("subsel", f"identical_with_{p}", n, v)
            ov = get("subsel", f"overlap_with_{p}", n, v)
            same64 = get("subsel-float64", f"identical_with_{p}", n, v)
            cells.append(
                "-"
                if same is None
                else f"{'yes' if same else 'no'} ({ov:.3f}; f64 {'yes' if same64 else 'no'})"
            )
        t.add_row(*cells)
    Console(width=200).print(t)
    for n in sorted(
        {r["params"]["n"] for r in records if r["params"].get("variant") == "sparse-knn"}
    ):

        def get_s(m, n=n):
            return get("subsel", m, n, "sparse-knn")

        print(
            f"sparse kNN graph, n={n}: {get_s('seconds'):.1f} s (kNN {get_s('seconds_similarity'):.1f}"
            f" + greedy {get_s('seconds_greedy'):.1f}), peak RSS {get_s('peak_rss_bytes') / 2**30:.2f}"
            f" GiB = {get_s('peak_rss_over_data'):.2f} x data, kNN recall {get_s('knn_recall'):.3f}"
        )


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.child:
        records = STAGES[args.child](args)
        print("RECORDS " + json.dumps(records), flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    records: list[dict] = []
    ran: set[tuple] = set()
    for n in sizes:
        got = run_child("dense", ["--n", str(n)], argv)
        if got is None:
            return 1
        records += got
        ran.add((False, n))
    if not args.no_sparse:
        got = run_child("sparse", [], argv)
        if got is None:
            return 1
        records += got
        ran.add((True, args.sparse_n))
    from subsel._io import atomic_write_text

    old = json.loads(args.out.read_text()) if args.out.exists() else []
    kept = [r for r in old if key(r) not in ran]
    allrec = sorted(kept + records, key=lambda r: (key(r), r["method"], r["metric"]))
    atomic_write_text(args.out, json.dumps(allrec, indent=1) + "\n")
    print_table(allrec)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
