"""Reading the speed records of ``benchmarks/topk_ops.py`` for the sampling demo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BENCH_FILE", "load_benchmark_rows", "speed_series"]

BENCH_FILE = "topk_ops.json"  # inside the results folder


def _method_kind(method: str) -> str:
    m = method.lower()
    if "neuralsort" in m:
        return "neuralsort"
    if "torch" in m:
        return "torch.topk"
    return "subsel"


def load_benchmark_rows(paths: Sequence[Path]) -> tuple[Path | None, list, str]:
    """Read the speed records of ``benchmarks/topk_ops.py`` from the first of ``paths`` that
    exists, if any.

    Returns
    -------
    path : Path or None
        The file read (the first that exists), or None.
    rows : list of list
        ``[n, k, batch, mode, subsel variant, subsel ms, neuralsort ms, torch.topk ms, speedup,
        device]``; subsel is quoted for its default backend (``lean`` on the CPU).
    problem : str
        Empty, or why the file could not be used.
    """
    for path in paths:
        if path.is_file():
            break
    else:
        return None, [], ""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        groups: dict[tuple, dict] = {}
        for r in records:
            if r.get("metric") not in ("seconds_median", "speedup_vs_neuralsort"):
                continue
            p = r.get("params", {})
            key = (p["n"], p["k"], p.get("batch", ""), p.get("mode", ""))
            g = groups.setdefault(key, {"device": r.get("device", "")})
            if r["metric"] != "seconds_median" or r.get("value") is None:
                continue
            kind = _method_kind(str(r.get("method", "")))
            if kind == "subsel":
                kind = f"subsel:{p.get('variant', '')}"
            g[kind] = float(r["value"]) * 1000.0
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return path, [], f"could not read {path.name}: {type(exc).__name__}: {exc}"

    def fmt(v, suffix=""):
        if v is None:
            return "\u2013"
        return f"{v:.0f}{suffix}" if abs(v) >= 100 else f"{v:.3g}{suffix}"

    rows = []
    # Sort by mode, then n, k, batch (zero-padded text sorts numbers numerically).
    for key in sorted(groups, key=lambda t: (str(t[3]), *(str(v).zfill(12) for v in t[:3]))):
        g = groups[key]
        variants = sorted(v for v in g if v.startswith("subsel:"))
        # Quote the device's default backend: "lean" on the CPU, else "compile", else any.
        chosen = next(
            (v for v in ("subsel:lean", "subsel:compile", "subsel:") if v in g),
            variants[0] if variants else None,
        )
        ours = g.get(chosen) if chosen else None
        speedup = g["neuralsort"] / ours if ours and g.get("neuralsort") else None
        rows.append(
            [
                *key,
                chosen.split(":", 1)[1] if chosen else "-",
                fmt(ours),
                fmt(g.get("neuralsort")),
                fmt(g.get("torch.topk")),
                fmt(speedup, "x"),
                g["device"],
            ]
        )
    return path, rows, "" if rows else f"{path.name} has no seconds_median records"


def speed_series(path: Path, batch: int = 64) -> dict:
    """Median seconds against n at ``batch``, keyed ``(mode, k) -> {label: [(n, s), ...]}``.

    subsel is taken at its default backend (``lean`` on the CPU, else ``compile``).
    """
    series: dict = {}
    for r in json.loads(path.read_text(encoding="utf-8")):
        p = r.get("params", {})
        if r.get("metric") != "seconds_median" or r.get("value") is None or p.get("batch") != batch:
            continue
        label = _method_kind(str(r.get("method", "")))
        if label == "subsel":
            if p.get("variant") not in ("lean", "compile", None):
                continue
            label = f"subsel ({p.get('variant') or 'default'})"
        series.setdefault((p["mode"], p["k"]), {}).setdefault(label, []).append(
            (p["n"], float(r["value"]))
        )
    return series
