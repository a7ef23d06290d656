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

from ..report import Section, esc, html_table, save_figure
from .selection import _results_dir, load_records

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


def _masks_figure(npz_bytes: bytes):
    import matplotlib.pyplot as plt

    from ..datasets import load_iseg20

    data = np.load(io.BytesIO(npz_bytes), allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    try:
        images = {d["id"]: d for d in load_iseg20()}
    except FileNotFoundError:
        images = {}
    ids = list(meta)
    fig, axes = plt.subplots(len(ids), 6, figsize=(15, 2.3 * len(ids)), squeeze=False)
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
        for c in range(5):
            axes[r, c + 1].imshow(masks[c], cmap="gray")
            axes[r, c + 1].set_title("MAP" if c == 0 else f"mask {c + 1}", fontsize=8)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle("Hamming-ball diversity: the first 5 masks of two test images", fontsize=10)
    fig.tight_layout()
    return fig


def _curves_figure(records: list[dict]):
    import matplotlib.pyplot as plt

    curves = defaultdict(dict)
    for r in records:
        p = r.get("params", {})
        if r["metric"] == "oracle_iou" and r["dataset"] == "iseg20" and p.get("split") == "test":
            curves[r["method"]][p["M"]] = r["value"]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, pts in sorted(curves.items()):
        ms = sorted(pts)
        ax.plot(ms, [pts[m] for m in ms], marker="o", label=method)
    ax.axhline(0.687, color="grey", ls=":", label="README plain model, DivMBest M=5")
    ax.set_xlabel("M (masks shown)")
    ax.set_ylabel("mean oracle IoU (test half)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _records_html(records: list[dict], title: str, keys: tuple[str, ...]) -> str:
    if not records:
        return ""
    rows = []
    for r in records:
        p = r.get("params", {})
        value = r.get("value")
        shown = (
            f"{value:.4g}" if isinstance(value, (int, float)) else esc(p.get("reason", "not run"))
        )
        rows.append([r["method"], r["metric"], shown] + [esc(p.get(k, "")) for k in keys])
    return f"<h3>{esc(title)}</h3>" + html_table(["method", "metric", "value", *keys], rows)


def build_section(
    out_dir: Path, *, samples: int = 10000, seed: int = 0, step: Callable[[str], None] | None = None
) -> Section:
    """The live digits example, plus the benchmark results and figures."""
    del samples
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("submodular: facility location on digits")
    ex = digits_example(seed)
    body = (
        "<p>Facility location on scikit-learn's digits (1797 x 64, k = 50), three optimizers. "
        f"Lazy greedy picks exactly naive greedy's set: <b>{ex['same_lazy_naive']}</b>.</p>"
        + html_table(
            ["optimizer", "f(S)", "seconds"],
            [
                [k, f"{ex[k]['value']:.2f}", f"{ex[k]['seconds']:.3f}"]
                for k in ("naive", "lazy", "stochastic")
            ],
        )
    )
    figs = []
    step("structured diversity: benchmark results")
    seg = load_records("structured_segmentation")
    if seg:
        figs.append(save_figure(_curves_figure(seg), out_dir / "diversity_oracle.png"))
        test = [
            r
            for r in seg
            if r.get("params", {}).get("split") == "test" and r["metric"] == "oracle_iou"
        ]
        body += _records_html(test, "iseg20 test half: mean oracle IoU", ("M", "lam", "gamma"))
        timing = [r for r in seg if r["metric"] == "seconds_median"]
        body += _records_html(timing, "iseg20 timings (median per image)", ("M", "per"))
        voc = [r for r in seg if r["dataset"] == "divmbest-voc"]
        body += _records_html(voc, "divmbest-voc superpixel CRF", ("M", "lam", "gamma", "solver"))
    where = _results_dir()
    masks = None if where is None else where / "structured_segmentation_masks.npz"
    if masks is not None and masks.is_file():
        figs.append(save_figure(_masks_figure(masks.read_bytes()), out_dir / "diversity_masks.png"))
    stereo = load_records("structured_stereo")
    body += _records_html(
        [r for r in stereo if r["metric"] == "oracle_accuracy"],
        "Stereo (multi-label) oracle accuracy, bottom half",
        ("M", "lam", "gamma", "h"),
    )
    sub = load_records("submodular")
    body += _records_html(
        [r for r in sub if r["metric"] in ("seconds", "seconds_median", "speedup")],
        "Facility location: subsel vs apricot vs submodlib",
        ("n", "k"),
    )
    return Section(TITLE, body, figs, "built")


__all__ = ["build_section", "digits_example"]
