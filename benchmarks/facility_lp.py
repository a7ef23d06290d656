"""Benchmark: the two solvers of ``subsel.valuation.FacilityLocationLP`` side by side.

What is measured
----------------
Synthetic instances: ``n`` new and ``m`` old points drawn from a standard normal in 8 dimensions,
l1 distances (the paper's affine distance); 4 instance sets per configuration (seeds 0-3; the
native solver's iteration count varies 2-3x between instances), the timed calls cycling through
them. For (n, m) in {(40, 40), (100, 100)},
batch in {1, 8} (and 32 at 40 x 40), relaxation "budget" (and "mass" at 40 x 40),
budget_fraction 0.2:

- ``cvxpylayers``: the reference layer (solver="cvxpylayers", smoothing=0: the exact LP, as the
  authors solve it; SCS through diffcp, eps 1e-9). Its compile time is excluded (a warm-up call).
- ``native``: solver="native" with the default smoothing (0.01 x mean distance), float64.

Metrics (``value``): ``seconds_forward`` and ``seconds_forward_backward`` are MEDIAN seconds per
instance (one call on the whole batch, divided by ``batch``; ``params.call_seconds`` is the median
per call), under ``torch.no_grad()`` for the forward; the backward is of ``(u * w).sum()`` for fixed
random ``w``. torch runs on one thread (``--threads``). Repeats of the two methods are interleaved
(the machine is shared), after one warm-up call each. ``objective_gap``: the relative gap
``(objective - LP optimum) / LP optimum`` of each solver's solution, mean over the instances, the
optimum taken from the reference (SCS at 1e-9). ``speedup_*`` records (method "native") give
cvxpylayers' median over native's. ``gradient_cosine`` (batch 1, n <= 40): cosine between the native
gradient of ``(u * w).sum()`` w.r.t. both distance inputs and cvxpylayers' on the same smoothed
problem (``params.reference_smoothing`` 0.01) and on the exact LP (0: its derivative is zero almost
everywhere, so only the norms are informative).

Run (from the repository root)::

    python benchmarks/facility_lp.py              # full grid -> benchmarks/results/facility_lp.json
    python benchmarks/facility_lp.py --quick      # seconds; writes to --out or a temp file
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_label, git_commit, out_path
from subsel._io import atomic_write_text
from subsel.valuation import FacilityLocationLP

BENCHMARK = "facility_lp"
DATASET = "synthetic"
FRACTION = 0.2
FULL = [
    (40, 40, 1, "budget"),
    (40, 40, 8, "budget"),
    (40, 40, 32, "budget"),
    (40, 40, 1, "mass"),
    (100, 100, 1, "budget"),
    (100, 100, 8, "budget"),
]
QUICK = [(10, 6, 1, "budget"), (10, 6, 2, "mass")]


def instance(n, m, batch, seed=0, dim=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n + m, dim, generator=g, dtype=torch.float64)
    d = torch.cdist(x, x, p=1)
    w = torch.randn(batch, n, generator=g, dtype=torch.float64)
    return d[:, :n, n:].contiguous(), d[:, :n, :n].contiguous(), w


def instances(n, m, batch, count):
    """``count`` independent instance sets (seeds 0 .. count - 1) of one configuration."""
    return [instance(n, m, batch, seed=seed) for seed in range(count)]


def call(layer, d_old, d_new, w, mode):
    if mode == "forward":
        with torch.no_grad():
            return layer(d_old, d_new, return_all=True)
    do, dn = d_old.clone().requires_grad_(), d_new.clone().requires_grad_()
    res = layer(do, dn, return_all=True)
    (res.u * w).sum().backward()
    return res


def gradients(layer, d_old, d_new, w):
    do, dn = d_old.clone().requires_grad_(), d_new.clone().requires_grad_()
    (layer(do, dn) * w).sum().backward()
    return torch.cat([do.grad.flatten(), dn.grad.flatten()])


def gradient_cosines(d_old, d_new, w, relaxation):
    """Cosine between the native gradient of (u * w).sum() (w.r.t. both distance inputs) and
    cvxpylayers' on the same smoothed problem (s = 0.01), and on the exact LP (s = 0)."""
    native = gradients(FacilityLocationLP(FRACTION, relaxation=relaxation), d_old, d_new, w)
    out = []
    for s in (0.01, 0.0):
        ref = FacilityLocationLP(FRACTION, solver="cvxpylayers", relaxation=relaxation, smoothing=s)
        g = gradients(ref, d_old, d_new, w)
        cos = torch.nn.functional.cosine_similarity(native, g, dim=0)
        out.append(
            (
                "native",
                float(cos),
                {
                    "reference_smoothing": s,
                    "native_grad_norm": float(native.norm()),
                    "reference_grad_norm": float(g.norm()),
                },
            )
        )
        print(
            f"    gradient cosine native vs cvxpylayers(smoothing={s}): {float(cos):.4f} "
            f"(norms {float(native.norm()):.3g} / {float(g.norm()):.3g})",
            flush=True,
        )
    return out


def run(configs, repeats, n_instances, device_label, commit):
    records = []

    def rec(method, metric, value, params, seconds):
        records.append(
            {
                "benchmark": BENCHMARK,
                "dataset": DATASET,
                "method": method,
                "metric": metric,
                "value": value,
                "params": params,
                "seconds": seconds,
                "device": device_label,
                "commit": commit,
            }
        )

    for n, m, batch, relaxation in configs:
        data = instances(n, m, batch, n_instances)
        layers = {
            "cvxpylayers": FacilityLocationLP(
                FRACTION, solver="cvxpylayers", relaxation=relaxation
            ),
            "native": FacilityLocationLP(FRACTION, solver="native", relaxation=relaxation),
        }
        params = {
            "n": n,
            "m": m,
            "batch": batch,
            "relaxation": relaxation,
            "instances": n_instances,
        }
        t0 = time.perf_counter()
        refs = [call(layers["cvxpylayers"], *d, "forward") for d in data]  # first one compiles
        ref_s = time.perf_counter() - t0
        nats = [call(layers["native"], *d, "forward") for d in data]
        for name, sols in (("cvxpylayers", refs), ("native", nats)):
            gap = torch.cat(
                [(r.objective - f.objective) / f.objective for r, f in zip(sols, refs, strict=True)]
            )
            extra = (
                {"n_iter": [r.n_iter for r in sols]}
                if name == "native"
                else {"first_calls_s": ref_s}
            )
            rec(name, "objective_gap", float(gap.mean()), {**params, **extra}, None)
        if batch == 1 and n <= 40:
            for name, value, extra in gradient_cosines(*data[0], relaxation):
                rec(name, "gradient_cosine", value, {**params, **extra}, None)
        for mode in ("forward", "forward_backward"):
            times = {"cvxpylayers": [], "native": []}
            for name in times:  # warm-up of this mode
                call(layers[name], *data[0], mode)
            for r in range(repeats):
                d = data[r % n_instances]
                for name in times:
                    t = time.perf_counter()
                    call(layers[name], *d, mode)
                    times[name].append(time.perf_counter() - t)
            med = {k: statistics.median(v) for k, v in times.items()}
            for name in times:
                rec(
                    name,
                    f"seconds_{mode}",
                    med[name] / batch,
                    {**params, "call_seconds": med[name], "repeats": repeats},
                    sum(times[name]),
                )
            rec("native", f"speedup_{mode}", med["cvxpylayers"] / med["native"], params, None)
            print(
                f"n={n:4d} m={m:4d} batch={batch:2d} {relaxation:6s} {mode:17s} "
                f"cvxpylayers {med['cvxpylayers'] / batch * 1e3:9.2f} ms/inst  "
                f"native {med['native'] / batch * 1e3:8.2f} ms/inst  "
                f"x{med['cvxpylayers'] / med['native']:.1f}",
                flush=True,
            )
        gap = torch.cat(
            [(r.objective - f.objective) / f.objective for r, f in zip(nats, refs, strict=True)]
        )
        print(
            f"    objective gap (rel. to the LP optimum): native mean {float(gap.mean()):.2e}, "
            f"max {float(gap.max()):.2e}; Newton iterations {[r.n_iter for r in nats]}",
            flush=True,
        )
    return records


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny grid, seconds")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (default 1: SCS is single-threaded, and the native solver's "
        "many small ops lose to thread hand-offs on a shared machine); 0 keeps torch's default",
    )
    args = ap.parse_args(argv)
    try:
        import cvxpylayers  # noqa: F401
    except ImportError:
        print(
            "facility_lp skipped: the reference needs cvxpylayers "
            "(pip install 'subsel[valuation]'); nothing written"
        )
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 8)
    label = f"{cpu_label()} (torch threads: {torch.get_num_threads()})"
    n_instances = 2 if args.quick else 4
    records = run(QUICK if args.quick else FULL, repeats, n_instances, label, git_commit())
    out = out_path(args.out, args.quick, BENCHMARK)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(records, indent=1) + "\n")
    print(f"wrote {len(records)} records to {out}")


if __name__ == "__main__":
    main()
