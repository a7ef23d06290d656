"""Benchmark: diverse M-best disparity maps of a multi-label stereo CRF (Table 2 of Prasad et al.).

The multi-label analogue of section 4.2 of Prasad, Jegelka & Batra (NeurIPS 2014) on real data with
ground truth: the Middlebury "Motorcycle" pair bundled in scikit-image
(``skimage.data.stereo_motorcycle()``, 500 x 741 RGB, disparities 7-60 px, ``inf`` where unknown).

Model (one pairwise CRF over disparity labels, scores maximized, energies = -scores)
-----------------------------------------------------------------------------------
- Both images are downsampled by ``--factor`` (default 3) with area averaging
  (``skimage.transform.downscale_local_mean``); the truth is averaged over each factor x factor
  block (a block is valid only when all its pixels are finite), divided by the factor and rounded:
  labels ``0..D`` with ``D = ceil(max truth / factor) + 2`` (23 labels at factor 3).
- Unary score of disparity ``d`` at pixel ``(r, c)``: ``-min(sum_rgb |left(r, c) - right(r, c - d)|,
  60)`` (pixel values 0..255; truncated absolute difference, no window, no Birchfield-Tomasi);
  ``c - d < 0`` gets the truncation cost 60.
- Pairwise: truncated linear ``min(|a - b|, trunc)`` (a metric, so alpha-expansion moves are
  exact), scaled per edge by the contrast-sensitive weight ``smooth * exp(-beta ||left_i -
  left_j||^2)``, ``beta = 1 / (2 mean ||.||^2)`` over the crop's 4-connected edges.
- MAP: alpha-expansion (PyMaxflow), the library's first greedy step.

Accuracy of a labelling: the share of pixels with finite truth whose label is within 1 of the
quantized true disparity (within ``factor`` original pixels). Oracle accuracy at ``M``: the accuracy
of the best of the first ``M`` labellings (:func:`subsel.structured.oracle_curve`).

Methods (greedy of eq. 2, :func:`subsel.structured.diverse_solutions`)
-------------------------------------------------------------------
``divmbest`` (linear Hamming), ``hamming_ball`` (eq. 10, ``gamma``), ``label_cost`` and
``label_transition`` each with ``h`` in {min1, sqrt, log1p} (default parsimony ``h(1) - h(0)``),
``sum`` = DivMBest (+) Hamming ball (weights by grid search around the single methods' ``lam``) and
``concat`` = DivMBest (x) Hamming ball (x) LabelCost (x) LabelTransition (the MAP, then the four
greedy lists, each with its own tuned parameters and ``h``, concatenated; its M = 5 column comes from
a separate M = 5 run, as a prefix of the M = 15 list would hold only DivMBest's solutions).

Protocol: no parameter is chosen on the numbers reported
-------------------------------------------------------
The downsampled image is cut into a TOP half (rows ``0..h/2``) and a BOTTOM half; each half is
its own CRF. On the TOP half only: first the model's ``(smooth, trunc)`` by MAP accuracy, then each
method's ``lam`` (and ``gamma``; ``h`` is a reported row, not tuned, except inside ``concat``) by
oracle accuracy at M = 5 (ties: the first in the grid, i.e. the smallest ``lam``). Every chosen
configuration is then run once with M = 15 on the BOTTOM half, which is what the table and the
``params.split = "bottom_half"`` records report. The tuning grid's numbers are kept as records with
``params.split = "top_half"``. The bottom-half MAP accuracy of every model of the grid is recorded
too (``metric = "map_accuracy"``, ``params.note``), as a diagnostic of how far the top half's choice
transfers; it chooses nothing.

Output: JSON records (``benchmark``, ``dataset = "stereo_motorcycle"``, ``method``, ``metric``
(``oracle_accuracy``, ``map_accuracy``, ``seconds``), ``value``, ``params`` (``M``, ``lam``,
``gamma``, ``h``, ``factor``, ``split``, ...; ``structured_src_sha256`` pins the not yet committed
``src/subsel/structured`` sources), ``seconds``, ``device``, ``commit``) written atomically to
``--out``; a table; and a figure (``--figure``): the left image, the truth, the MAP and the most
accurate Hamming-ball labelling among y^2..y^15 (as Fig. 3 of the paper) on the bottom half.

Run (from the repository root; about 15 minutes on 2 cores at factor 3, one process)::

    python benchmarks/structured_stereo.py
    python benchmarks/structured_stereo.py --quick    # smoke test: factor 8, one config a method
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_text
from subsel.structured import (
    DivMBest,
    HammingBall,
    LabelCost,
    LabelTransition,
    PairwiseCRF,
    alpha_expansion,
    diverse_solutions,
    oracle_curve,
)

ROOT = Path(__file__).resolve().parents[1]
DATASET = "stereo_motorcycle"
MATCH_TRUNC = 60.0  # truncation of the summed RGB absolute difference (0..765)
LABEL_MARGIN = 2
M_TUNE = 5
M_TEST = 15
M_REPORT = (1, 5, 15)
HS = ("min1", "sqrt", "log1p")
MODEL_GRID = [{"smooth": s, "trunc": t} for s in (10.0, 20.0, 40.0, 80.0) for t in (2, 4)]
# lam scales differ by term: per pixel (DivMBest, Hamming ball), per label (label cost), per
# label pair (label transition); each grid spans 1.5-3 decades on its own scale.
GRIDS = {
    "divmbest": [{"lam": v} for v in (0.03, 0.1, 0.3, 1.0)],
    "hamming_ball": [
        {"lam": v, "gamma": g} for v in (0.03, 0.1, 0.3, 1.0) for g in (3.0, 10.0, 30.0)
    ],
    "label_cost": [{"lam": v} for v in (10.0, 100.0, 1000.0, 10000.0)],
    "label_transition": [{"lam": v} for v in (10.0, 100.0, 1000.0)],
}
QUICK_FACTOR = 8
SUM_WEIGHTS = [(1.0, 1.0), (1.0, 0.5), (0.5, 1.0)]
QUICK_GRIDS = {
    "divmbest": [{"lam": 0.1}],
    "hamming_ball": [{"lam": 0.1, "gamma": 10.0}],
    "label_cost": [{"lam": 1000.0}],
    "label_transition": [{"lam": 100.0}],
}

T0 = time.perf_counter()


def structured_source_hash() -> str:
    """First 12 hex digits of a SHA-256 over ``src/subsel/structured/*.py`` (names and bytes):
    provenance for code not yet committed, which the ``commit`` field does not pin."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "subsel" / "structured").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.0f} s] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data and model
def load(factor: int) -> dict:
    """Downsampled images, the quantized truth (NaN where unknown) and the matching costs."""
    from skimage import data
    from skimage.transform import downscale_local_mean

    left, right, disp = data.stereo_motorcycle()
    hh, ww = (disp.shape[0] // factor) * factor, (disp.shape[1] // factor) * factor
    left_s = downscale_local_mean(left[:hh, :ww].astype(np.float64), (factor, factor, 1))
    right_s = downscale_local_mean(right[:hh, :ww].astype(np.float64), (factor, factor, 1))
    blocks = disp[:hh, :ww].astype(np.float64).reshape(hh // factor, factor, ww // factor, factor)
    valid = np.isfinite(blocks).all(axis=(1, 3))
    mean = np.where(valid, np.where(np.isfinite(blocks), blocks, 0.0).mean(axis=(1, 3)), np.nan)
    true_disp = mean / factor
    n_labels = int(np.ceil(np.nanmax(true_disp))) + LABEL_MARGIN + 1
    h, w = true_disp.shape
    cost = np.full((h, w, n_labels), MATCH_TRUNC)
    for d in range(min(n_labels, w)):
        diff = np.abs(left_s[:, d:] - right_s[:, : w - d]).sum(axis=-1)
        cost[:, d:, d] = np.minimum(diff, MATCH_TRUNC)
    return {
        "left": left_s,
        "left_full": left,
        "truth": np.rint(true_disp),
        "cost": cost,
        "n_labels": n_labels,
        "raw_max": float(np.max(disp[np.isfinite(disp)])),
        "valid_share": float(valid.mean()),
    }


def crop(data: dict, split: str) -> tuple[slice, np.ndarray, np.ndarray, np.ndarray]:
    h = data["truth"].shape[0]
    rows = slice(0, h // 2) if split == "top_half" else slice(h // 2, h)
    return rows, data["left"][rows], data["cost"][rows], data["truth"][rows]


def build_crf(data: dict, split: str, smooth: float, trunc: int) -> tuple[PairwiseCRF, np.ndarray]:
    """The CRF of one half (nodes row-major) and its truth ``(h, w)``."""
    _, img, cost, truth = crop(data, split)
    dh = ((img[:, 1:] - img[:, :-1]) ** 2).sum(axis=-1)  # grid_edges order: right, then down
    dv = ((img[1:] - img[:-1]) ** 2).sum(axis=-1)
    sq = np.concatenate([dh.ravel(), dv.ravel()])
    beta = 1.0 / (2.0 * sq.mean())
    labels = np.arange(data["n_labels"])
    table = np.minimum(np.abs(labels[:, None] - labels[None, :]), trunc).astype(np.float64)
    crf = PairwiseCRF.grid(-cost, -table, edge_weights=smooth * np.exp(-beta * sq))
    return crf, truth


def accuracy(y: np.ndarray, truth: np.ndarray) -> float:
    known = np.isfinite(truth)
    return float((np.abs(y.reshape(truth.shape)[known] - truth[known]) <= 1).mean())


# ----------------------------------------------------------------------------- methods
def diversity(method: str, cfg: dict) -> tuple[object, dict]:
    """``(diversity, kwargs)`` for diverse_solutions."""
    if method == "divmbest":
        return "hamming", {"lam": cfg["lam"]}
    if method == "hamming_ball":
        return "hamming_ball", {"lam": cfg["lam"], "gamma": cfg["gamma"]}
    if method in ("label_cost", "label_transition"):
        return method, {"lam": cfg["lam"], "h": cfg["h"]}
    dm, hb = DivMBest(cfg["lam_d"]), HammingBall(cfg["lam_h"], cfg["gamma"])
    if method == "sum":
        return [dm, hb], {"combine": "sum", "weights": [cfg["w_d"], cfg["w_h"]]}
    lc = LabelCost(cfg["lam_lc"], h=cfg["h_lc"])
    lt = LabelTransition(cfg["lam_lt"], h=cfg["h_lt"])
    return [dm, hb, lc, lt], {"combine": "concat"}


def run(crf: PairwiseCRF, truth: np.ndarray, method: str, cfg: dict, M: int) -> dict:
    div, kw = diversity(method, cfg)
    t0 = time.perf_counter()
    sols, info = diverse_solutions(crf, M, diversity=div, return_info=True, **kw)
    secs = time.perf_counter() - t0
    accs = [accuracy(y, truth) for y in sols]
    distinct = [len({y.tobytes() for y in sols[:m]}) for m in range(1, M + 1)]
    return {
        "accs": accs,
        "curve": oracle_curve(accs),
        "seconds": secs,
        "map_calls": int(sum(info["map_calls"])),
        "distinct": distinct,
        "changed": [float((y != sols[0]).mean()) for y in sols],
        "diversity_gain": [float(v) for v in info["diversity"]],
        "sols": sols,
    }


# ----------------------------------------------------------------------------- the experiment
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--factor", type=int, default=None, help="downsampling factor (default 3; --quick: 8)"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: factor 8, one config per method, 2 of the 3 h, M <= 5",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default benchmarks/results/structured_stereo.json (--quick: a temporary file)",
    )
    ap.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="default benchmarks/results/structured_stereo.png (--quick: beside --out)",
    )
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args(argv)
    args.out = out_path(args.out, args.quick, "structured_stereo")
    if args.figure is None:
        args.figure = (
            args.out.with_suffix(".png")
            if args.quick
            else ROOT / "benchmarks/results/structured_stereo.png"
        )
    console = Console(width=160)
    factor = args.factor or (QUICK_FACTOR if args.quick else 3)
    grids = QUICK_GRIDS if args.quick else GRIDS
    model_grid = MODEL_GRID[:2] if args.quick else MODEL_GRID
    sum_weights = SUM_WEIGHTS[:1] if args.quick else SUM_WEIGHTS
    m_test = M_TUNE if args.quick else M_TEST
    m_report = tuple(m for m in M_REPORT if m <= m_test)
    hs = HS[:2] if args.quick else HS

    try:
        data = load(factor)
    except (ImportError, OSError) as exc:  # skimage, or its data (fetched by pooch), missing
        console.print(f"structured_stereo: skipped, no stereo_motorcycle data ({exc})")
        return 0
    h, w = data["truth"].shape
    console.print(
        f"stereo_motorcycle: factor {factor} -> {h} x {w} pixels, {data['n_labels']} labels "
        f"(max finite truth {data['raw_max']:.1f} px = {data['raw_max'] / factor:.1f} levels, "
        f"+{LABEL_MARGIN}); truth known on {data['valid_share']:.1%} of the blocks. "
        "Tuning on the TOP half, reporting the BOTTOM half."
    )
    console.print(f"src/subsel/structured/*.py sha256 {structured_source_hash()}")
    base = {"benchmark": "structured_stereo", "dataset": DATASET, "device": cpu_label(),
            "commit": git_commit()}  # fmt: skip
    src_hash = structured_source_hash()
    common = {
        "factor": factor,
        "n_labels": data["n_labels"],
        "match_trunc": MATCH_TRUNC,
        "structured_src_sha256": src_hash,
    }
    records: list[dict] = []

    def record(method, metric, value, params, seconds=None):
        records.append({**base, "method": method, "metric": metric, "value": float(value),
                        "params": {**common, **params}, "seconds": seconds})  # fmt: skip

    # 1. the relevance model, by MAP accuracy on the top half
    scores = []
    for mcfg in model_grid:
        crf, truth = build_crf(data, "top_half", mcfg["smooth"], mcfg["trunc"])
        t0 = time.perf_counter()
        y = alpha_expansion(crf)
        secs = time.perf_counter() - t0
        scores.append(accuracy(y, truth))
        record("map", "map_accuracy", scores[-1],
               {**mcfg, "M": 1, "lam": None, "gamma": None, "h": None, "split": "top_half"},
               secs)  # fmt: skip
        log(f"model {mcfg}: top-half MAP accuracy {scores[-1]:.4f} ({secs:.2f} s)")
    model = model_grid[int(np.argmax(scores))]
    top_crf, top_truth = build_crf(data, "top_half", **model)
    bot_crf, bot_truth = build_crf(data, "bottom_half", **model)
    common.update(model)
    console.print(
        f"model (chosen on the top half by MAP accuracy): {model}; top {top_crf}, bottom {bot_crf}"
    )

    # 2. each method's parameters, by oracle accuracy at M = 5 on the top half
    def tune(method, grid):
        rows = []
        for cfg in grid:
            r = run(top_crf, top_truth, method, cfg, M_TUNE)
            rows.append((cfg, r))
            p = {"M": M_TUNE, "lam": cfg.get("lam"), "gamma": cfg.get("gamma"),
                 "h": cfg.get("h"), "split": "top_half"}  # fmt: skip
            p.update({k: v for k, v in cfg.items() if k not in p})
            for m in (1, M_TUNE):
                record(method, "oracle_accuracy", r["curve"][m - 1], {**p, "M": m}, r["seconds"])
            log(
                f"tune {method} {cfg}: oracle@{M_TUNE} {r['curve'][-1]:.4f}, "
                f"distinct {r['distinct'][-1]}, {r['map_calls']} MAP calls, {r['seconds']:.1f} s"
            )
        best = max(rows, key=lambda row: row[1]["curve"][-1])
        return best[0], best[1]["curve"][-1]

    chosen: dict[str, dict] = {}
    tuned_score: dict[str, float] = {}
    for method in ("divmbest", "hamming_ball"):
        chosen[method], tuned_score[method] = tune(method, grids[method])
    for method in ("label_cost", "label_transition"):
        for hname in hs:
            key = f"{method}/{hname}"
            grid = [{**cfg, "h": hname} for cfg in grids[method]]
            chosen[key], tuned_score[key] = tune(method, grid)
    pair = {
        "lam_d": chosen["divmbest"]["lam"],
        "lam_h": chosen["hamming_ball"]["lam"],
        "gamma": chosen["hamming_ball"]["gamma"],
    }
    chosen["sum"], tuned_score["sum"] = tune(
        "sum", [{**pair, "w_d": a, "w_h": b} for a, b in sum_weights]
    )
    best_lc = max(hs, key=lambda hn: tuned_score[f"label_cost/{hn}"])
    best_lt = max(hs, key=lambda hn: tuned_score[f"label_transition/{hn}"])
    chosen["concat"] = {
        **pair,
        "lam_lc": chosen[f"label_cost/{best_lc}"]["lam"],
        "h_lc": best_lc,
        "lam_lt": chosen[f"label_transition/{best_lt}"]["lam"],
        "h_lt": best_lt,
    }
    for key, cfg in chosen.items():
        console.print(f"  chosen on the top half: {key:24s} {cfg}")

    # 3. the bottom half, once per chosen configuration
    t0 = time.perf_counter()
    y_map = alpha_expansion(bot_crf)
    map_secs = time.perf_counter() - t0
    map_acc = accuracy(y_map, bot_truth)
    record("map", "map_accuracy", map_acc,
           {"M": 1, "lam": None, "gamma": None, "h": None, "split": "bottom_half"}, map_secs)  # fmt: skip
    record("alpha_expansion", "seconds", map_secs,
           {"M": 1, "lam": None, "gamma": None, "h": None, "split": "bottom_half",
            "n_nodes": bot_crf.n_nodes, "n_edges": bot_crf.n_edges}, map_secs)  # fmt: skip
    log(f"bottom half MAP accuracy {map_acc:.4f} ({map_secs:.2f} s)")
    # Diagnostic only (chooses nothing): how the bottom-half MAP depends on the model grid.
    sensitivity = []
    for mcfg, top_acc in zip(model_grid, scores, strict=True):
        crf_b, truth_b = build_crf(data, "bottom_half", mcfg["smooth"], mcfg["trunc"])
        acc_b = accuracy(alpha_expansion(crf_b), truth_b)
        sensitivity.append((mcfg, top_acc, acc_b))
        record("map", "map_accuracy", acc_b,
               {**mcfg, "M": 1, "lam": None, "gamma": None, "h": None, "split": "bottom_half",
                "note": "diagnostic over the model grid; not used for any choice"})  # fmt: skip

    rows = [("DivMBest", "divmbest", "divmbest", "-")]
    rows.append(("HammingBall", "hamming_ball", "hamming_ball", "-"))
    rows += [("LabelCost", f"label_cost/{hn}", "label_cost", hn) for hn in hs]
    rows += [("LabelTransition", f"label_transition/{hn}", "label_transition", hn) for hn in hs]
    rows.append(("DivMBest (+) HB", "sum", "sum", "-"))
    rows.append(("DivMBest (x) HB (x) LC (x) LT", "concat", "concat", f"{best_lc}/{best_lt}"))
    names = {
        "sum": "sum(divmbest,hamming_ball)",
        "concat": "concat(divmbest,hamming_ball,label_cost,label_transition)",
    }
    results = {}
    for _, key, method, _ in rows:
        cfg = chosen[key]
        r = run(bot_crf, bot_truth, method, cfg, m_test)
        curve = r["curve"]
        if method == "concat" and m_test > M_TUNE:
            r5 = run(bot_crf, bot_truth, method, cfg, M_TUNE)
            curve = np.concatenate([r5["curve"], curve[M_TUNE:]])
            curve[M_TUNE - 1] = r5["curve"][-1]
            r["curve_concat"] = curve
            r["seconds_m5"] = r5["seconds"]
        results[key] = r
        p = {
            "lam": cfg.get("lam"),
            "gamma": cfg.get("gamma"),
            "h": cfg.get("h"),
            "split": "bottom_half",
            "tuned_on": "top_half",
            "tuning_oracle_accuracy_M5": tuned_score.get(key),
        }
        p.update({k: v for k, v in cfg.items() if k not in p})
        for m in m_report:
            if method == "concat" and m == M_TUNE:
                extra = {"note": "separate M = 5 run (concat lists depend on M)",
                         "distinct": None, "map_calls": None}  # fmt: skip
                secs = r["seconds_m5"] if m_test > M_TUNE else r["seconds"]
            else:
                extra = {"distinct": r["distinct"][m - 1]}
                secs = r["seconds"]
            record(names.get(method, method), "oracle_accuracy", curve[m - 1],
                   {**p, "M": m, **extra}, secs)  # fmt: skip
        record(names.get(method, method), "seconds", r["seconds"],
               {**p, "M": m_test, "map_calls": r["map_calls"],
                "per": f"one diverse_solutions call, M = {m_test}"}, r["seconds"])  # fmt: skip
        r["curve"] = curve
        log(
            f"bottom {key}: "
            + ", ".join(f"M={m} {curve[m - 1]:.4f}" for m in m_report)
            + f"; distinct {r['distinct'][-1]}/{m_test}, {r['map_calls']} MAP calls, "
            f"{r['seconds']:.1f} s"
        )

    # 4. table
    table = Table(
        title=f"stereo_motorcycle, BOTTOM half ({bot_truth.shape[0]} x {bot_truth.shape[1]}, "
        f"{data['n_labels']} labels, factor {factor}): oracle accuracy (share within 1 level), "
        "parameters tuned on the TOP half by oracle accuracy at M = 5"
    )
    for col in ("method", "h", "MAP", *(f"M={m}" for m in m_report if m > 1)):
        table.add_column(col, justify="left" if col in ("method", "h") else "right")
    for col in (f"distinct@{m_test}", f"changed@{m_test}", "MAP calls", "seconds", "params"):
        table.add_column(col, justify="right" if col != "params" else "left")
    for label, key, _, hname in rows:
        r, cfg = results[key], chosen[key]
        cells = [f"{100 * r['curve'][m - 1]:.2f}" for m in m_report]
        params = {k: v for k, v in cfg.items() if k != "h"}
        table.add_row(
            label,
            hname,
            *cells,
            str(r["distinct"][-1]),
            f"{100 * float(np.mean(r['changed'][1:])):.1f}%",
            str(r["map_calls"]),
            f"{r['seconds']:.1f}",
            json.dumps(params),
        )
    console.print(table)
    console.print(
        "  model grid, MAP accuracy top half -> bottom half (the top half chose; diagnostic): "
        + "; ".join(
            f"smooth {c['smooth']:g}, trunc {c['trunc']}: {100 * a:.1f} -> {100 * b:.1f}"
            for c, a, b in sensitivity
        )
    )
    console.print(
        f"  alpha-expansion MAP on the bottom half: {map_secs:.2f} s; changed@{m_test} = mean "
        "share of pixels where y^2..y^M differ from the MAP; concat's M=5 is a separate run."
    )

    # 5. figure
    if not args.no_figure:
        hb = results["hamming_ball"]
        others = hb["accs"][1:]
        j = 1 + int(np.argmax(others))
        save_figure(args.figure, data, bot_truth, y_map, hb["sols"][j], map_acc, others[j - 1], j)
        console.print(f"wrote {args.figure}")
    atomic_write_text(args.out, json.dumps(records, indent=1) + "\n")
    console.print(f"wrote {args.out} ({len(records)} records)")
    console.print(f"total {time.perf_counter() - T0:.0f} s")
    return 0


def save_figure(path, data, truth, y_map, y_best, map_acc, best_acc, j) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from subsel._io import atomic_write_bytes

    _, img, _, _ = crop(data, "bottom_half")
    shape = truth.shape
    vmax = data["n_labels"] - 1
    fig, axes = plt.subplots(1, 4, figsize=(16, 2.4))
    axes[0].imshow(np.clip(img / 255.0, 0, 1))
    axes[0].set_title("left image (bottom half, downsampled)")
    axes[1].imshow(np.ma.masked_invalid(truth), cmap="viridis", vmin=0, vmax=vmax)
    axes[1].set_title("truth (quantized; unknown blank)")
    axes[2].imshow(y_map.reshape(shape), cmap="viridis", vmin=0, vmax=vmax)
    axes[2].set_title(f"MAP y^1 (acc {100 * map_acc:.1f}%)")
    axes[3].imshow(y_best.reshape(shape), cmap="viridis", vmin=0, vmax=vmax)
    axes[3].set_title(f"HammingBall best of y^2..y^15: y^{j + 1} (acc {100 * best_acc:.1f}%)")
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
