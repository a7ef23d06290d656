"""Demo section: diverse subsets by submodular maximization, and diverse structured labellings.

Reads what the benchmarks wrote (``benchmarks/results/structured_segmentation.json`` and its
``_masks.npz``, ``structured_stereo.json``, ``submodular.json``) and runs one small live example:
greedy facility location on scikit-learn's digits, lazy against naive greedy.
"""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..report import (
    DASH,
    ScoreRow,
    Section,
    details,
    embed_figure,
    esc,
    fmt,
    html_table,
    pivot_table,
    save_figure,
)
from ._results import load_records

TITLE = "Diverse subsets by submodular maximization"


def digits_example(seed: int = 0) -> dict:
    """Facility location on digits (1797 x 64): lazy vs naive greedy, k = 50."""
    from sklearn.datasets import load_digits

    from ..submodular import FacilityLocation, maximize

    X = load_digits().data
    f = FacilityLocation.from_features(X)
    out = {}
    for opt in ("naive", "lazy", "stochastic"):
        t0 = time.perf_counter()
        sel = maximize(f, 50, optimizer=opt, seed=seed)
        out[opt] = {
            "seconds": time.perf_counter() - t0,
            "value": f.evaluate(sel.indices),
            "indices": sel.indices,
        }
    out["same_lazy_naive"] = bool(np.array_equal(out["lazy"]["indices"], out["naive"]["indices"]))
    return out


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _masks_figure(npz_bytes: bytes):
    from ..datasets import load_iseg20

    data = np.load(io.BytesIO(npz_bytes), allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    try:
        images = {d["id"]: d for d in load_iseg20()}
    except (FileNotFoundError, OSError, ValueError):
        images = {}
    ids = list(meta)
    fig = _figure(15, 2.3 * len(ids))
    axes = fig.subplots(len(ids), 6, squeeze=False)
    for r, key in enumerate(ids):
        shape = tuple(meta[key])
        packed = data[f"{key}_hamming_ball"]
        masks = np.unpackbits(packed, axis=1)[:, : shape[0] * shape[1]].reshape(-1, *shape)
        ax = axes[r, 0]
        if key in images:
            img = images[key]["image"].copy()
            scr = images[key]["scribbles"]
            img[scr == 1] = (255, 255, 0)
            img[scr == 0] = (255, 0, 0)
            ax.imshow(img)
        ax.set_title(f"{key}: image + strokes", fontsize=8)
        for c in range(min(5, len(masks))):
            axes[r, c + 1].imshow(masks[c], cmap="gray")
            axes[r, c + 1].set_title("MAP" if c == 0 else f"mask {c + 1}", fontsize=8)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle("Hamming-ball diversity: the first 5 masks of two test images", fontsize=10)
    fig.tight_layout()
    return fig


def _oracle_cells(records: list[dict]) -> dict:
    """{(method, M): mean oracle IoU} on the iseg20 test half."""
    return {
        (r["method"], r["params"]["M"]): r["value"]
        for r in records
        if r.get("metric") == "oracle_iou"
        and r.get("dataset") == "iseg20"
        and r.get("params", {}).get("split") == "test"
        and isinstance(r.get("value"), (int, float))
    }


def _curves_figure(records: list[dict]):
    curves: dict = defaultdict(dict)
    for (method, m), v in _oracle_cells(records).items():
        curves[method][m] = v
    fig = _figure(5.5, 3.6)
    ax = fig.add_subplot()
    for method, pts in sorted(curves.items()):
        ms = sorted(pts)
        ax.plot(ms, [pts[m] for m in ms], marker="o", label=method)
    ax.set_xlabel("M (masks shown)")
    ax.set_ylabel("mean oracle IoU (test half)")
    ax.set_title("iseg20: best of the first M masks")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _stereo_cells(records: list[dict]) -> dict:
    """{(method with its settings, M): oracle accuracy} on the evaluation half (bottom)."""
    cells = {}
    for r in records:
        p = r.get("params", {})
        if r.get("metric") != "oracle_accuracy" or p.get("split") != "bottom_half":
            continue
        if not isinstance(r.get("value"), (int, float)):
            continue
        cells[(_setting(r["method"], p, ("lam", "gamma", "h")), p["M"])] = r["value"]
    return cells


def _setting(method: str, params: dict, keys: tuple[str, ...]) -> str:
    shown = [
        f"{k} = {params[k]:g}" if isinstance(params[k], float) else f"{k} = {params[k]}"
        for k in keys
        if params.get(k) is not None
    ]
    return method + (f" ({', '.join(shown)})" if shown else "")


def _records_html(records: list[dict], keys: tuple[str, ...]) -> str:
    rows = []
    for r in records:
        p = r.get("params", {})
        value = r.get("value")
        shown = fmt(value, ".4g") if isinstance(value, (int, float)) else p.get("reason", DASH)
        rows.append([r.get("method"), r.get("metric"), shown] + [p.get(k) for k in keys])
    return html_table(["method", "metric", "value", *keys], rows)


def _iou(v: float) -> str:
    return f"{v:.3f}"


def segmentation_scorecard(records: list[dict]) -> list[ScoreRow]:
    """Hamming-ball diversity against DivMBest (Table 3 of the paper) and the combinations."""
    cells = _oracle_cells(records)
    claim = "Interactive segmentation, M = 2: Hamming-ball diversity against DivMBest (oracle)"
    paper = "Hamming ball 93.95 vs DivMBest 93.16 pixel accuracy (50 images)"
    rows = []
    hb, dm = cells.get(("hamming_ball", 2)), cells.get(("divmbest", 2))
    if hb is None or dm is None:
        rows.append(ScoreRow(claim, paper, "", "DivMBest", None, SEGMENTATION_COMMAND))
    else:
        rows.append(
            ScoreRow(
                claim,
                paper,
                f"Hamming ball {_iou(hb)} mean IoU (iseg20 test half)",
                f"DivMBest {_iou(dm)}",
                hb >= dm,
                SEGMENTATION_COMMAND,
            )
        )
    claim = "Interactive segmentation, largest M: a combination beats both single diversities"
    paper = "DivMBest \u2297 Hamming ball 95.16 vs 95.02 / 94.86 (M = 6)"
    ms = [m for (meth, m) in cells if meth in ("sum", "concat")]
    if not ms:
        rows.append(ScoreRow(claim, paper, "", "", None, SEGMENTATION_COMMAND))
        return rows
    m = max(ms)
    combos = {k: v for (k, mm), v in cells.items() if mm == m and k in ("sum", "concat")}
    singles = {k: v for (k, mm), v in cells.items() if mm == m and k not in ("sum", "concat")}
    best_c = max(combos, key=combos.get)
    best_s = max(singles, key=singles.get) if singles else None
    rows.append(
        ScoreRow(
            claim + f" (M = {m})",
            paper,
            f"{best_c} {_iou(combos[best_c])} mean IoU",
            DASH if best_s is None else f"{best_s} {_iou(singles[best_s])}",
            None if best_s is None else combos[best_c] > singles[best_s],
            SEGMENTATION_COMMAND,
        )
    )
    return rows


def stereo_scorecard(records: list[dict]) -> ScoreRow:
    """The multi-label claim (Table 2: Hamming ball best on VOC) on the stereo benchmark."""
    claim = "Multi-label CRF, M = 15: Hamming-ball diversity against DivMBest (oracle)"
    paper = "Hamming ball 55.32 vs DivMBest 52.90 (PASCAL VOC val, IoU)"
    cells = {}
    for r in records:
        p = r.get("params", {})
        if r.get("metric") == "oracle_accuracy" and p.get("split") == "bottom_half":
            if isinstance(r.get("value"), (int, float)):
                cells[(r["method"], p["M"])] = max(r["value"], cells.get((r["method"], p["M"]), 0))
    ms = [m for (meth, m) in cells if meth == "hamming_ball" and ("divmbest", m) in cells]
    if not ms:
        return ScoreRow(claim, paper, "", "DivMBest", None, STEREO_COMMAND)
    m = max(ms)
    hb, dm = cells[("hamming_ball", m)], cells[("divmbest", m)]
    return ScoreRow(
        claim.replace("M = 15", f"M = {m}"),
        paper,
        f"Hamming ball {hb:.3f} pixel accuracy (stereo, held-out half)",
        f"DivMBest {dm:.3f}",
        hb >= dm,
        STEREO_COMMAND,
    )


SEGMENTATION_COMMAND = "python benchmarks/structured_segmentation.py"
STEREO_COMMAND = "python benchmarks/structured_stereo.py"
SUBMODULAR_COMMAND = "python benchmarks/submodular.py"


def _submodular_html(records: list[dict]) -> str:
    if not records:
        return ""
    cells = {}
    for r in records:
        p = r.get("params", {})
        if r.get("metric") != "seconds" or not isinstance(r.get("value"), (int, float)):
            continue
        if "n" not in p:
            continue
        name = r["method"] if r["method"] != "subsel" else _setting("subsel", p, ("variant",))
        cells[(name, p["n"])] = r["value"]
    keep = [r for r in records if r["metric"] in ("seconds", "seconds_median", "speedup")]
    return (
        "<h3>Facility location: subsel against apricot and submodlib (seconds)</h3>"
        + pivot_table(
            cells, row_label="method", col_label=lambda n: f"n = {n:,}", value=lambda v: fmt(v)
        )
        + details(f"All {len(keep)} timing records", _records_html(keep, ("n", "k")))
    )


def build_section(
    out_dir: Path,
    *,
    samples: int = 10000,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
    results: Path | None = None,
) -> Section:
    """The live digits example, plus the benchmark results and figures."""
    del samples
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("submodular: facility location on digits")
    ex = digits_example(seed)
    same = "yes" if ex["same_lazy_naive"] else "no"
    body = (
        "<p>Facility location on scikit-learn's digits (1797 x 64, k = 50), three optimizers. "
        f"Lazy greedy picks exactly naive greedy's set: <b>{same}</b>.</p>"
        + html_table(
            ["optimizer", "f(S)", "seconds"],
            [
                [k, f"{ex[k]['value']:.2f}", f"{ex[k]['seconds']:.3f}"]
                for k in ("naive", "lazy", "stochastic")
            ],
        )
    )
    step("structured diversity: benchmark results")
    seg = load_records(results, "structured_segmentation")
    masks = None if results is None else Path(results) / "structured_segmentation_masks.npz"
    if seg:
        cells = _oracle_cells(seg)
        if cells:
            body += (
                "<h3>iseg20 test half: mean oracle IoU of the first M masks</h3>"
                + pivot_table(
                    cells, row_label="diversity", col_label=lambda m: f"M = {m}", value=_iou
                )
                + embed_figure(
                    save_figure(_curves_figure(seg), out_dir / "diversity_oracle.png"),
                    "Oracle curves: mean IoU of the best of the first M masks.",
                )
            )
        if masks is not None and masks.is_file():
            body += embed_figure(
                save_figure(_masks_figure(masks.read_bytes()), out_dir / "diversity_masks.png"),
                "Two test images, their strokes and the first five Hamming-ball masks.",
            )
        timing = [r for r in seg if r["metric"] == "seconds_median"]
        voc = [r for r in seg if r["dataset"] == "divmbest-voc"]
        body += details(
            "All segmentation records (oracle IoU, timings, divmbest-voc superpixel CRF)",
            _records_html(
                [r for r in seg if r not in timing and r not in voc], ("M", "lam", "gamma", "split")
            )
            + _records_html(timing, ("M", "per"))
            + _records_html(voc, ("M", "lam", "gamma", "solver")),
        )
    else:
        body += f"<p>No segmentation records: run <code>{esc(SEGMENTATION_COMMAND)}</code>.</p>"
    stereo = load_records(results, "structured_stereo")
    cells = _stereo_cells(stereo)
    if cells:
        body += (
            "<h3>Stereo (multi-label): oracle pixel accuracy on the held-out bottom half</h3>"
            + pivot_table(
                cells, row_label="diversity (settings)", col_label=lambda m: f"M = {m}", value=_iou
            )
            + details(
                f"All {len(stereo)} stereo records",
                _records_html(stereo, ("M", "lam", "gamma", "h", "split")),
            )
        )
    body += _submodular_html(load_records(results, "submodular"))
    scorecard = [*segmentation_scorecard(seg), stereo_scorecard(stereo)]
    return Section(TITLE, body, [], "built", scorecard)


__all__ = ["build_section", "digits_example", "segmentation_scorecard", "stereo_scorecard"]
