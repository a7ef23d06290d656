"""Every benchmark script runs end to end in its ``--quick`` mode, so that none can rot silently.

Each script is run as ``make bench`` runs it (a subprocess of this Python, from the repository root),
with ``--quick --out <tmp>/x.json``, and must exit 0 and write a non-empty list of records in the
result schema of ``benchmarks/results/*.json``. A script whose data are missing as a whole prints
why and writes nothing; the test is then skipped with that reason. Parts that need something absent
(a peer library, one of several data sets) are skipped inside the script, which still runs the rest.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = (
    "topk_ops",
    "selection_regression",
    "selection_nn",
    "selection_scale",
    "submodular",
    "structured_segmentation",
    "structured_stereo",
    "dfl_knapsack",
    "facility_lp",
    "knapsack_ops",
    "valuation",
    "knn",
    "explain",
    "sne",
)
KEYS = {
    "benchmark",
    "dataset",
    "method",
    "metric",
    "value",
    "params",
    "seconds",
    "device",
    "commit",
}
TIMEOUT_S = 300


def test_every_benchmark_is_listed():
    """A new script in benchmarks/ must join SCRIPTS (and the Makefile's bench target)."""
    found = {p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_")}
    assert found == set(SCRIPTS)
    makefile = (ROOT / "Makefile").read_text()
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    for name in SCRIPTS:
        assert f"benchmarks/{name}.py" in bench, f"make bench does not run {name}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_quick(name, tmp_path):
    out = tmp_path / "x.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    log = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"{name} --quick exited {proc.returncode}:\n{log}"
    if not out.exists():
        reason = next(
            (ln.strip() for ln in log.splitlines()[::-1] if "skipped" in ln.lower()), None
        )
        assert reason, f"{name} --quick wrote no {out.name} and said not why:\n{log}"
        pytest.skip(f"{name}: {reason}")
    records = json.loads(out.read_text())
    assert isinstance(records, list) and records, f"{name}: no records in {out}"
    for r in records:
        assert set(r) == KEYS, f"{name}: record keys {sorted(r)}"
        assert r["benchmark"] == name
        assert isinstance(r["dataset"], str) and r["dataset"]
        assert isinstance(r["method"], str) and r["method"]
        assert isinstance(r["metric"], str) and r["metric"]
        assert isinstance(r["params"], dict)
        assert r["value"] is None or isinstance(r["value"], (int, float))
        assert r["seconds"] is None or (isinstance(r["seconds"], (int, float)))
        assert isinstance(r["device"], str) and isinstance(r["commit"], str)
    assert any(isinstance(r["value"], (int, float)) and math.isfinite(r["value"]) for r in records)
