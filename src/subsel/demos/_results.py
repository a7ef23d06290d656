"""Where the demo finds the benchmark records, and how it reads them.

The folder is given (``subsel demo --results DIR``) or, by default, ``benchmarks/results`` under
the current folder when it exists. Nothing is looked up relative to the installed package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["RESULTS", "default_results_dir", "load_records", "record_names"]

RESULTS = Path("benchmarks") / "results"


def default_results_dir() -> Path | None:
    """``./benchmarks/results`` when it is a folder, else None."""
    path = Path.cwd() / RESULTS
    return path if path.is_dir() else None


def load_records(results: str | os.PathLike | None, name: str) -> list[dict]:
    """The records of ``results/<name>.json`` (dicts with a ``metric``), or [] when the folder is
    None, the file is absent or it cannot be read."""
    if results is None:
        return []
    path = Path(results) / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [r for r in data if isinstance(r, dict) and "metric" in r]


def record_names(results: str | os.PathLike | None) -> list[str]:
    """The names (without ``.json``) of the record files in ``results``; [] when none."""
    if results is None or not Path(results).is_dir():
        return []
    return sorted(p.stem for p in Path(results).glob("*.json") if p.is_file())
