"""Every failure of the command line is one line on stderr and exit status 2, and names flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from subsel._cli_errors import library_error
from subsel.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.output and "parameter of" not in lines[0]
    return lines[0]


@pytest.fixture()
def emb(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 3))
    np.save(tmp_path / "emb.npy", X)
    np.save(tmp_path / "loss.npy", np.abs(X[:, 0]))
    return tmp_path


@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if the command starts reading its input (the --out check comes first)."""
    import subsel._io

    def boom(*a, **k):
        raise AssertionError("the input was read before --out was checked")

    monkeypatch.setattr(subsel._io, "read_array", boom)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux's")
@pytest.mark.parametrize("target", ["/proc/o.parquet", "/sys/o.parquet"])
def test_unwritable_out_is_checked_before_the_work(emb, no_work, target):
    line = one_error_line(run("select", emb / "emb.npy", "--method", "uniform", "--budget", 3,
                              "--out", target))  # fmt: skip
    assert f"--out {target}" in line and "cannot write" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_is_refused(emb, no_work):
    ro = emb / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        line = one_error_line(run("select", emb / "emb.npy", "--method", "uniform", "--budget",
                                  3, "--out", ro / "o.csv"))  # fmt: skip
    finally:
        ro.chmod(0o700)
    assert "cannot write" in line and list(ro.iterdir()) == []


@pytest.mark.parametrize("name", ["folder.parquet", "folder.csv"])
def test_out_that_is_a_folder(emb, no_work, name):
    (emb / name).mkdir()
    line = one_error_line(
        run("select", emb / "emb.npy", "--method", "uniform", "--budget", 3, "--out", emb / name)
    )
    assert "is a folder" in line
    assert list((emb / name).iterdir()) == []


def test_out_with_a_bad_suffix_or_missing_folder(emb, no_work):
    line = one_error_line(run("select", emb / "emb.npy", "--method", "uniform", "--budget", 3,
                              "--out", emb / "o.xlsx"))  # fmt: skip
    assert "unsupported file type '.xlsx'" in line
    line = one_error_line(run("select", emb / "emb.npy", "--method", "uniform", "--budget", 3,
                              "--out", emb / "nope" / "o.csv"))  # fmt: skip
    assert "does not exist" in line


def test_empty_npy(emb):
    (emb / "zero.npy").write_bytes(b"")
    res = run("select", emb / "zero.npy", "--method", "uniform", "--budget", 3,
              "--out", emb / "o.csv")  # fmt: skip
    assert "empty (0 bytes)" in one_error_line(res) and "Aborted" not in res.output
    assert not (emb / "o.csv").exists()


def test_folder_named_like_a_file(emb):
    (emb / "dir.npy").mkdir()
    line = one_error_line(run("select", emb / "dir.npy", "--method", "uniform", "--budget", 3,
                              "--out", emb / "o.csv"))  # fmt: skip
    assert "is a folder, not a file" in line and "no such file" not in line


def test_tiny_epsilon_names_the_flag(emb):
    line = one_error_line(run("select", emb / "emb.npy", "--clusters", 3, "--losses",
                              emb / "loss.npy", "--epsilon", 1e-9, "--out", emb / "o.csv"))  # fmt: skip
    assert line.startswith("error: --epsilon must be") and "memory" in line
    assert not (emb / "o.csv").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--clusters", 99, "--budget", 5], "error: --clusters must be an int in [1, n] (n=60)"),
        (["--clusters", 3, "--budget", 5, "--z", 0], "error: --z must be"),
        (["--clusters", 3, "--budget", 5, "--rounds", 0], "error: --rounds must be"),
        (["--clusters", 3, "--budget", 5, "--epsilon", 0.1], "--epsilon must be left out when"),
        (["--method", "uniform", "--budget", 0], "error: --budget must be"),
    ],
)
def test_library_errors_name_the_flags(emb, args, needle):
    line = one_error_line(
        run("select", emb / "emb.npy", "--losses", emb / "loss.npy", "--out", emb / "o.csv", *args)
    )
    assert needle in line
    assert "n_clusters" not in line and "'budget'" not in line


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--budget", "abc", "--out", "o.csv"], "Invalid value for '--budget'"),
        (["--budget", 3], "Missing option '--out'"),
        (["--method", "magic", "--out", "o.csv"], "'magic' is not one of"),
        (["--out", "o.csv", "--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_are_one_line(emb, args, needle):
    line = one_error_line(run("select", emb / "emb.npy", *args))
    assert needle in line and "subsel select --help" in line


def test_installed_script_usage_error_is_one_line(emb):
    script = Path(sys.executable).with_name("subsel")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "subsel.cli"]
    for args in (["--budget", "abc", "--out", "o.csv"], ["--budget", "3"]):
        proc = subprocess.run([*cmd, "select", str(emb / "emb.npy"), *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert proc.stdout == ""


def test_help_and_version_exit_0():
    for args in (["--help"], ["select", "--help"], ["--version"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output


def test_library_error_mapping():
    exc = ValueError(
        "The 'fit_size' parameter of subsel.distributed.dask.select must be an int in [3, inf) "
        "(at least n_clusters=3). Got 2 instead."
    )
    msg = library_error(exc, {"fit_size": "--fit-size", "n_clusters": "--clusters"})
    assert msg == "--fit-size must be an int in [3, inf) (at least --clusters=3). Got 2 instead."
    exc = ValueError("Input 'X' of SensitivitySampling contains NaN at 1 positions; impute them.")
    assert library_error(exc, {"X": "EMBEDDINGS"}).startswith("EMBEDDINGS contains NaN")
