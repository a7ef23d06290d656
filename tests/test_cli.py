"""Tests for the ``subsel`` command line."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from subsel import __version__
from subsel.cli import app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def test_demo_writes_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out must not be used
    out = tmp_path / "report"
    result = runner.invoke(app, ["demo", "--out", str(out), "--samples", "2000", "--seed", "1"])
    assert result.exit_code == 0, result.output
    index = out / "index.html"
    assert result.stdout.strip().splitlines()[-1] == str(index)
    text = index.read_text(encoding="utf-8")
    for title in [
        "Subset sampling",
        "Data selection with coresets",
        "Diverse subsets by submodular maximization",
        "Differentiable knapsack and top-k",
        "High-value training subsets / data valuation",
    ]:
        assert title in text
    assert "Not built yet" not in text
    assert "Estimating a model&#x27;s total loss" in text or "Estimating a model" in text
    assert "2000 relaxed samples" in text
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        assert png.read_bytes().startswith(PNG_MAGIC)
        # Embedded (the page is one file), so that it shows its figures anywhere.
        assert f'src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}"' in text
    # Only the given path was touched, and no temporary files were left.
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_samples_below_one_exits_2(tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["demo", "--out", str(out), "--samples", "0"])
    assert result.exit_code == 2
    assert "--samples" in _one_error_line(result)
    assert not out.exists()


def test_negative_seed_exits_2(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "r"), "--seed", "-1"])
    assert result.exit_code == 2
    assert "--seed" in _one_error_line(result)


def test_out_is_existing_file_exits_2(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = runner.invoke(app, ["demo", "--out", str(target), "--samples", "10"])
    assert result.exit_code == 2
    assert str(target) in _one_error_line(result)
    assert target.read_text() == "keep me"


def test_out_below_a_file_exits_2(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "file.txt" / "r"), "--samples", "10"]
    )
    assert result.exit_code == 2
    _one_error_line(result)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"subsel {__version__}"


def test_installed_script_error_has_no_traceback(tmp_path):
    script = Path(sys.executable).with_name("subsel")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "subsel.cli"]
    proc = subprocess.run(
        [*cmd, "demo", "--out", str(tmp_path / "r"), "--samples", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --samples must be at least 1; got 0."]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
