"""Data selection at scale: time and memory as n grows, in-process and through Dask.

Stages (each in a fresh subprocess, so that its peak memory is its own):

- ``sensitivity``: ``SensitivitySampling(n_clusters=1000, budget=10000)`` on n x 128 float32
  embeddings (a mixture of 200 Gaussians), end to end: k-means (faiss Lloyd on a 256 k subsample,
  seeded by D^2 sampling on 50,000 points), snapping centres to data points, 1000 oracle queries,
  the assignment of all n points and the 10,000 draws. Goal at n = 1,000,000: under 60 s on
  2 cores, peak memory under 2x the data.
- ``kcenter``: our ``KCenterGreedy(budget=10000)`` on the same data, O(n) extra memory. The peer
  (DeepCore's k-center greedy) builds an n x budget distance matrix; its size is recorded, since
  at n = 1M, budget = 10k it is 40 GB and cannot run here.
- ``dask``: the same selector through :func:`subsel.distributed.dask.select` on a LocalCluster with
  2 single-threaded workers and a per-worker memory limit, on data generated block by block on
  the workers (n = 10,000,000 x 128 float32 = 5.1 GB, never held in one place); reports wall
  time and each worker's peak resident memory.

Peak memory is the stage's peak resident set size during the selection (the kernel's VmHWM, reset
once the data are made) minus its resident size just before the data were made (libraries loaded),
divided by the data's size; the data themselves count as 1x.

Usage::

    .venv/bin/python benchmarks/selection_scale.py                      # all stages, defaults
    .venv/bin/python benchmarks/selection_scale.py --stages sensitivity --n 1000000
    .venv/bin/python benchmarks/selection_scale.py --stages dask --dask-n 10000000
    .venv/bin/python benchmarks/selection_scale.py --quick   # smoke test: every stage, tiny n

Writes records (``benchmark``, ``dataset``, ``method``, ``metric``, ``value``, ``params``,
``seconds``, ``device``, ``commit``) atomically to ``--out`` (default
``benchmarks/results/selection_scale.json``; with ``--quick``, a temporary file), merging with the
records of stages not run this time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, cpu_label, git_commit, out_path, peak_bytes, reset_peak, rss_bytes

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "selection_scale.json"
# --quick: every stage on sizes that take seconds (flags given explicitly still win)
QUICK = {
    "n": 5_000,
    "k": 20,
    "s": 200,
    "kcenter_budget": 100,
    "dask_n": 20_000,
    "dask_block": 5_000,
    "fit_size": 5_000,
    "worker_memory": "1GiB",
}
D = 128
BLOBS = 200


def make_block(seed: int, start: int, rows: int, d: int = D) -> np.ndarray:
    """Rows ``start .. start + rows`` of the synthetic mixture, float32, the same whatever the
    blocking (each row's blob and noise come from a generator keyed by ``seed`` and the block)."""
    centres = np.random.default_rng(seed).normal(scale=4.0, size=(BLOBS, d)).astype(np.float32)
    rng = np.random.default_rng([seed, start])
    out = rng.standard_normal((rows, d), dtype=np.float32)
    out += centres[rng.integers(0, BLOBS, size=rows)]
    return out


def make_data(n: int, seed: int, block: int = 100_000) -> np.ndarray:
    X = np.empty((n, D), dtype=np.float32)
    for lo in range(0, n, block):
        X[lo : lo + block] = make_block(seed, lo, min(block, n - lo))
    return X


def loss_of(rows: np.ndarray) -> np.ndarray:
    """A stand-in model loss: smooth and non-negative in the embedding."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.log1p((rows[:, :8] ** 2).sum(1) / 8.0)


# --------------------------------------------------------------------------------------------------
# stages (run in a child process)
# --------------------------------------------------------------------------------------------------


def stage_sensitivity(args) -> list[dict]:
    from subsel.selection import SensitivitySampling

    base = rss_bytes()
    X = make_data(args.n, args.seed)
    data_bytes = X.nbytes
    reset_peak()  # the generator's temporaries are not the selection's
    sel = SensitivitySampling(n_clusters=args.k, budget=args.s, seed=args.seed)
    t = time.perf_counter()
    out = sel.select(X, lambda idx: loss_of(X[idx]))
    seconds = time.perf_counter() - t
    peak = peak_bytes() - base
    params = {"n": args.n, "d": D, "k": args.k, "s": args.s, "dtype": "float32"}
    return [
        rec("sensitivity", "seconds", seconds, params, seconds),
        rec("sensitivity", "peak_memory_over_data", peak / data_bytes, params, seconds),
        rec("sensitivity", "n_queries", out.n_queries, params, seconds),
    ]


def stage_kcenter(args) -> list[dict]:
    from subsel.selection import KCenterGreedy

    base = rss_bytes()
    X = make_data(args.n, args.seed)
    data_bytes = X.nbytes
    reset_peak()  # the generator's temporaries are not the selection's
    t = time.perf_counter()
    out = KCenterGreedy(budget=args.kcenter_budget, seed=args.seed, progress=True).select(X)
    seconds = time.perf_counter() - t
    peak = peak_bytes() - base
    params = {"n": args.n, "d": D, "budget": args.kcenter_budget, "dtype": "float32"}
    peer = dict(params, note="n x budget float32 distance matrix; not run")
    return [
        rec("kcenter", "seconds", seconds, params, seconds),
        rec("kcenter", "peak_memory_over_data", peak / data_bytes, params, seconds),
        rec("kcenter", "radius", out.extra["radius"], params, seconds),
        {
            **rec("kcenter", "peak_memory_bytes", args.n * args.kcenter_budget * 4.0, peer, None),
            "method": "deepcore-kcenter",
        },
    ]


def stage_dask(args) -> list[dict]:
    import dask
    import dask.array as da

    from distributed import Client, LocalCluster
    from subsel.distributed.dask import select
    from subsel.selection import SensitivitySampling

    n, rows = args.dask_n, args.dask_block
    starts = list(range(0, n, rows))
    blocks = [
        da.from_delayed(
            dask.delayed(make_block)(args.seed, lo, min(rows, n - lo)),
            shape=(min(rows, n - lo), D),
            dtype=np.float32,
        )
        for lo in starts
    ]
    X = da.concatenate(blocks, axis=0)
    sel = SensitivitySampling(n_clusters=args.k, budget=args.s, seed=args.seed)

    def oracle(idx):
        order = np.argsort(idx)
        got = np.empty((len(idx), D), dtype=np.float32)
        got[order] = X[np.sort(idx)].compute()
        return loss_of(got)

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.worker_memory,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        t = time.perf_counter()
        out = select(sel, X, oracle, fit_size=args.fit_size, client=client)
        seconds = time.perf_counter() - t
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    params = {
        "n": n,
        "d": D,
        "k": args.k,
        "s": args.s,
        "block_rows": rows,
        "workers": 2,
        "worker_memory_limit": args.worker_memory,
        "fit_size": args.fit_size,
        "data_bytes": n * D * 4,
    }
    worst = max(peaks.values())
    return [
        rec("sensitivity-dask", "seconds", seconds, params, seconds),
        rec("sensitivity-dask", "worker_peak_memory_bytes", worst, params, seconds),
        rec("sensitivity-dask", "n_queries", out.n_queries, params, seconds),
    ]


def rec(variant, metric, value, params, seconds):
    return {
        "benchmark": "selection_scale",
        "dataset": "gaussian-mixture-200",
        "method": "subsel",
        "metric": metric,
        "value": float(value),
        "params": dict(params, variant=variant),
        "seconds": seconds,
        "device": cpu_label(),
        "commit": git_commit(),
    }


STAGES = {"sensitivity": stage_sensitivity, "kcenter": stage_kcenter, "dask": stage_dask}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stages", default="sensitivity,kcenter,dask")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--s", type=int, default=10_000)
    p.add_argument("--kcenter-budget", type=int, default=10_000)
    p.add_argument("--dask-n", type=int, default=10_000_000)
    p.add_argument("--dask-block", type=int, default=250_000)
    p.add_argument("--fit-size", type=int, default=100_000)
    p.add_argument("--worker-memory", default="3GiB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick", action="store_true", help="smoke test: every stage on tiny sizes, in seconds"
    )
    p.add_argument(
        "--out", type=Path, default=None, help=f"default {DEFAULT_OUT} (--quick: a temporary file)"
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    args.out = out_path(args.out, args.quick, "selection_scale")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.child:  # one stage; records on stdout as JSON
        records = STAGES[args.child](args)
        print("RECORDS " + json.dumps(records), flush=True)
        return 0
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - STAGES.keys()
    if unknown:
        print(f"error: unknown stage(s) {sorted(unknown)}; choose from {sorted(STAGES)}")
        return 2
    records = []
    for stage in stages:
        print(f"[selection_scale] {stage} ...", file=sys.stderr, flush=True)
        child = [sys.executable, __file__, "--child", stage] + [
            a for a in (argv if argv is not None else sys.argv[1:])
        ]
        proc = subprocess.run(child, capture_output=True, text=True)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RECORDS ")]
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-3000:], file=sys.stderr)
            print(f"error: stage {stage} failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        got = json.loads(lines[-1][len("RECORDS ") :])
        records += got
        for r in got:
            print(
                f"  {r['method']:17s} {r['params']['variant']:17s} {r['metric']:26s} {r['value']:.4g}"
            )
    from subsel._io import atomic_write_text

    old = json.loads(args.out.read_text()) if args.out.exists() else []
    ran = {r["params"]["variant"] for r in records}
    kept = [r for r in old if r["params"].get("variant") not in ran]
    atomic_write_text(args.out, json.dumps(kept + records, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
