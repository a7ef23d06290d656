"""Benchmark: diverse interactive segmentations on real photos (section 4.1 of Prasad et al.).

Data: ``../shared/data/iseg20`` (20 BSDS500 photos, GrabCut-benchmark masks, scribbles; see its
README). For every image the relevance model is :func:`subsel.structured.segmentation_crf`
(colour GMMs from the strokes, a geodesic stroke-distance prior, contrast-sensitive Potts on the
8-connected grid, strokes as hard constraints; exact MAP by graph cut), and each method returns
``M = 10`` masks by the greedy of eq. 2. Accuracy of a mask: IoU of the foreground with the truth,
the 128 band left out. Oracle IoU at ``M``: the best of the first ``M`` masks; the tables give its
mean over images.

Methods: ``divmbest`` (linear Hamming, Batra et al. 2012), ``hamming_ball`` (eq. 10 with
``I = exp(-gamma Ham / n)``), ``sum`` (DivMBest (+) Hamming ball, weights by grid search) and
``concat`` (DivMBest (x) Hamming ball: the MAP and DivMBest's list, then Hamming ball's list).

Protocol: images sorted by id; the even positions are the tuning half, the odd positions the test
half. On the tuning half, first the model's ``(smoothness, spatial)`` by mean MAP IoU, then each
method's ``lam`` (and ``gamma``) by mean oracle IoU at M = 5. Only the test half is reported
(records with ``params.split = "test"``); the tuning grid's means are kept with
``params.split = "tune"``.

Also, ``../shared/data/divmbest-voc`` (one PASCAL VOC image as a 2910-superpixel binary CRF, the
example of the DivMBest code): MAP IoU and oracle IoU at M = 5 for DivMBest (lam = 0.2, the
README's reference) and Hamming ball, with the Hamming-ball step solved both by iterated
linearization (graph cuts) and by max-product with cardinality messages, and their step times.

Output: JSON records (``benchmark``, ``dataset``, ``method``, ``metric``, ``value``, ``params``,
``seconds``, ``device``, ``commit``) to ``--out``, and the masks of two test images to
``--masks`` (for the demo report).

Run (from the repository root)::

    python benchmarks/structured_segmentation.py            # all, in os.cpu_count() processes
    python benchmarks/structured_segmentation.py --quick    # smoke test: 2 small images
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_bytes, atomic_write_text
from subsel.datasets import load_divmbest_voc, load_iseg20
from subsel.structured import (
    DivMBest,
    HammingBall,
    PairwiseCRF,
    diverse_solutions,
    graph_cut,
    oracle_curve,
    segmentation_crf,
    solve_step,
)

ROOT = Path(__file__).resolve().parents[1]
M_MAX = 10
M_REPORT = (1, 2, 5, 10)
MODEL_GRID = [
    {"smoothness": 50.0, "spatial": 30.0},
    {"smoothness": 100.0, "spatial": 30.0},
    {"smoothness": 100.0, "spatial": 60.0},
]
DIVMBEST_GRID = [{"lam": lam} for lam in (0.1, 0.3, 1.0, 3.0)]
HB_GRID = [{"lam": lam, "gamma": g} for lam in (0.05, 0.3, 2.0) for g in (5.0, 20.0, 80.0)]
SUM_WEIGHTS = [(0.5, 0.5), (1.0, 1.0)]
# --quick: 2 images (one to tune, one to test) downsampled by QUICK_FACTOR, M = QUICK_M, and
# 1-2 configurations per method; set through the environment so that worker processes see it
QUICK_ENV = "SUBSEL_BENCH_QUICK"
QUICK_FACTOR = 4
QUICK_M = 3
QUICK_IMAGES = 2
QUICK_VOC_STEPS = 3


def _quick() -> bool:
    return os.environ.get(QUICK_ENV) == "1"


def _m_max() -> int:
    return QUICK_M if _quick() else M_MAX


def _m_report() -> tuple[int, ...]:
    return tuple(m for m in M_REPORT if m <= _m_max())


def _downsample(item: dict, f: int) -> dict:
    """Every f-th pixel of image and truth; a block of scribbles keeps any label it holds
    (foreground first), so that thin strokes survive."""
    h, w = (item["truth"].shape[0] // f) * f, (item["truth"].shape[1] // f) * f
    blocks = item["scribbles"][:h, :w].reshape(h // f, f, w // f, f)
    scribbles = np.full((h // f, w // f), -1, dtype=item["scribbles"].dtype)
    scribbles[(blocks == 0).any(axis=(1, 3))] = 0
    scribbles[(blocks == 1).any(axis=(1, 3))] = 1
    return {
        **item,
        "image": np.ascontiguousarray(item["image"][:h:f, :w:f]),
        "truth": np.ascontiguousarray(item["truth"][:h:f, :w:f]),
        "scribbles": scribbles,
    }


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Foreground IoU, the 128 band left out."""
    valid = truth != 128
    fg = truth == 255
    union = ((mask | fg) & valid).sum()
    return float(((mask & fg) & valid).sum() / union) if union else 1.0


@functools.lru_cache(maxsize=1)
def _data() -> list[dict]:
    if _quick():
        return [_downsample(item, QUICK_FACTOR) for item in load_iseg20()[:QUICK_IMAGES]]
    return load_iseg20()


@functools.lru_cache(maxsize=2)
def _crf(index: int, model_key: tuple) -> PairwiseCRF:
    item = _data()[index]
    return segmentation_crf(item["image"], item["scribbles"], **dict(model_key))


def _diversity(method: str, cfg: dict):
    """``(diversity, kwargs)`` for diverse_solutions from a method name and its parameters."""
    if method == "divmbest":
        return [DivMBest(cfg["lam"])], {}
    if method == "hamming_ball":
        return [HammingBall(cfg["lam"], cfg["gamma"])], {}
    d, h = DivMBest(cfg["lam_d"]), HammingBall(cfg["lam_h"], cfg["gamma"])
    if method == "sum":
        return [d, h], {"combine": "sum", "weights": [cfg["w_d"], cfg["w_h"]]}
    return [d, h], {"combine": "concat"}


def run_one(task: tuple) -> dict:
    """One image, one method, one configuration: IoU of each of the M masks, and timings."""
    index, model_key, method, cfg, m = task
    t0 = time.perf_counter()
    crf = _crf(index, model_key)
    build = time.perf_counter() - t0
    truth = _data()[index]["truth"]
    shape = truth.shape
    if method == "map":
        t0 = time.perf_counter()
        y = graph_cut(crf)
        return {
            "ious": [iou(y.reshape(shape).astype(bool), truth)],
            "seconds": 0.0,
            "map_seconds": time.perf_counter() - t0,
            "build": build,
            "map_calls": [1],
        }
    div, kw = _diversity(method, cfg)
    t0 = time.perf_counter()
    sols, info = diverse_solutions(crf, m, diversity=div, return_info=True, **kw)
    secs = time.perf_counter() - t0
    ious = [iou(s.reshape(shape).astype(bool), truth) for s in sols]
    return {
        "ious": ious,
        "seconds": secs,
        "build": build,
        "map_calls": info["map_calls"],
        "masks": np.packbits(sols.astype(bool), axis=1),
    }


def _run_batch(batch: list[tuple]) -> list[dict]:
    return [run_one(t) for t in batch]


def _run(tasks: list[tuple], jobs: int) -> list[dict]:
    """Run tasks, those of one image together in one process (its CRF is built once)."""
    groups: dict[tuple, list[int]] = {}
    for k, t in enumerate(tasks):
        groups.setdefault((t[0], t[1]), []).append(k)
    batches = [[tasks[k] for k in ks] for ks in groups.values()]
    if jobs <= 1:
        outs = [_run_batch(b) for b in batches]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            outs = list(pool.map(_run_batch, batches, chunksize=1))
    result: list[dict] = [{}] * len(tasks)
    for ks, out in zip(groups.values(), outs, strict=True):
        for k, r in zip(ks, out, strict=True):
            result[k] = r
    return result


def _mean_curve(results: list[dict]) -> np.ndarray:
    curves = [oracle_curve(r["ious"]) for r in results]
    return np.mean(np.stack(curves), axis=0)


def _tune(method, grid, idx, model_key, jobs, console):
    tasks = [(i, model_key, method, cfg, _m_max()) for cfg in grid for i in idx]
    out = _run(tasks, jobs)
    rows = []
    for c, cfg in enumerate(grid):
        part = out[c * len(idx) : (c + 1) * len(idx)]
        rows.append((cfg, _mean_curve(part)))
    at = min(5, len(rows[0][1]))
    best = max(rows, key=lambda r: r[1][at - 1])
    console.print(
        f"  {method}: best on tuning half {best[0]} -> oracle@{at} {best[1][at - 1]:.4f} "
        f"(grid of {len(grid)})"
    )
    return best[0], rows


def iseg_experiment(args, console, records, base):
    data = _data()
    n_img = len(data)
    tune_idx = list(range(0, n_img, 2))
    test_idx = list(range(1, n_img, 2))
    console.print(f"iseg20: {n_img} images, tuning {len(tune_idx)}, test {len(test_idx)}")

    # 1. the relevance model, by MAP IoU on the tuning half
    grid = MODEL_GRID if not args.quick else MODEL_GRID[:2]
    tasks = [(i, tuple(sorted(m.items())), "map", {}, 1) for m in grid for i in tune_idx]
    out = _run(tasks, args.jobs)
    scores = []
    for k, m in enumerate(grid):
        part = out[k * len(tune_idx) : (k + 1) * len(tune_idx)]
        scores.append(float(np.mean([r["ious"][0] for r in part])))
        records.append(
            {
                **base,
                "dataset": "iseg20",
                "method": "map",
                "metric": "iou",
                "value": scores[-1],
                "params": {**m, "split": "tune", "M": 1},
            }
        )
    model = grid[int(np.argmax(scores))]
    model_key = tuple(sorted(model.items()))
    console.print(f"  model: {model} (tuning MAP IoU {max(scores):.4f}; grid {scores})")

    # 2. each method's parameters, by oracle IoU at M = 5 on the tuning half
    chosen = {}
    for method, g in (("divmbest", DIVMBEST_GRID), ("hamming_ball", HB_GRID)):
        g = g if not args.quick else g[:2]
        chosen[method], rows = _tune(method, g, tune_idx, model_key, args.jobs, console)
        for cfg, curve in rows:
            for m in _m_report():
                records.append(
                    {
                        **base,
                        "dataset": "iseg20",
                        "method": method,
                        "metric": "oracle_iou",
                        "value": float(curve[m - 1]),
                        "params": {**cfg, "M": m, "split": "tune", **model},
                    }
                )
    pair = {
        "lam_d": chosen["divmbest"]["lam"],
        "lam_h": chosen["hamming_ball"]["lam"],
        "gamma": chosen["hamming_ball"]["gamma"],
    }
    sum_grid = [{**pair, "w_d": a, "w_h": b} for a, b in SUM_WEIGHTS]
    chosen["sum"], rows = _tune(
        "sum", sum_grid if not args.quick else sum_grid[:1], tune_idx, model_key, args.jobs, console
    )
    chosen["concat"] = pair

    # 3. the test half
    table = Table(title="iseg20 test half: mean oracle IoU (best of the first M masks)")
    table.add_column("method")
    for m in _m_report():
        table.add_column(f"M={m}", justify="right")
    table.add_column(f"s / image (M={_m_max()})", justify="right")
    table.add_column("params")
    masks_out = {}
    for method in ("divmbest", "hamming_ball", "sum", "concat"):
        cfg = chosen[method]
        tasks = [(i, model_key, method, cfg, _m_max()) for i in test_idx]
        out = _run(tasks, args.jobs)
        curve = _mean_curve(out)
        secs = statistics.median(r["seconds"] for r in out)
        calls = statistics.median(sum(r["map_calls"]) for r in out)
        for m in _m_report():
            records.append(
                {
                    **base,
                    "dataset": "iseg20",
                    "method": method,
                    "metric": "oracle_iou",
                    "value": float(curve[m - 1]),
                    "params": {**cfg, "M": m, "split": "test", **model, "n_images": len(test_idx)},
                    "seconds": secs,
                }
            )
        records.append(
            {
                **base,
                "dataset": "iseg20",
                "method": method,
                "metric": "seconds_median",
                "value": secs,
                "params": {
                    **cfg,
                    "M": _m_max(),
                    "split": "test",
                    "map_calls_median": calls,
                    "per": "image, all M masks",
                },
                "seconds": secs,
            }
        )
        table.add_row(
            method, *(f"{curve[m - 1]:.4f}" for m in _m_report()), f"{secs:.1f}", json.dumps(cfg)
        )
        for r, i in zip(out, test_idx, strict=True):
            if i in test_idx[:2]:
                masks_out[f"{data[i]['id']}_{method}"] = r["masks"]
    build = statistics.median(r["build"] for r in out)
    map_secs = statistics.median(
        r["map_seconds"] for r in _run([(i, model_key, "map", {}, 1) for i in test_idx], 1)
    )
    records.append(
        {
            **base,
            "dataset": "iseg20",
            "method": "segmentation_crf",
            "metric": "seconds_median",
            "value": build,
            "params": {**model},
            "seconds": build,
        }
    )
    records.append(
        {
            **base,
            "dataset": "iseg20",
            "method": "graph_cut_map",
            "metric": "seconds_median",
            "value": map_secs,
            "params": {**model},
            "seconds": map_secs,
        }
    )
    console.print(table)
    console.print(f"  CRF build {build:.2f} s, MAP graph cut {map_secs:.2f} s (medians per image)")
    if args.masks:
        buf = io.BytesIO()
        meta = {f"{data[i]['id']}": list(data[i]["truth"].shape) for i in test_idx[:2]}
        np.savez_compressed(buf, meta=json.dumps(meta), **masks_out)
        atomic_write_bytes(args.masks, buf.getvalue())


def voc_experiment(args, console, records, base):
    try:
        voc = load_divmbest_voc()
    except FileNotFoundError as exc:
        console.print(f"divmbest-voc: skipped ({exc})")
        return
    costs, weights = voc["costs"], voc["weights"]
    upper = __import__("scipy.sparse", fromlist=["triu"]).triu(weights, k=1).tocoo()
    edges = np.stack([upper.row, upper.col], axis=1).astype(np.int64)
    sp, truth = voc["superpixels"], voc["truth"]
    valid = truth != 255
    fg_truth = (truth > 0) & valid

    def score(y, fg_label):
        mask = (y[sp] == fg_label) & valid
        return float((mask & fg_truth).sum() / max((mask | fg_truth).sum(), 1))

    crf = PairwiseCRF(-costs, edges, np.eye(2), edge_weights=upper.data)
    y_map = graph_cut(crf)
    fg_label = max((0, 1), key=lambda lab: score(y_map, lab))
    console.print(f"divmbest-voc: {crf}; foreground label = {fg_label} (the one whose MAP fits)")
    steps = QUICK_VOC_STEPS if args.quick else 5
    table = Table(title="divmbest-voc (one image): IoU")
    for c in ("method", "MAP", f"oracle@{steps}", "s / step (median)"):
        table.add_column(c)
    configs = [("divmbest", {"lam": 0.2}, "auto")]
    configs += [
        ("hamming_ball", {"lam": lam, "gamma": g}, "auto")
        for lam in (0.1, 0.5, 2.0)
        for g in (5.0, 20.0, 80.0)
    ]
    configs += [("hamming_ball", {"lam": 0.5, "gamma": 20.0}, "max_product")]
    if args.quick:  # one configuration per method and solver
        configs = [configs[0], configs[5], configs[-1]]
    for method, cfg, solver in configs:
        term = (
            DivMBest(cfg["lam"]) if method == "divmbest" else HammingBall(cfg["lam"], cfg["gamma"])
        )
        S, times = [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            y, _ = solve_step(crf, term, S, solver=solver)
            times.append(time.perf_counter() - t0)
            S.append(y)
        curve = oracle_curve([score(y, fg_label) for y in S])
        step = statistics.median(times[1:])
        name = method if solver == "auto" else f"{method} (max_product)"
        table.add_row(
            name,
            f"{curve[0]:.3f}",
            f"{curve[-1]:.3f}",
            f"{step:.3f}",
        )
        for m, v in ((1, curve[0]), (steps, curve[-1])):
            records.append(
                {
                    **base,
                    "dataset": "divmbest-voc",
                    "method": method,
                    "metric": "oracle_iou",
                    "value": float(v),
                    "params": {
                        **cfg,
                        "M": m,
                        "solver": solver,
                        "note": "one image; no tuning split",
                    },
                    "seconds": step,
                }
            )
    console.print(table)
    console.print("  README reference: MAP 0.591, DivMBest oracle@5 0.879 (lambda = 0.2)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=None,
        help="default benchmarks/results/structured_segmentation.json (--quick: a temporary file)",
    )
    parser.add_argument(
        "--masks",
        default=None,
        help="default benchmarks/results/structured_segmentation_masks.npz (--quick: beside --out)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="processes (default: all cores; --quick: 1)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_IMAGES} images downsampled {QUICK_FACTOR}x, M = {QUICK_M}, "
        "1-2 configurations per method",
    )
    parser.add_argument("--skip-voc", action="store_true")
    args = parser.parse_args(argv)
    args.out = out_path(args.out, args.quick, "structured_segmentation")
    if args.masks is None:
        args.masks = (
            args.out.with_name(args.out.stem + "_masks.npz")
            if args.quick
            else ROOT / "benchmarks/results/structured_segmentation_masks.npz"
        )
    if args.jobs is None:
        args.jobs = 1 if args.quick else os.cpu_count() or 1
    if args.quick:
        os.environ[QUICK_ENV] = "1"  # before _data() and the worker processes
    console = Console()
    try:
        _data()
    except FileNotFoundError as exc:
        console.print(f"skipped: {exc}")
        return 0
    base = {
        "benchmark": "structured_segmentation",
        "device": cpu_label(),
        "commit": git_commit(),
        "seconds": None,
    }
    records: list[dict] = []
    t0 = time.perf_counter()
    iseg_experiment(args, console, records, base)
    if not args.skip_voc:
        voc_experiment(args, console, records, base)
    console.print(f"total {time.perf_counter() - t0:.0f} s")
    atomic_write_text(args.out, json.dumps(records, indent=1) + "\n")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
