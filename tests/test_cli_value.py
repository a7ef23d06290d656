"""`subsel value`: labelled data in, one row per training point (index, value, selected, rank)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from subsel._cli_value import split_validation, value_table
from subsel.cli import app

runner = CliRunner()

# Tiny settings per method (under a second each on 2 cores).
TINY = {
    "hostcp": ["--epochs", 1],
    "knn_shapley": [],
    "tmc_shapley": ["--epochs", 3],
    "tracin": ["--epochs", 2],
    "influence": [],
    "dvrl": ["--epochs", 5],
    "random": [],
}


@pytest.fixture()
def files(tmp_path):
    """60 points in two well separated blobs; labels 0 / 1; a 20-point validation set."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (30, 2)), rng.normal(2, 1, (30, 2))])
    y = np.repeat([0, 1], 30)
    Xv = np.concatenate([rng.normal(-2, 1, (10, 2)), rng.normal(2, 1, (10, 2))])
    yv = np.repeat([0, 1], 10)
    for name, arr in {"X": X, "y": y, "Xv": Xv, "yv": yv}.items():
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path, X, y


def run(*args):
    return runner.invoke(app, ["value", *(str(a) for a in args)])


def read(path):
    return pq.read_table(path).to_pydict()


@pytest.mark.parametrize("method", list(TINY))
def test_every_method_writes_one_row_per_point(files, method):
    tmp, X, y = files
    out = tmp / "values.parquet"
    args = [tmp / "X.npy", "--labels", tmp / "y.npy", "--val", tmp / "Xv.npy"]
    args += ["--val-labels", tmp / "yv.npy", "--method", method, "--fraction", 0.2]
    res = run(*args, *TINY[method], "--out", out)
    assert res.exit_code == 0, res.output
    table = read(out)
    assert list(table) == ["index", "value", "selected", "rank"]
    n = X.shape[0]
    assert table["index"] == list(range(n))
    assert sum(table["selected"]) == round(0.2 * n)
    assert sorted(table["rank"]) == list(range(1, n + 1))
    values, selected, rank = (np.array(table[k]) for k in ("value", "selected", "rank"))
    assert np.isfinite(values).all()
    # the selected points hold ranks 1..k, and ranks follow the values within each group
    assert set(rank[selected]) == set(range(1, selected.sum() + 1))
    for group in (selected, ~selected):
        order = np.argsort(rank[group])
        assert np.all(np.diff(values[group][order]) <= 0)
    if method != "hostcp":  # the baselines select the top values
        assert values[selected].min() >= values[~selected].max()
    assert f"{method}: {n} points, {round(0.2 * n)} selected" in res.stdout


def test_baseline_values_match_the_library(files):
    """The command's values are those of the library fitted on the same data."""
    from subsel.valuation import KNNShapley, RandomValuation

    tmp, X, y = files
    Xv, yv = np.load(tmp / "Xv.npy"), np.load(tmp / "yv.npy")
    for method, est in [("knn_shapley", KNNShapley()), ("random", RandomValuation(seed=5))]:
        out = tmp / f"{method}.parquet"
        args = ["--val", tmp / "Xv.npy", "--val-labels", tmp / "yv.npy", "--seed", 5]
        res = run(tmp / "X.npy", "--labels", tmp / "y.npy", "--method", method, *args, "--out", out)
        assert res.exit_code == 0, res.output
        want = est.fit(X, y, Xv, yv).values_
        np.testing.assert_allclose(read(out)["value"], want, rtol=0, atol=0)


def test_hostcp_selection_is_the_library_selection(files):
    from subsel.valuation import HostCP

    tmp, X, y = files
    Xv, yv = np.load(tmp / "Xv.npy"), np.load(tmp / "yv.npy")
    out = tmp / "h.parquet"
    args = [tmp / "X.npy", "--labels", tmp / "y.npy", "--val", tmp / "Xv.npy", "--val-labels"]
    res = run(*args, tmp / "yv.npy", "--epochs", 1, "--seed", 2, "--out", out)
    assert res.exit_code == 0, res.output
    est = HostCP(0.2, epochs=1, seed=2).fit(X, y, Xv, yv)
    table = read(out)
    np.testing.assert_array_equal(table["selected"], est.selected_)
    np.testing.assert_allclose(table["value"], est.scores_, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["hostcp", "dvrl", "tracin"])
def test_same_seed_same_file(files, method):
    tmp, *_ = files
    outs = [tmp / "a.parquet", tmp / "b.parquet"]
    for out in outs:
        res = run(tmp / "X.npy", "--labels", tmp / "y.npy", "--method", method, *TINY[method],
                  "--seed", 7, "--out", out)  # fmt: skip
        assert res.exit_code == 0, res.output
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_validation_split_off_with_the_seed(files):
    tmp, X, y = files
    out = tmp / "v.csv"
    res = run(tmp / "X.npy", "--labels", tmp / "y.npy", "--method", "knn_shapley",
              "--val-fraction", 0.25, "--seed", 3, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = np.loadtxt(out, delimiter=",", skiprows=1, dtype=str, ndmin=2)
    assert open(out).readline().strip() == "index,value,selected,rank"
    train, val = split_validation(y, 0.25, 3)
    np.testing.assert_array_equal(rows[:, 0].astype(int), train)
    assert (rows[:, 2] == "True").sum() == round(0.2 * train.size)
    from subsel.valuation import KNNShapley

    want = KNNShapley().fit(X[train], y[train], X[val], y[val]).values_
    np.testing.assert_allclose(rows[:, 1].astype(float), want, rtol=1e-15)


def test_split_is_stratified_and_partitions():
    y = np.array([0] * 10 + [1] * 5 + [2] * 1)
    train, val = split_validation(y, 0.2, 0)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(16))
    assert np.bincount(y[val], minlength=3).tolist() == [2, 1, 0]  # the singleton stays
    np.testing.assert_array_equal(split_validation(y, 0.2, 0)[1], val)  # same seed


def test_labels_as_a_column_of_parquet_data(files):
    tmp, X, y = files
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "label": y}), tmp / "d.parquet")
    out_col, out_file = tmp / "col.parquet", tmp / "file.parquet"
    res = run(tmp / "d.parquet", "--labels", "label", "--method", "knn_shapley", "--out", out_col)
    assert res.exit_code == 0, res.output
    res = run(tmp / "X.npy", "--labels", tmp / "y.npy", "--method", "knn_shapley", "--out",
              out_file)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert read(out_col) == read(out_file)


def test_value_table_ranks():
    t = value_table([4, 5, 6, 7], [0.5, 0.9, 0.5, 0.1], [False, False, True, False])
    assert t["rank"].tolist() == [3, 2, 1, 4]  # selected first, then value, then index


def _bad_cases(tmp):
    base = [tmp / "X.npy", "--labels", tmp / "y.npy"]
    np.save(tmp / "y_short.npy", np.zeros(59, dtype=int))
    np.save(tmp / "yv_new.npy", np.repeat([0, 2], 10))
    val = ["--val", tmp / "Xv.npy", "--val-labels"]
    return {
        "missing": ([tmp / "nope.npy", "--labels", tmp / "y.npy"], "DATA"),
        "missing_labels": ([tmp / "X.npy", "--labels", tmp / "nope.npy"], "--labels"),
        "rows": ([tmp / "X.npy", "--labels", tmp / "y_short.npy"], "--labels"),
        "fraction_0": ([*base, "--fraction", 0], "--fraction"),
        "fraction_big": ([*base, "--fraction", 1.5], "--fraction"),
        "method": ([*base, "--method", "shapley"], "--method"),
        "unseen": ([*base, *val, tmp / "yv_new.npy"], "--val-labels"),
        "val_alone": ([*base, "--val", tmp / "Xv.npy"], "--val"),
        "seed": ([*base, "--seed", -1], "--seed"),
        "epochs_unused": ([*base, "--method", "random", "--epochs", 2], "--epochs"),
        "too_small_for_hostcp": ([*base, "--fraction", 0.01], "--fraction"),
    }


@pytest.mark.parametrize("case", [
    "missing", "missing_labels", "rows", "fraction_0", "fraction_big", "method", "unseen",
    "val_alone", "seed", "epochs_unused", "too_small_for_hostcp",
])  # fmt: skip
def test_bad_input_one_line_exit_2_no_output(files, case):
    tmp, *_ = files
    args, flag = _bad_cases(tmp)[case]
    out = tmp / "values.parquet"
    res = run(*args, "--out", out)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert flag in lines[0], lines[0]
    assert not out.exists()
    assert [p.name for p in tmp.iterdir() if "subsel-tmp" in p.name] == []


def test_failure_keeps_an_existing_output(files):
    tmp, *_ = files
    out = tmp / "values.parquet"
    out.write_bytes(b"old")
    res = run(tmp / "X.npy", "--labels", tmp / "y_missing.npy", "--out", out)
    assert res.exit_code == 2
    assert out.read_bytes() == b"old"


def test_npz_and_csv_inputs(files):
    """Features and labels in one .npz (labels named by --labels), or a CSV with a header."""
    tmp, X, y = files
    np.savez(tmp / "d.npz", X=X, target=y)
    header = "a,b,label"
    np.savetxt(tmp / "d.csv", np.column_stack([X, y]), delimiter=",", header=header, comments="")
    ref = tmp / "ref.parquet"
    res = run(tmp / "X.npy", "--labels", tmp / "y.npy", "--method", "knn_shapley", "--out", ref)
    assert res.exit_code == 0, res.output
    for data, labels in [(tmp / "d.npz", "target"), (tmp / "d.csv", "label")]:
        out = tmp / f"{data.suffix[1:]}.parquet"
        res = run(data, "--labels", labels, "--method", "knn_shapley", "--out", out)
        assert res.exit_code == 0, res.output
        assert read(out) == read(ref)


def test_help_lists_methods_and_an_example():
    res = runner.invoke(app, ["value", "--help"])
    assert res.exit_code == 0, res.output
    assert "<" + "|".join(TINY) + ">" in res.stdout
    assert "Example:" in res.stdout and "subsel value emb.npy" in res.stdout
    assert "  value " in runner.invoke(app, ["--help"]).stdout
