"""Tests for subsel.report and the sampling demo's computations."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from subsel.demos import sampling
from subsel.ops import subset_log_prob
from subsel.report import (
    DASH,
    Section,
    details,
    embed_figure,
    fmt,
    html_table,
    pivot_table,
    save_figure,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _small_figure():
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_write_report_titles_figures_and_no_temporaries(tmp_path):
    out = tmp_path / "rep"
    fig_a = save_figure(_small_figure(), out / "a.png")
    fig_b = save_figure(_small_figure(), out / "sub" / "b.png")
    sections = [
        Section("First & <one>", "<p>body one</p>", [fig_a, "sub/b.png"], "built"),
        Section("Second", "<p>body two</p>", ["missing.png"], "not built yet"),
        Section("Third"),
    ]
    index = write_report(sections, out)
    assert index == out / "index.html"
    text = index.read_text(encoding="utf-8")
    for s in sections:
        assert html.escape(s.title) in text
    assert "First & <one>" not in text  # titles are escaped
    # Figures are embedded (data URIs), whether listed by absolute or report-relative path.
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert len(srcs) == 2
    for src, png in zip(srcs, (fig_a, fig_b), strict=True):
        assert src == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert "Figure not available: missing.png" in text
    assert "<p>body two</p>" in text and "not built yet" in text
    assert fig_a.read_bytes().startswith(PNG_MAGIC)
    assert fig_b.read_bytes().startswith(PNG_MAGIC)
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert names == ["a.png", "index.html", "sub", "sub/b.png"]
    # Rewriting replaces the page and still leaves no temporary file.
    write_report(sections[:1], out)
    assert "Second" not in index.read_text(encoding="utf-8")
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_relative_out_dir_finds_its_figures(tmp_path, monkeypatch):
    """The bug of ``make demo``: a relative report folder was applied twice to figure paths."""
    monkeypatch.chdir(tmp_path)
    fig = save_figure(_small_figure(), Path("demo-report") / "x.png")
    assert fig.is_absolute() and fig.is_file()
    for listed in (fig, "x.png"):
        index = write_report([Section("S", figures=[listed])], "demo-report")
        text = index.read_text(encoding="utf-8")
        assert "Figure not available" not in text
        assert text.count('src="data:image/png;base64,') == 1


def test_figures_in_the_body_and_with_captions(tmp_path):
    fig = save_figure(_small_figure(), tmp_path / "f.png")
    inline = embed_figure(fig, "A caption & more")
    assert inline.count('src="data:image/png;base64,') == 1
    assert "<figcaption>A caption &amp; more</figcaption>" in inline
    assert "Figure not available: gone.png" in embed_figure(tmp_path / "gone.png")
    index = write_report([Section("S", "<p>x</p>" + inline, [(fig, "listed")])], tmp_path)
    text = index.read_text(encoding="utf-8")
    assert text.count('src="data:image/png;base64,') == 2 and "<figcaption>listed" in text


def test_cells_never_read_none_or_nan():
    table = html_table(["a", "b", "c", "d"], [[None, float("nan"), "", "None"], [1, 2.5, "x", 0]])
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells == [DASH, DASH, DASH, DASH, "1", "2.5", "x", "0"]
    assert fmt(float("inf")) == DASH and fmt(0.123456, ".3f") == "0.123" and fmt(7) == "7"


def test_pivot_table_one_row_per_setting():
    cells = {("uniform", 100): 0.5, ("uniform", 1000): 0.25, ("ours", 100): 0.4}
    table = pivot_table(cells, row_label="method", col_label=lambda s: f"s = {s}")
    assert re.findall(r"<th>([^<]*)</th>", table) == ["method", "s = 100", "s = 1000"]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert [re.findall(r"<td>([^<]*)</td>", r) for r in rows] == [
        ["ours", "0.4", DASH],
        ["uniform", "0.5", "0.25"],
    ]
    assert details("All records", table).startswith("<details><summary>All records</summary>")


def test_html_table_escapes_cells():
    table = html_table(["a<b", "c"], [[1, "x & y"], [2.5, "<td>"]])
    assert table.count("<tr>") == 3 and table.count("<td>") == 4
    assert "a&lt;b" in table and "x &amp; y" in table and "&lt;td&gt;" in table


def test_exact_probabilities_sum_to_one_and_match_subset_log_prob():
    subsets, probs = sampling.exact_subset_probs([0.1, 0.2, 0.3, 0.4], 2)
    assert len(subsets) == 6 and subsets[0] == (0, 1) and subsets[-1] == (2, 3)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    # p({3,4}) by hand: 0.3 * 0.4 / 0.7 + 0.4 * 0.3 / 0.6.
    assert probs[-1] == pytest.approx(0.3 * 0.4 / 0.7 + 0.4 * 0.3 / 0.6, rel=1e-12)
    logits = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64).log()
    for s, p in zip(subsets, probs, strict=True):
        mask = torch.zeros(4, dtype=torch.float64)
        mask[list(s)] = 1.0
        assert math.exp(float(subset_log_prob(logits, mask))) == pytest.approx(p, rel=1e-10)
    # A second check on unequal sizes: all 3-subsets of 5 items.
    _, probs3 = sampling.exact_subset_probs([1.0, 2.0, 3.0, 0.5, 4.0], 3)
    assert probs3.sum() == pytest.approx(1.0, abs=1e-12)


def test_wilson_interval():
    lo, hi = sampling.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = sampling.wilson_interval(0, 100)
    assert lo == pytest.approx(0.0, abs=1e-12) and 0.0 < hi < 0.05


def test_synthetic_experiment_tv_within_paper_bound():
    """The issue's requirement: TV <= 0.016 at every tau (10,000 samples, seed 0)."""
    exp = sampling.synthetic_experiment(num_samples=10000, seed=0)
    assert exp["taus"] == [0.1, 1.0, 10.0]
    assert exp["labels"] == ["{1,2}", "{1,3}", "{1,4}", "{2,3}", "{2,4}", "{3,4}"]
    assert sum(exp["exact"]) == pytest.approx(1.0, abs=1e-12)
    assert exp["exact_check"] < 1e-12
    for tau in exp["taus"]:
        counts = np.array(exp["counts"][tau])
        assert counts.sum() == 10000
        freq = counts / 10000
        assert exp["tv"][tau] == pytest.approx(0.5 * np.abs(freq - exp["exact"]).sum())
        for f, (lo, hi) in zip(freq, exp["intervals"][tau], strict=True):
            assert lo <= f <= hi
        assert exp["tv"][tau] <= 0.016, f"TV at tau={tau} is {exp['tv'][tau]:.4f} > 0.016"


def test_synthetic_experiment_is_deterministic_and_validates():
    a = sampling.synthetic_experiment(num_samples=500, seed=3)
    b = sampling.synthetic_experiment(num_samples=500, seed=3)
    c = sampling.synthetic_experiment(num_samples=500, seed=4)
    assert a["counts"] == b["counts"]
    assert a["counts"] != c["counts"]
    with pytest.raises(ValueError, match="num_samples"):
        sampling.synthetic_experiment(num_samples=0)
    with pytest.raises(ValueError, match="seed"):
        sampling.synthetic_experiment(num_samples=10, seed=-1)


def test_relaxed_topk_curve_exceeds_one_below_tau_one():
    taus, outs = sampling.relaxed_topk_curve((1.0, 2.0), 2, taus=[0.4, 1.0, 30.0])
    np.testing.assert_allclose(outs.sum(-1), 2.0, atol=1e-12)
    np.testing.assert_allclose(outs[0], [1.053, 0.947], atol=5e-4)
    assert outs[1, 1] > outs[1, 0] and outs[2, 1] > outs[2, 0]  # order kept for tau >= 1


def test_load_benchmark_rows(tmp_path):
    assert sampling.load_benchmark_rows([tmp_path / "none.json"]) == (None, [], "")
    params = {"n": 5000, "k": 5, "batch": 1, "mode": "forward"}
    base = {
        "benchmark": "topk_ops",
        "dataset": "synthetic",
        "params": params,
        "seconds": 1.0,
        "device": "cpu",
        "commit": "abc",
    }
    lean = {**base, "params": {**params, "variant": "lean"}}
    eager = {**base, "params": {**params, "variant": "eager"}}
    records = [
        {**lean, "method": "subsel", "metric": "seconds_median", "value": 0.002},
        {**eager, "method": "subsel", "metric": "seconds_median", "value": 0.004},
        {**base, "method": "neuralsort", "metric": "seconds_median", "value": 0.05},
        {**base, "method": "torch.topk", "metric": "seconds_median", "value": 0.0001},
        {**base, "method": "relaxed_topk", "metric": "speedup_vs_neuralsort", "value": 25.0},
        {**base, "method": "relaxed_topk", "metric": "other", "value": 7.0},
    ]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(records))
    path, rows, problem = sampling.load_benchmark_rows([good])
    assert path == good and problem == ""
    # the default backend (lean) is quoted, and the speed-up is recomputed for it
    assert rows == [[5000, 5, 1, "forward", "lean", "2", "50", "0.1", "25x", "cpu"]]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    path, rows, problem = sampling.load_benchmark_rows([bad])
    assert path == bad and rows == [] and "could not read" in problem


def test_speed_series_and_plot(tmp_path):
    base = {"benchmark": "topk_ops", "dataset": "synthetic", "seconds": 1.0, "device": "cpu"}
    records = []
    for n, t in [(100, 0.001), (1000, 0.004)]:
        for method, variant, scale in [
            ("subsel", "lean", 1),
            ("subsel", "eager", 2),
            ("neuralsort", None, 10),
        ]:
            params = {"n": n, "k": 5, "batch": 64, "mode": "forward"}
            if variant:
                params["variant"] = variant
            records.append(
                {
                    **base,
                    "method": method,
                    "metric": "seconds_median",
                    "value": t * scale,
                    "params": params,
                }
            )
    path = tmp_path / "r.json"
    path.write_text(json.dumps(records))
    series = sampling.speed_series(path)
    assert set(series) == {("forward", 5)}
    assert series[("forward", 5)]["subsel (lean)"] == [(100, 0.001), (1000, 0.004)]
    assert "subsel (eager)" not in series[("forward", 5)]  # only the default backend is drawn
    fig = sampling.plot_speed(series)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
