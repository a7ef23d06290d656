"""The data-selection section of the demo report: its experiment and how it reads results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from subsel.demos import selection as demo
from tests.common.stats import mean_within


@pytest.fixture(scope="module")
def exp():
    return demo.estimate_experiment(reps=400, seed=0, sizes=(25, 100))


def test_both_estimates_are_unbiased(exp):
    _, losses = demo.digits_losses(0)
    assert exp["total"] == pytest.approx(losses.sum())
    for name in ("uniform", "sensitivity"):
        for s in (25, 100):
            mean_within(exp["estimates"][name][s], exp["total"])


def test_sensitivity_beats_uniform_and_errors_shrink(exp):
    for name in ("uniform", "sensitivity"):
        e = exp["errors"][name]
        assert np.median(e[100]) < np.median(e[25])
    for s in (25, 100):
        assert np.median(exp["errors"]["sensitivity"][s]) < np.median(exp["errors"]["uniform"][s])


def test_nn_records_become_a_table_and_a_plot(tmp_path, monkeypatch):
    records = [
        {
            "benchmark": "selection_nn",
            "dataset": "fashion-mnist",
            "method": m,
            "metric": "accuracy_mean",
            "value": v,
            "params": {"k": k, "std": 0.01, "reps": 10, "variant": var},
            "seconds": 1.0,
            "device": "cpu",
            "commit": "x",
        }
        for m, var, k, v in [
            ("uniform", None, 500, 0.7),
            ("subsel", "loss", 500, 0.72),
            ("subsel", "loss", 2000, 0.81),
        ]
    ]
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    path = tmp_path / "benchmarks" / "results" / "selection_nn.json"
    path.write_text(json.dumps(records))
    monkeypatch.chdir(tmp_path)
    table = demo.nn_table(demo.load_records("selection_nn"))
    assert table["fashion-mnist"]["loss"][2000][0] == 0.81
    assert set(table["fashion-mnist"]) == {"uniform", "loss"}
    html = demo._nn_html(table)
    assert "0.8140" in html  # the paper's row beside ours at k = 2000
    path.write_text("{not json")
    assert demo.load_records("selection_nn") == []
