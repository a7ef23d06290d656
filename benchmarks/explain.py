"""Benchmark: instance-wise feature selection (L2X, Chen et al. 2018) with our relaxed subset
sampler vs L2X's Concrete-max sampler (Xie & Ermon 2019, section 4.2, Table 1).

For each task we train a black-box classifier f (seeded), then for each sampler an explainer E
and approximator q by L2X's objective (:func:`subsel.apps.explain.train_explainer`): the same
networks, data, epochs and optimiser; only the relaxed k-subset differs:

- ``subsel``: ``relaxed_subset_sample(E(x), k, tau)`` (Gumbel keys + relaxed top-k, Algorithm 2);
- ``l2x``: max of k independent Concrete samples (may hold fewer than k groups).

Test-time explanations are the deterministic top-k; the metric is the post-hoc accuracy, the
share of test inputs with ``argmax f(x_S) == argmax f(x)`` (unselected features set to 0, text:
unselected words set to the pad id, whose embedding is 0).

Tasks (default CPU sizes; ``--full`` for a GPU):

- ``mnist_subset``: 3 vs 8 as in L2X, 4x4 patches (49 groups), k = 4 (L2X's MNIST setting). Only
  the 5000-image MNIST subset is offline: its 1000 threes and eights, shuffled (seed 0) and split
  600 train / 200 val / 200 test. Black box: small CNN.
- ``fashion_mnist``: all 10 classes, 4x4 patches, k = 4 (as MNIST; ten classes from 4 of 49
  patches is a hard, discriminating task). Black box: small CNN on 10,000 training images;
  explainer on 4,000 (``--full``: 50,000) training images, 1,000 validation images (training
  split), 2,000 test images (official test split; ``--full``: all 10,000).
- ``tweets``: the 19,332 tweets labelled by client (web / Android / iPhone). Lowercase regex
  tokens, the 5,000 most frequent words (0 = pad, 1 = other), padded / cut to 32 tokens (99% of
  tweets are shorter). Black box: word CNN (Kim 2014: embedding 50, 100 filters of width 3,
  max-pool over time). k = 5 words (tweets have a median of 19 tokens; L2X's k = 10 is for
  reviews of hundreds of words). Explainer and q: L2X's IMDB-word networks. Split: black box on
  the first 12,000 (shuffled), explainer on 6,000 of those, validation 1,000, test 3,000 of the
  remaining 7,332.

Temperature: for each task and sampler the grid {0.1, 0.5, 1, 2, 5} (the paper's) is trained with
seed 0 and the tau with the best validation post-hoc accuracy is kept (validation loss of the
sampled objective is not comparable across temperatures); the other seeds run at that tau.
Each run keeps the weights of its best validation epoch (as L2X's checkpoint).

Intervals: every per-seed record carries a Wilson 95% interval of the test-set binomial
(``ci95_low``/``ci95_high``); the ``posthoc_accuracy_mean`` records carry a t-interval over seeds
(also as the records ``posthoc_accuracy_ci95_low`` / ``posthoc_accuracy_ci95_high``),
and ``posthoc_accuracy_diff`` (subsel - l2x, paired by seed: same black box, data and split) a
t-interval over seeds. ``mean_distinct_features`` / ``frac_fewer_than_k``: distinct groups in one
discrete draw of each sampler from the trained explainer's test logits at its tau.

Usage::

    .venv/bin/python benchmarks/explain.py            # CPU sizes above, 4 seeds (~16 min on 1 thread)
    .venv/bin/python benchmarks/explain.py --seeds 8  # the committed results/explain.json (~28 min)
    .venv/bin/python benchmarks/explain.py --quick    # seconds, tiny sizes
    .venv/bin/python benchmarks/explain.py --full --device cuda --seeds 5
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_text
from subsel.apps import explain as E
from subsel.datasets import load_fashion_mnist, load_mnist_subset, load_tweets

BENCHMARK = "explain"
TAUS = (0.1, 0.5, 1.0, 2.0, 5.0)
METHODS = {"subsel": "subset", "l2x": "l2x"}


# ----------------------------------------------------------------------------- black boxes
class ImageCNN(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 49, 64),
            nn.ReLU(),
            nn.Linear(64, n_classes),
        )

    def forward(self, x):
        return torch.softmax(self.net(x.reshape(-1, 1, 28, 28)), dim=-1)


class WordCNN(nn.Module):
    def __init__(self, vocab, n_classes, emb=50, filters=100):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb, padding_idx=0)
        self.conv = nn.Conv1d(emb, filters, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(filters, n_classes)

    def forward(self, ids):
        h = torch.relu(self.conv(self.embed(ids).transpose(1, 2))).amax(dim=2)
        return torch.softmax(self.out(self.drop(h)), dim=-1)


def train_black_box(make, X, y, *, epochs, seed, device, batch_size=64, lr=1e-3):
    torch.manual_seed(seed)  # before the network is built: seeded initialisation
    net = make().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=gen)
        for s in range(0, len(X), batch_size):
            i = perm[s : s + batch_size].to(device)
            loss = nn.functional.nll_loss(torch.log(net(X[i]) + 1e-12), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net, X, y):
    return float((net(X).argmax(-1) == y).float().mean())


# ----------------------------------------------------------------------------- tasks
def tokenize(texts, vocab_size=5000, maxlen=32):
    toks = [re.findall(r"[a-z0-9#@']+", t.lower()) for t in texts]
    counts = collections.Counter(w for t in toks for w in t)
    ids = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(vocab_size - 2))}
    out = np.zeros((len(toks), maxlen), dtype=np.int64)
    for r, t in enumerate(toks):
        row = [ids.get(w, 1) for w in t[:maxlen]]
        out[r, : len(row)] = row
    return out


def make_task(name, cfg, device):
    """(black box, X_train, X_val, X_test, k, groups, info) of one task, all seeded."""
    rng = np.random.default_rng(0)
    if name == "mnist_subset":
        X, y = load_mnist_subset()
        keep = (y == 3) | (y == 8)
        X, y = X[keep], (y[keep] == 8).astype(np.int64)
        p = rng.permutation(len(X))
        X, y = torch.tensor(X[p]), torch.tensor(y[p])
        n_tr, n_va = cfg["mnist_train"], cfg["mnist_val"]
        tr, va, te = slice(0, n_tr), slice(n_tr, n_tr + n_va), slice(n_tr + n_va, None)
        bb = train_black_box(
            lambda: ImageCNN(2),
            X[tr].to(device),
            y[tr].to(device),
            epochs=cfg["bb_epochs"],
            seed=0,
            device=device,
        )
        Xtr, Xva, Xte, yte = X[tr], X[va], X[te], y[te]
        k, groups = 4, "patches4x4"
    elif name == "fashion_mnist":
        X, y = load_fashion_mnist("train")
        Xt, yt = load_fashion_mnist("test")
        p = rng.permutation(len(X))
        X, y = torch.tensor(X[p]), torch.tensor(y[p])
        bb = train_black_box(
            lambda: ImageCNN(10),
            X[: cfg["fm_bb"]].to(device),
            y[: cfg["fm_bb"]].to(device),
            epochs=cfg["bb_epochs"],
            seed=0,
            device=device,
        )
        Xtr = X[: cfg["fm_train"]]
        Xva = X[len(X) - cfg["fm_val"] :]
        Xte, yte = torch.tensor(Xt[: cfg["fm_test"]]), torch.tensor(yt[: cfg["fm_test"]])
        k, groups = 4, "patches4x4"
    else:
        texts, y = load_tweets()
        ids = tokenize(texts)
        p = rng.permutation(len(ids))
        X, y = torch.tensor(ids[p]), torch.tensor(y[p])
        nb = cfg["tw_bb"]
        bb = train_black_box(
            lambda: WordCNN(5000, 3),
            X[:nb].to(device),
            y[:nb].to(device),
            epochs=cfg["bb_epochs_text"],
            seed=0,
            device=device,
        )
        Xtr = X[: cfg["tw_train"]]
        Xva = X[nb : nb + cfg["tw_val"]]
        Xte, yte = (
            X[nb + cfg["tw_val"] : nb + cfg["tw_val"] + cfg["tw_test"]],
            y[nb + cfg["tw_val"] : nb + cfg["tw_val"] + cfg["tw_test"]],
        )
        k, groups = 5, None
    Xtr, Xva, Xte = Xtr.to(device), Xva.to(device), Xte.to(device)
    info = {
        "bb_test_accuracy": accuracy(bb, Xte, yte.to(device)),
        "n_val": len(Xva),
        "n_test": len(Xte),
        "d": int(Xtr.shape[1]),
    }
    return bb, Xtr, Xva, Xte, k, groups, info


# ----------------------------------------------------------------------------- statistics
def wilson(p, n, z=1.959964):
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return c - h, c + h


T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_interval(values):
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), None, None  # one seed: no interval
    h = T975.get(len(v) - 1, 1.96) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(v.mean() - h), float(v.mean() + h)


# ----------------------------------------------------------------------------- main
def train_one(bb, Xtr, Xva, tau, seed, *, k, groups, sampler, epochs, args, device, text):
    """One explainer (seconds of training too); text uses L2X's word networks (64 filters)."""
    t = time.time()
    ex = E.train_explainer(
        bb,
        Xtr,
        k=k,
        groups=groups,
        sampler=sampler,
        tau=tau,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        device=device,
        X_val=Xva,
        vocab_size=5000 if text else None,
        hidden=64 if text else 200,
    )
    return ex, time.time() - t


def run(args):
    torch.set_num_threads(1)
    device = args.device
    if args.quick:
        cfg = dict(
            mnist_train=200,
            mnist_val=100,
            bb_epochs=2,
            bb_epochs_text=1,
            fm_bb=1000,
            fm_train=300,
            fm_val=200,
            fm_test=300,
            tw_bb=2000,
            tw_train=300,
            tw_val=200,
            tw_test=300,
            epochs=2,
            taus=(0.5, 2.0),
            seeds=1,
        )
    elif args.full:
        cfg = dict(
            mnist_train=600,
            mnist_val=200,
            bb_epochs=10,
            bb_epochs_text=5,
            fm_bb=50000,
            fm_train=50000,
            fm_val=10000,
            fm_test=10000,
            tw_bb=12000,
            tw_train=12000,
            tw_val=2000,
            tw_test=5332,
            epochs=50,
            taus=TAUS,
            seeds=args.seeds or 5,
        )
    else:
        cfg = dict(
            mnist_train=600,
            mnist_val=200,
            bb_epochs=5,
            bb_epochs_text=3,
            fm_bb=10000,
            fm_train=4000,
            fm_val=1000,
            fm_test=2000,
            tw_bb=12000,
            tw_train=6000,
            tw_val=1000,
            tw_test=3000,
            epochs=args.epochs,
            taus=TAUS,
            seeds=args.seeds or 4,
        )
    if args.taus:
        cfg["taus"] = tuple(float(t) for t in args.taus.split(","))
    epochs = {
        "mnist_subset": 3 * cfg["epochs"],
        "fashion_mnist": cfg["epochs"],
        "tweets": cfg["epochs"],
    }
    ctx = {
        "device": cpu_label() if device == "cpu" else torch.cuda.get_device_name(),
        "commit": git_commit(),
    }
    out = out_path(args.out, args.quick, BENCHMARK)
    records = []

    def rec(dataset, method, metric, value, params, seconds):
        records.append(
            {
                "benchmark": BENCHMARK,
                "dataset": dataset,
                "method": method,
                "metric": metric,
                "value": value,
                "params": params,
                "seconds": seconds,
                "device": ctx["device"],
                "commit": ctx["commit"],
            }
        )

    for dataset in args.datasets.split(","):
        t0 = time.time()
        try:
            bb, Xtr, Xva, Xte, k, groups, info = make_task(dataset, cfg, device)
        except (ImportError, FileNotFoundError) as exc:  # a data set that is not installed
            print(f"{dataset}: skipped ({str(exc).splitlines()[0]})", flush=True)
            continue
        print(
            f"{dataset}: black box test accuracy {info['bb_test_accuracy']:.3f} "
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
        ep = epochs[dataset]
        base = {
            "k": k,
            "d": info["d"],
            "n_train": len(Xtr),
            "n_val": info["n_val"],
            "n_test": info["n_test"],
            "epochs": ep,
            "groups": groups or ("words" if dataset == "tweets" else "features"),
            "bb_test_accuracy": round(info["bb_test_accuracy"], 4),
        }
        per_seed = {}
        for method, sampler in METHODS.items():
            train = functools.partial(
                train_one,
                bb,
                Xtr,
                Xva,
                k=k,
                groups=groups,
                sampler=sampler,
                epochs=ep,
                args=args,
                device=device,
                text=dataset == "tweets",
            )
            grid = {}
            for tau in cfg["taus"]:
                ex, secs = train(tau, 0)
                grid[tau] = (max(ex.val_history), ex, secs)
                rec(
                    dataset,
                    method,
                    "val_posthoc_accuracy",
                    grid[tau][0],
                    {**base, "tau": tau, "seed": 0, "load": os.getloadavg()[0]},
                    secs,
                )
                print(
                    f"  {method:6s} tau={tau:<4} val {grid[tau][0]:.3f} ({secs:.0f} s)", flush=True
                )
            tau = max(grid, key=lambda t: (grid[t][0], -abs(math.log(t))))
            accs = []
            for seed in range(cfg["seeds"]):
                ex, secs = (grid[tau][1], grid[tau][2]) if seed == 0 else train(tau, seed)
                acc = E.posthoc_accuracy(bb, Xte, ex)
                lo, hi = wilson(acc, len(Xte))
                with torch.no_grad():
                    logits = ex(Xte)
                    g = torch.Generator(device=device).manual_seed(seed)
                    dist = E.distinct_features(logits, k, sampler=sampler, tau=tau, generator=g)
                p = {
                    **base,
                    "tau": tau,
                    "seed": seed,
                    "best_epoch": ex.best_epoch,
                    "load": round(os.getloadavg()[0], 2),
                }
                rec(
                    dataset,
                    method,
                    "posthoc_accuracy",
                    acc,
                    {**p, "ci95_low": lo, "ci95_high": hi, "ci95": "wilson_test_binomial"},
                    secs,
                )
                rec(dataset, method, "mean_distinct_features", float(dist.float().mean()), p, 0.0)
                rec(dataset, method, "frac_fewer_than_k", float((dist < k).float().mean()), p, 0.0)
                accs.append(acc)
                print(
                    f"  {method:6s} tau={tau} seed={seed} test {acc:.3f} [{lo:.3f}, {hi:.3f}]"
                    f" distinct {float(dist.float().mean()):.2f}",
                    flush=True,
                )
            m, lo, hi = t_interval(accs)
            rec(
                dataset,
                method,
                "posthoc_accuracy_mean",
                m,
                {
                    **base,
                    "tau": tau,
                    "seeds": cfg["seeds"],
                    "ci95_low": lo,
                    "ci95_high": hi,
                    "ci95": "t_over_seeds",
                },
                0.0,
            )
            for metric, bound in (
                ("posthoc_accuracy_ci95_low", lo),
                ("posthoc_accuracy_ci95_high", hi),
            ):
                rec(
                    dataset,
                    method,
                    metric,
                    bound,
                    {**base, "tau": tau, "seeds": cfg["seeds"], "ci95": "t_over_seeds"},
                    0.0,
                )
            per_seed[method] = accs
        m, lo, hi = t_interval(np.subtract(per_seed["subsel"], per_seed["l2x"]))
        rec(
            dataset,
            "subsel",
            "posthoc_accuracy_diff",
            m,
            {
                **base,
                "vs": "l2x",
                "seeds": cfg["seeds"],
                "ci95_low": lo,
                "ci95_high": hi,
                "ci95": "t_over_seeds_paired",
            },
            0.0,
        )
        atomic_write_text(out, json.dumps(records, indent=1) + "\n")
    if not records:
        print("explain: skipped (no data set could be loaded); nothing written")
        return 0
    print_table(records)
    print(f"wrote {len(records)} records to {out}")
    return 0


def _ci(p):
    if p.get("ci95_low") is None:
        return "(one seed)"
    return f"[{p['ci95_low']:.4f}, {p['ci95_high']:.4f}]"


def print_table(records):
    """Mean post-hoc accuracy over seeds with its 95% t-interval, the L2X flaw's counts, and
    the paired difference subsel - l2x."""
    print(
        f"\n{'dataset':14s} {'method':7s} {'tau':>4s} {'post-hoc acc':>12s} {'95% (t, seeds)':>18s}"
        f" {'distinct':>8s} {'<k':>6s}"
    )
    for r in records:
        p = r["params"]
        if r["metric"] == "posthoc_accuracy_mean":

            def mean_of(metric, r=r):
                v = [
                    x["value"]
                    for x in records
                    if x["metric"] == metric
                    and x["dataset"] == r["dataset"]
                    and x["method"] == r["method"]
                ]
                return float(np.mean(v))

            print(
                f"{r['dataset']:14s} {r['method']:7s} {p['tau']:4g} {r['value']:12.4f} "
                f"{_ci(p):>18s} {mean_of('mean_distinct_features'):8.2f} "
                f"{mean_of('frac_fewer_than_k'):6.2f}"
            )
        elif r["metric"] == "posthoc_accuracy_diff":
            print(f"{r['dataset']:14s} {'diff':7s} {'':4s} {r['value']:+12.4f} {_ci(p):>18s}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds (CI)")
    p.add_argument("--full", action="store_true", help="the paper's sizes (for a GPU)")
    p.add_argument("--out", default=None)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--epochs", type=int, default=10, help="explainer epochs (MNIST: 3x)")
    p.add_argument("--taus", default=None, help="comma-separated temperature grid")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--datasets", default="mnist_subset,fashion_mnist,tweets")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
