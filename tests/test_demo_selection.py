"""The data-selection section of the demo report: its experiment and how it reads results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from subsel.demos import default_results_dir
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
    def rec(method, variant, k, metric, value):
        return {
            "benchmark": "selection_nn",
            "dataset": "fmnist",
            "method": method,
            "metric": metric,
            "value": value,
            "params": {"k": k, "reps": 10, "variant": variant},
            "seconds": 1.0,
            "device": "cpu",
            "commit": "x",
        }

    records = [
        rec("uniform", "uniform", 500, "accuracy_mean", 0.7),
        rec("subsel", "loss", 500, "accuracy_mean", 0.72),
        rec("subsel", "loss", 2000, "accuracy_mean", 0.81),
        rec("subsel", "loss", 2000, "accuracy_std", 0.01),
        rec("subsel", "loss", 2000, "queries_mean", 400),
        rec("subsel", "loss", 4000, "skipped", 1),
    ]
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    path = tmp_path / "benchmarks" / "results" / "selection_nn.json"
    path.write_text(json.dumps(records))
    monkeypatch.chdir(tmp_path)
    results = default_results_dir()
    assert results == tmp_path / "benchmarks" / "results"
    table = demo.nn_table(demo.load_records(results, "selection_nn"))
    assert table["fmnist"]["loss"][2000] == (0.81, 0.01, 10, None, 400)
    assert set(table["fmnist"]) == {"uniform", "loss"} and 4000 not in table["fmnist"]["loss"]
    html = demo._nn_html(table)
    assert "0.8140" in html  # the paper's row beside ours at k = 2000
    card = demo.nn_scorecard(table)
    assert card.met is None  # no peer at k = 2000 in these records
    assert "0.810" in card.ours or card.ours == ""
    path.write_text("{not json")
    assert demo.load_records(results, "selection_nn") == []
    assert demo.load_records(None, "selection_nn") == []
    monkeypatch.chdir(tmp_path / "benchmarks")
    assert default_results_dir() is None
