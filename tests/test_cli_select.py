"""`subsel select`: files in, a table of indices / weights / probabilities out."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from subsel.cli import app

runner = CliRunner()


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    losses = np.abs(X[:, 0])
    np.save(tmp_path / "emb.npy", X)
    np.save(tmp_path / "loss.npy", losses)
    np.savetxt(tmp_path / "emb.csv", X, delimiter=",", header="a,b,c", comments="")
    return tmp_path, X, losses


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sensitivity_to_parquet_matches_the_library(files):
    tmp, X, losses = files
    out = tmp / "sel.parquet"
    res = run(
        "select",
        tmp / "emb.npy",
        "--clusters",
        10,
        "--budget",
        40,
        "--losses",
        tmp / "loss.npy",
        "--out",
        out,
        "--seed",
        3,
    )
    assert res.exit_code == 0, res.output
    table = pq.read_table(out).to_pydict()
    from subsel.selection import SensitivitySampling

    want = SensitivitySampling(n_clusters=10, budget=40, seed=3).select(X, lambda i: losses[i])
    assert table["index"] == want.indices.tolist()
    np.testing.assert_allclose(table["weight"], want.weights)
    np.testing.assert_allclose(table["probability"], want.probabilities)


@pytest.mark.parametrize("method,extra", [("uniform", []), ("kcenter", [])])
def test_other_methods_and_csv_input(files, method, extra):
    tmp, X, _ = files
    out = tmp / "sel.csv"
    res = run("select", tmp / "emb.csv", "--method", method, "--budget", 15, "--out", out, *extra)
    assert res.exit_code == 0, res.output
    rows = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2)
    assert rows.shape[0] == 15 and len(np.unique(rows[:, 0])) == 15


def test_uncertainty_method_reads_probabilities(files):
    tmp, X, _ = files
    P = np.random.default_rng(1).dirichlet(np.ones(3), size=200)
    np.save(tmp / "p.npy", P)
    res = run(
        "select",
        tmp / "emb.npy",
        "--method",
        "margin",
        "--budget",
        5,
        "--probabilities",
        tmp / "p.npy",
        "--out",
        tmp / "m.npz",
    )
    assert res.exit_code == 0, res.output
    sorted_p = np.sort(P, 1)
    expected = np.argsort(sorted_p[:, -1] - sorted_p[:, -2], kind="stable")[:5]
    assert np.load(tmp / "m.npz")["index"].tolist() == expected.tolist()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--clusters", 10, "--budget", 40], "--losses"),
        (["--budget", 40, "--losses", "loss.npy"], "--clusters"),
        (["--method", "uniform", "--budget", 999], "--budget must be"),
        (["--method", "magic", "--budget", 4], "--method"),
        (["--method", "margin", "--budget", 4], "--probabilities"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, args, needle):
    tmp, _, _ = files
    args = [tmp / a if isinstance(a, str) and a.endswith(".npy") else a for a in args]
    out = tmp / "never.csv"
    res = run("select", tmp / "emb.npy", "--out", out, *args)
    assert res.exit_code == 2
    assert needle in res.output and res.output.strip().count("\n") == 0
    assert not out.exists()


def test_unreadable_and_bad_files(files):
    tmp, X, _ = files
    (tmp / "bad.npy").write_bytes(b"not numpy")
    bad = X.copy()
    bad[3, 1] = np.nan
    np.save(tmp / "nan.npy", bad)
    np.save(tmp / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name, needle in [
        ("missing.npy", "no such file"),
        ("bad.npy", "cannot read"),
        ("nan.npy", "NaN"),
        ("obj.npy", "cannot read"),
        ("x.txt", "unsupported"),
    ]:
        res = run(
            "select", tmp / name, "--method", "uniform", "--budget", 3, "--out", tmp / "o.csv"
        )
        assert res.exit_code == 2 and needle in res.output, (name, res.output)
    res = run(
        "select",
        tmp / "emb.npy",
        "--method",
        "uniform",
        "--budget",
        3,
        "--out",
        tmp / "nodir" / "o.csv",
    )
    assert res.exit_code == 2 and "does not exist" in res.output
