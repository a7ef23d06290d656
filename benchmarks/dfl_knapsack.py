"""Benchmark: decision-focused learning on PyEPO's knapsack, our DP layer vs PyEPO's SPO+ and PFYL.

Task (predict-then-optimize, Tang & Khalil's PyEPO knapsack): from 5 features predict the values
of 32 items, then pick the items by the exact 0/1 knapsack; the score is the normalised regret on
1000 test instances, ``sum_i (z*(c_i) - <c_i, x*(c_hat_i)>) / sum_i z*(c_i)``
(:func:`subsel.apps.dfl.normalized_regret`, lower is better).

Data: ``pyepo.data.knapsack.genData(n_train + 1000, num_feat=5, num_item=32, dim=1, deg,
noise_width=0.5, seed)``: one knapsack constraint (dim = 1), capacity 20 as in PyEPO's knapsack
notebooks (``caps = [20] * dim``), for deg in {1, 2, 4, 6} and seeds 0..4. The first n_train rows
train, the last 1000 test; the n_train = 100 run uses the first 100 of the 1000 training rows, so
both sizes share the test set. genData's weights are reals in [3, 7.99] with two decimals; the DP
needs integer weights, so we round them UP to multiples of ``--resolution`` (default 0.1: integer
weights 30..80, capacity 200, a 201-column table) -- every method, PyEPO's included, solves and is
scored on this same rounded problem (a set feasible for it is feasible for the original).
``--resolution 0.01`` keeps genData's exact weights (2001 columns, about 10x the DP time).

Methods, all training the same ``torch.nn.Linear(5, 32)`` (same initialisation and mini-batch
order for a given seed) with Adam (``--lr``), batch size 32 and the same number of epochs
(``--epochs-small`` = 100 for n_train = 100, ``--epochs-large`` = 20 for 1000: about 400 and 640
Adam steps; the validation curves of a separate seed flatten out by then at lr 0.05), through
:func:`subsel.apps.dfl.train_knapsack_predictor`:

- ``subsel`` variant ``fy``: Fenchel-Young loss of our smoothed DP (``knapsack_value(theta) -
  <theta, x*(c)>``, gradient ``soft_knapsack(theta) - x*(c)``), Shannon, ``--tau``;
- ``subsel`` variant ``spo``: the smoothed SPO+ loss through our DP, ``knapsack_value(2 theta - c)
  - <2 theta - c, x*(c)>`` (the FY loss at the cost-augmented point; SPO+ itself as tau -> 0);
- ``subsel`` variant ``regret``: the smoothed normalised regret through ``soft_knapsack``;
- ``spo+``: ``pyepo.func.SPOPlus`` and ``pfyl``: ``pyepo.func.perturbedFenchelYoung``
  (PyEPO's defaults n_samples=10, sigma=1.0), both solving with
  :class:`subsel.apps.dfl.KnapsackDP` (our exact DP inside PyEPO's ``optModel``; PyEPO calls it
  once per instance and sample, single process);
- ``two-stage``: mean squared error to the true values (the prediction-focused baseline).

Timing: ``seconds_per_epoch`` is the wall time of training divided by the epochs (numba kernels
compiled before any timing). The machine is shared: the methods of one (deg, seed) run one after
the other, so load from other processes affects them alike but not identically.

Records (``benchmark`` "dfl_knapsack", ``dataset`` "pyepo_knapsack", ``metric``
"normalized_regret" or "seconds_per_epoch", ``params`` with deg, n_train, seed, tau, epochs, ...)
go to ``--out`` (default ``benchmarks/results/dfl_knapsack.json``; with ``--quick`` a temporary
file), rewritten after every (deg, seed). A table of mean +- std over seeds is printed.

Usage::

    .venv/bin/python benchmarks/dfl_knapsack.py            # full grid (about 25 min on 2 cores)
    .venv/bin/python benchmarks/dfl_knapsack.py --quick    # seconds: every method, tiny grid
    .venv/bin/python benchmarks/dfl_knapsack.py --methods subsel-spo --merge   # add one method

Without PyEPO the data generator is missing: the script says so and writes nothing (install the
``bench`` extra: ``pip install pyepo``).
"""

from __future__ import annotations

import os

# numba's and torch's OpenMP threads spin-wait for each other on a 2-core machine (a numba call
# right after a torch op then costs ~12 ms); passive waiting removes that for every method.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_text
from subsel.apps.dfl import normalized_regret, train_knapsack_predictor

BENCHMARK = "dfl_knapsack"
DATASET = "pyepo_knapsack"
NUM_FEAT = 5
NUM_ITEM = 32
CAPACITY = 20.0
NOISE = 0.5
N_TEST = 1000
BATCH = 32
METHODS = ("subsel-fy", "subsel-spo", "subsel-regret", "spo+", "pfyl", "two-stage")

console = Console(width=140)


def make_data(deg: int, n_train: int, seed: int, resolution: float):
    import pyepo

    w, x, c = pyepo.data.knapsack.genData(
        n_train + N_TEST, NUM_FEAT, NUM_ITEM, dim=1, deg=deg, noise_width=NOISE, seed=seed
    )
    # round weights up to the DP's unit (see the docstring); integers from here on
    weights = np.ceil(np.round(w[0] / resolution, 6)).astype(np.int64)
    capacity = int(np.floor(CAPACITY / resolution + 1e-9))
    x = x.astype(np.float32)
    c = c.astype(np.float32)
    return weights, capacity, x[:n_train], c[:n_train], x[n_train:], c[n_train:]


def pyepo_loss(method: str, weights, capacity, seed: int, pfyl_samples: int):
    """A loss callable ``(pred, C, Y) -> scalar`` wrapping PyEPO's module with KnapsackDP."""
    import pyepo

    from subsel.apps.dfl import KnapsackDP

    optmodel = KnapsackDP(weights, capacity)
    if method == "spo+":
        spo = pyepo.func.SPOPlus(optmodel, processes=1)
        return lambda pred, c, y: spo(pred, c, y, (c * y).sum(-1, keepdim=True))
    pfy = pyepo.func.perturbedFenchelYoung(
        optmodel, n_samples=pfyl_samples, sigma=1.0, processes=1, seed=seed
    )
    return lambda pred, c, y: pfy(pred, y)


def run_method(method, data, args, seed, epochs):
    weights, capacity, Xtr, Ctr, Xte, Cte = data
    if method.startswith("subsel-"):
        loss = method.split("-", 1)[1]
    elif method == "two-stage":
        loss = "mse"
    else:
        loss = pyepo_loss(method, weights, capacity, seed, args.pfyl_samples)
    t0 = time.perf_counter()
    model = train_knapsack_predictor(
        Xtr,
        Ctr,
        weights,
        capacity,
        loss=loss,
        tau=args.tau,
        epochs=epochs,
        lr=args.lr,
        batch_size=BATCH,
        seed=seed,
    )
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        pred = model(torch.as_tensor(Xte)).double().numpy()
    regret = normalized_regret(pred, Cte, weights, capacity)
    return regret, train_s / epochs, model.history[-1]


def warm_up(args) -> None:
    """Compile the numba kernels (and import PyEPO) outside every timing."""
    data = make_data(1, 8, 0, args.resolution)
    for method in args.methods:
        run_method(method, (*data[:4], data[2], data[3]), args, 0, 1)


def record(method, variant, metric, value, params, seconds, ctx):
    p = dict(params)
    if variant:
        p["variant"] = variant
    return {
        "benchmark": BENCHMARK,
        "dataset": DATASET,
        "method": method,
        "metric": metric,
        "value": value,
        "params": p,
        "seconds": seconds,
        "device": ctx["device"],
        "commit": ctx["commit"],
    }


def split_method(method: str) -> tuple[str, str]:
    if method.startswith("subsel-"):
        return "subsel", method.split("-", 1)[1]
    return method, ""


def print_table(records) -> None:
    cells = defaultdict(list)
    for r in records:
        key = (r["params"]["deg"], r["params"]["n_train"], r["method"], r["params"].get("variant"))
        cells[key, r["metric"]].append(r["value"])
    table = Table(title="dfl_knapsack: normalized regret (test, 1000) and seconds per epoch")
    for col in ("deg", "n_train", "method", "regret mean +- std", "s/epoch", "seeds"):
        table.add_column(col)

    def ms(v):
        if len(v) < 2:
            return f"{v[0]:.4f}"
        return f"{statistics.mean(v):.4f} +- {statistics.stdev(v):.4f}"

    keys = sorted({k for k, _ in cells}, key=lambda k: (k[0], k[1], str(k[2]), str(k[3])))
    for k in keys:
        reg = cells.get((k, "normalized_regret"), [])
        sec = cells.get((k, "seconds_per_epoch"), [])
        name = k[2] + (f" ({k[3]})" if k[3] else "")
        table.add_row(
            str(k[0]),
            str(k[1]),
            name,
            ms(reg) if reg else "-",
            f"{statistics.mean(sec):.3f}" if sec else "-",
            str(len(reg)),
        )
    console.print(table)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny grid, every method, seconds")
    p.add_argument("--out", default=None, help="JSON output file")
    p.add_argument("--degs", default="1,2,4,6")
    p.add_argument("--n-train", default="100,1000")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs-small", type=int, default=100, help="epochs for n_train <= 100")
    p.add_argument("--epochs-large", type=int, default=20, help="epochs for n_train > 100")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--pfyl-samples", type=int, default=10)
    p.add_argument("--resolution", type=float, default=0.1)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the records already in --out of the methods not run this time",
    )
    args = p.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        p.error(f"--methods: unknown {sorted(unknown)}; choose from {', '.join(METHODS)}")
    args.degs = [int(d) for d in args.degs.split(",") if d]
    args.n_train = sorted(int(n) for n in args.n_train.split(",") if n)
    if args.quick:
        args.degs, args.n_train, args.seeds = [2], [40], 1
        args.epochs_small = args.epochs_large = 2
        args.pfyl_samples = min(args.pfyl_samples, 2)
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import pyepo  # noqa: F401
    except ImportError:
        print(
            "dfl_knapsack skipped: PyEPO (its data generator and peers) is not installed; "
            "pip install pyepo (the bench extra)."
        )
        return 0
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = out_path(args.out, args.quick, BENCHMARK)
    ctx = {"device": cpu_label(), "commit": git_commit()}
    n_test = N_TEST
    warm_up(args)
    kept = []
    if args.merge and out.exists():
        ran = {split_method(m) for m in args.methods}
        kept = [
            r
            for r in json.loads(out.read_text())
            if (r["method"], r["params"].get("variant", "")) not in ran
        ]
    records = []
    t_all = time.perf_counter()
    for deg in args.degs:
        for seed in range(args.seeds):
            full = make_data(deg, max(args.n_train), seed, args.resolution)
            for n_train in args.n_train:
                data = (full[0], full[1], full[2][:n_train], full[3][:n_train], full[4], full[5])
                epochs = args.epochs_small if n_train <= 100 else args.epochs_large
                params = {
                    "deg": deg,
                    "n_train": n_train,
                    "n_test": n_test,
                    "seed": seed,
                    "tau": args.tau,
                    "epochs": epochs,
                    "lr": args.lr,
                    "batch_size": BATCH,
                    "num_item": NUM_ITEM,
                    "num_feat": NUM_FEAT,
                    "capacity": CAPACITY,
                    "noise_width": NOISE,
                    "resolution": args.resolution,
                    "pfyl_samples": args.pfyl_samples,
                    "optimizer": "adam",
                }
                for m in args.methods:
                    t0 = time.perf_counter()
                    regret, spe, last_loss = run_method(m, data, args, seed, epochs)
                    secs = time.perf_counter() - t0
                    method, variant = split_method(m)
                    p = {**params, "final_train_loss": last_loss}
                    records.append(
                        record(method, variant, "normalized_regret", regret, p, secs, ctx)
                    )
                    records.append(record(method, variant, "seconds_per_epoch", spe, p, secs, ctx))
                    console.print(
                        f"deg={deg} n={n_train} seed={seed} {m:14s} regret={regret:.4f} "
                        f"s/epoch={spe:.3f} ({time.perf_counter() - t_all:.0f} s)"
                    )
            atomic_write_text(out, json.dumps(kept + records, indent=1) + "\n")
    print_table(kept + records)
    console.print(f"wrote {len(kept) + len(records)} records to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
