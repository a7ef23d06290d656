"""The knapsack section of the demo report: live experiments and how records feed the scorecard."""

from __future__ import annotations

import json

import numpy as np

from subsel.demos import knapsack as section
from subsel.ops import knapsack


def test_tau_curves_tend_to_the_exact_solution_and_stay_feasible():
    curves = section.tau_curves([1e-3, 0.5, 10.0])
    w = np.array(section.WEIGHTS)
    for reg in section.REGS:
        ys = curves[reg]
        np.testing.assert_allclose(ys[0], curves["exact"], atol=1e-6)
        assert (ys @ w <= section.CAPACITY + 1e-9).all()
    import torch

    exact = knapsack(torch.tensor(section.VALUES), section.WEIGHTS, section.CAPACITY).numpy()
    np.testing.assert_array_equal(curves["exact"], exact)


def test_equivariance_gaps_single_out_shannon():
    gaps = section.equivariance_gaps(trials=10)
    assert gaps["shannon"] < 1e-12
    assert gaps["gini"] > 1e-3 and gaps["tsallis"] > 1e-3


def _write(folder, name, records):
    (folder / f"{name}.json").write_text(json.dumps(records))


def test_records_feed_the_scorecard(tmp_path):
    rec = []
    for n, ours, ref in [(100, 0.01, 0.02), (1000, 0.1, 0.15)]:
        for mode in ("forward", "forward_backward"):
            rec.append(
                {
                    "method": "subsel",
                    "metric": "speedup_vs_numba_ref",
                    "value": ref / ours,
                    "seconds": ours,
                    "params": {
                        "problem": "knapsack",
                        "mode": mode,
                        "batch": 64,
                        "n": n,
                        "capacity": 100,
                        "variant": "auto/full",
                        "is_default": True,
                        "numba_ref_s": ref,
                    },
                }
            )
    _write(tmp_path, "knapsack_ops", rec)
    dfl = []
    for deg in (1, 2, 4):
        for seed in range(2):
            for method, v in [("subsel_fy", 0.05), ("spo+", 0.06 if deg > 1 else 0.04)]:
                dfl.append(
                    {
                        "method": method,
                        "metric": "normalized_regret",
                        "value": v + 0.001 * seed,
                        "params": {"deg": deg, "n_train": 100, "seed": seed},
                    }
                )
    _write(tmp_path, "dfl_knapsack", dfl)
    out = tmp_path / "out"
    out.mkdir()
    s = section.build_section(out, results=tmp_path)
    rows = {r.command: r for r in s.scorecard}
    speed = rows[section.SPEED_COMMAND]
    assert speed.met is True and "1.75x faster in the median" in speed.ours
    regret = rows[section.DFL_COMMAND]
    assert regret.met is True and "subsel_fy: lower in 2 of 2" in regret.ours
    assert "0.0505" in s.body  # mean over the two seeds
    assert (out / "knapsack_tau.png").is_file()


def test_no_records_leaves_the_rows_unmeasured(tmp_path):
    s = section.build_section(tmp_path, results=None)
    assert [r.met for r in s.scorecard][1:] == [None, None, None]
    assert "No speed records found" in s.body and "No regret records found" in s.body
