"""`subsel select --engine dask`: the same table as the in-memory engine; clear one-line errors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from subsel.cli import app

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    np.save(tmp_path / "emb.npy", X)
    np.save(tmp_path / "loss.npy", np.abs(X[:, 0]))
    np.savetxt(tmp_path / "emb.csv", X, delimiter=",", header="a,b,c", comments="")
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    (tmp_path / "folder").mkdir()
    for i in range(3):
        frame.iloc[i * 100 : (i + 1) * 100].to_parquet(tmp_path / "folder" / f"part{i}.parquet")
    return tmp_path


@pytest.mark.parametrize("source", ["emb.npy", "emb.csv", "folder"])
def test_dask_engine_writes_the_in_memory_table(files, source):
    common = ["--clusters", 8, "--budget", 50, "--losses", files / "loss.npy", "--seed", 4]
    ref, got = files / "ref.parquet", files / "got.parquet"
    assert run("select", files / "emb.npy", "--out", ref, *common).exit_code == 0
    res = run(
        "select", files / source, "--out", got, "--engine", "dask", "--fit-size", 10**6, *common
    )
    assert res.exit_code == 0, res.output
    a, b = pq.read_table(ref).to_pydict(), pq.read_table(got).to_pydict()
    assert a["index"] == b["index"]
    np.testing.assert_allclose(a["weight"], b["weight"], rtol=1e-12)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--engine", "spark"], "--engine must be memory or dask"),
        (["--scheduler", "tcp://x:1"], "--scheduler needs --engine dask"),
        (["--engine", "dask", "--method", "kcenter"], "sensitivity or uniform"),
        (["--engine", "dask", "--fit-size", 2], "--fit-size must be"),
        (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot connect"),
    ],
)
def test_dask_engine_errors_are_one_line(files, args, message):
    res = run(
        "select", files / "emb.npy", "--out", files / "o.parquet", "--clusters", 8,
        "--budget", 50, "--losses", files / "loss.npy", *args,
    )  # fmt: skip
    assert res.exit_code == 2
    assert message in res.output and res.output.strip().count("\n") == 0, res.output
    assert not (files / "o.parquet").exists()
