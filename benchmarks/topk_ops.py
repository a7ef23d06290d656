"""Benchmark: ``subsel.ops.relaxed_topk`` against NeuralSort and ``torch.topk``.

What is measured
----------------
For every n in {100, 1000, 5000, 100000}, k in {5, 50}, batch in {1, 64} and mode in
{"forward", "forward_backward"}, on float32 standard-normal scores of shape (batch, n) (fixed seed,
tau = 1.0):

- ``subsel``: :func:`subsel.ops.relaxed_topk` (successive softmax, O(k n) per row), variants
  ``"lean"`` (the CPU default: custom autograd.Function, one saved tensor a step) and ``"eager"``
  (plain autograd); on CUDA also ``"compile"`` (the CUDA default, the torch.compile-fused k-step
  loop; its first call, compilation included, is recorded as ``compile_s`` and excluded from the
  timings). On CPU the compiled variant runs only with ``--cpu-compile``. The table, the growth
  lines and the speed-ups quote the first variant (the device's default).
- ``neuralsort`` (the peer): :func:`subsel.ops.neuralsort_topk` (Grover et al., 2019), which builds
  the full n x n relaxed permutation matrix per row, O(n^2) time and memory.
- ``torch.topk``: the exact, non-relaxed operator (a speed reference only; its backward is the
  scatter of ``values.sum()``).

"forward" runs under ``torch.no_grad()``; "forward_backward" runs ``out = method(scores)`` with
``scores.requires_grad_(True)`` and back-propagates ``(out * w).sum()`` for fixed random weights w.

Each (config, method) gets one warm-up call, then ``--repeats`` timed calls (``time.perf_counter``,
with ``torch.cuda.synchronize`` on CUDA); the JSON reports the MEDIAN (a config whose warm-up call
takes more than 20 s gets at most 3 timed calls; ``params.repeats`` says how many). Peak memory is
taken on one extra, untimed call:

- CPU: the process resident-set high-water mark. The peak is reset by writing "5" to
  ``/proc/self/clear_refs``; the figure is ``VmHWM`` after the call minus ``VmRSS`` before it, in MiB.
  This is an approximation (it counts pages touched, including allocator slack, not tensor bytes);
  it is null where ``/proc/self/clear_refs`` is not writable.
- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the memory
  allocated before the call.

CPU allocator: on glibc the benchmark keeps freed memory in the heap (``mallopt(M_MMAP_MAX, 0)``, a
2 GiB trim threshold) so that repeated calls reuse warm pages instead of mapping and faulting fresh
ones on every call; page faults are very slow in some VMs and would otherwise dominate the timings
(NeuralSort's 100 MB matrices most of all). ``malloc_trim(0)`` runs before each memory call (so the
RSS difference sees the call's own pages) and between methods. ``--no-malloc-tuning`` turns this off;
``params.malloc_tuned`` records it.

NeuralSort memory: its (chunk, n, n) float32 matrices are the cost. The batch is processed in
sequential chunks, the largest chunk whose estimated peak (about 4 such matrices forward, 8 forward
+ backward) fits under ``--max-gib``; ``params.chunk`` records it. Chunking gives NeuralSort exactly
the same FLOPs with less memory traffic, so it can only help the peer. A config whose chunk of 1
does not fit (n = 100000 needs 40 GB per matrix) is not run: its records have value null and
``params.skipped``.

Output: a JSON list of records (``benchmark``, ``dataset``, ``method``, ``metric`` in
{"seconds_median", "peak_mib", "speedup_vs_neuralsort"}, ``value``, ``params``, ``seconds``,
``device``, ``commit``) written atomically to ``--out`` (rewritten after every config), plus a table.

Run (from the repository root)::

    python benchmarks/topk_ops.py --device cpu
    python benchmarks/topk_ops.py --device cuda
    python benchmarks/topk_ops.py --quick          # tiny grid, smoke test
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from _env import (
    Libc,
    cpu_label,
    git_commit,
    out_path,
    reset_peak_rss,
    status_kib,
)  # benchmarks/_env.py (scripts run from this folder)
from subsel._io import atomic_write_text
from subsel.ops import neuralsort_topk, relaxed_topk

BENCHMARK = "topk_ops"
DATASET = "synthetic-normal"
TAU = 1.0
SEED = 0
MODES = ("forward", "forward_backward")
FULL_GRID = {"n": (100, 1000, 5000, 100_000), "k": (5, 50), "batch": (1, 64)}
QUICK_GRID = {"n": (100, 300), "k": (5,), "batch": (1, 2)}
QUICK_REPEATS = 2
SLOW_CALL_S = 20.0
SLOW_REPEATS = 3
# NeuralSort: estimated live (chunk, n, n) matrices at the peak, per mode.
NEURALSORT_MATRICES = {"forward": 4, "forward_backward": 8}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "topk_ops.json"

console = Console(width=160)  # wide enough for the table when output is redirected


# ----------------------------------------------------------------------------- environment
def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return cpu_label()


LIBC = Libc()


# ----------------------------------------------------------------------------- measurement
class CpuMemory:
    """Peak RSS growth of one call: VmHWM after minus VmRSS before, peak reset via clear_refs."""

    def __init__(self):
        self.available = reset_peak_rss()
        self.base_kib = 0

    def start(self) -> None:
        LIBC.trim()
        if self.available:
            reset_peak_rss()
            self.base_kib = status_kib("VmRSS")

    def stop(self) -> float | None:
        if not self.available:
            return None
        return max(0, status_kib("VmHWM") - self.base_kib) / 1024.0


class CudaMemory:
    """Peak allocated CUDA memory of one call, above what was allocated before it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.base = 0

    def start(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self.base = torch.cuda.memory_allocated(self.device)

    def stop(self) -> float:
        torch.cuda.synchronize(self.device)
        return (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20


def make_sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def measure(fn: Callable[[], object], repeats: int, sync, memory) -> dict:
    """Warm-up call, timed calls (median), then one untimed call for the peak memory."""
    warmup_s = timed(fn, sync)
    if warmup_s > SLOW_CALL_S:
        repeats = min(repeats, SLOW_REPEATS)
    times = [timed(fn, sync) for _ in range(repeats)]
    memory.start()
    fn()
    peak = memory.stop()
    return {
        "median": statistics.median(times),
        "times": times,
        "repeats": repeats,
        "warmup_s": warmup_s,
        "peak_mib": peak,
    }


# ----------------------------------------------------------------------------- methods
def call_subsel(x, w, k: int, mode: str, backend: str):
    if mode == "forward":
        with torch.no_grad():
            return relaxed_topk(x, k, tau=TAU, backend=backend)
    x.grad = None
    out = relaxed_topk(x, k, tau=TAU, backend=backend)
    (out * w).sum().backward()
    return out.detach()


def call_neuralsort(x, w, k: int, mode: str, chunk: int):
    """NeuralSort top-k over the batch in sequential chunks (same FLOPs, less memory)."""
    outs = []
    if mode == "forward":
        with torch.no_grad():
            for i in range(0, x.shape[0], chunk):
                outs.append(neuralsort_topk(x[i : i + chunk], k, tau=TAU))
        return torch.cat(outs)
    x.grad = None
    for i in range(0, x.shape[0], chunk):
        out = neuralsort_topk(x[i : i + chunk], k, tau=TAU)
        (out * w[i : i + chunk]).sum().backward()  # gradients accumulate into x.grad
        outs.append(out.detach())
    return torch.cat(outs)


def call_topk(x, w, k: int, mode: str):
    if mode == "forward":
        with torch.no_grad():
            return torch.topk(x, k).values
    x.grad = None
    values = torch.topk(x, k).values
    values.sum().backward()
    return values.detach()


def neuralsort_chunk(n: int, batch: int, mode: str, max_gib: float) -> tuple[int, float]:
    """Largest chunk whose estimated peak fits under max_gib, and the GiB a chunk of 1 needs."""
    per_row = NEURALSORT_MATRICES[mode] * n * n * 4
    return min(batch, int(max_gib * 2**30 // per_row)), per_row / 2**30


def check_output(out: torch.Tensor, x: torch.Tensor, k: int, mode: str) -> bool:
    """Finite output (and gradient) whose rows sum to k."""
    ok = bool(torch.isfinite(out).all()) and bool(
        torch.allclose(
            out.sum(-1).double(),
            torch.full((out.shape[0],), float(k), dtype=torch.float64, device=out.device),
            rtol=1e-3,
            atol=1e-3,
        )
    )
    if mode == "forward_backward":
        ok = ok and x.grad is not None and bool(torch.isfinite(x.grad).all())
    return ok


# ----------------------------------------------------------------------------- one config
def make_inputs(n: int, batch: int, device: torch.device):
    gen = torch.Generator().manual_seed(SEED)
    scores = torch.randn(batch, n, generator=gen, dtype=torch.float32)
    weights = torch.randn(batch, n, generator=gen, dtype=torch.float32)
    return scores.to(device), weights.to(device)


def fresh(scores: torch.Tensor, mode: str) -> torch.Tensor:
    return scores.clone().requires_grad_(mode == "forward_backward")


def release(device: torch.device) -> None:
    gc.collect()
    LIBC.trim()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def subsel_variants(device: torch.device, cpu_compile: bool) -> list[str]:
    """Backends of relaxed_topk to time; the first is the one the table and ratios quote.

    "lean" is the CPU default (custom autograd.Function, one saved tensor a step), "eager" plain
    autograd, "compile" the torch.compile-fused loop (the CUDA default).
    """
    if device.type == "cuda":
        return ["compile", "lean", "eager"]
    return ["lean", "eager", "compile"] if cpu_compile else ["lean", "eager"]


def bench_subsel(scores, weights, k, mode, variant, ctx) -> dict:
    x = fresh(scores, mode)
    topk_mod = importlib.import_module("subsel.ops.topk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = measure(
            lambda: call_subsel(x, weights, k, mode, variant),
            ctx["repeats"],
            ctx["sync"],
            ctx["memory"],
        )
    extra = {"variant": variant}
    if variant == "compile":
        extra["compile_s"] = res["warmup_s"]
        extra["compile_fell_back"] = bool(getattr(topk_mod, "_COMPILE_FAILED", False))
    if caught:
        extra["warnings"] = sorted({str(w.message)[:200] for w in caught})
    extra["output_ok"] = check_output(call_subsel(x, weights, k, mode, variant), x, k, mode)
    return {**res, "extra": extra}


def bench_neuralsort(scores, weights, k, mode, ctx) -> dict:
    batch, n = scores.shape
    chunk, gib_per_row = neuralsort_chunk(n, batch, mode, ctx["max_gib"])
    if chunk < 1:
        return {
            "median": None,
            "peak_mib": None,
            "repeats": 0,
            "extra": {"chunk": 0, "skipped": f"needs ~{gib_per_row:.0f} GiB"},
        }
    x = fresh(scores, mode)
    res = measure(
        lambda: call_neuralsort(x, weights, k, mode, chunk),
        ctx["repeats"],
        ctx["sync"],
        ctx["memory"],
    )
    ok = check_output(call_neuralsort(x, weights, k, mode, chunk), x, k, mode)
    return {**res, "extra": {"chunk": chunk, "output_ok": ok}}


def bench_topk(scores, weights, k, mode, ctx) -> dict:
    x = fresh(scores, mode)
    res = measure(
        lambda: call_topk(x, weights, k, mode), ctx["repeats"], ctx["sync"], ctx["memory"]
    )
    return {**res, "extra": {}}


def run_config(n: int, k: int, batch: int, mode: str, ctx) -> dict[tuple[str, str], dict]:
    """All methods on one (n, k, batch, mode); keys (method, variant)."""
    scores, weights = make_inputs(n, batch, ctx["device"])
    results = {}
    results[("torch.topk", "")] = bench_topk(scores, weights, k, mode, ctx)
    release(ctx["device"])
    for variant in ctx["variants"]:
        results[("subsel", variant)] = bench_subsel(scores, weights, k, mode, variant, ctx)
        release(ctx["device"])
    results[("neuralsort", "")] = bench_neuralsort(scores, weights, k, mode, ctx)
    release(ctx["device"])
    return results


# ----------------------------------------------------------------------------- records
def record(method, metric, value, params, seconds, ctx) -> dict:
    return {
        "benchmark": BENCHMARK,
        "dataset": DATASET,
        "method": method,
        "metric": metric,
        "value": value,
        "params": params,
        "seconds": seconds,
        "device": ctx["label"],
        "commit": ctx["commit"],
    }


def config_records(n, k, batch, mode, results, ctx) -> list[dict]:
    base = {
        "n": n,
        "k": k,
        "batch": batch,
        "mode": mode,
        "tau": TAU,
        "malloc_tuned": ctx["malloc_tuned"],
    }
    out = []
    for (method, _variant), res in results.items():
        params = {**base, "repeats": res["repeats"], **res["extra"]}
        if "warmup_s" in res:
            params["warmup_s"] = round(res["warmup_s"], 6)
            params["times"] = [round(t, 6) for t in res["times"]]
        sec = res["median"]
        out.append(record(method, "seconds_median", sec, params, sec, ctx))
        out.append(record(method, "peak_mib", res["peak_mib"], params, sec, ctx))
    ns = results[("neuralsort", "")]["median"]
    for (method, variant), res in results.items():
        if method == "subsel" and ns is not None and res["median"]:
            params = {
                **base,
                "variant": variant,
                "repeats": res["repeats"],
                "neuralsort_chunk": results[("neuralsort", "")]["extra"]["chunk"],
            }
            out.append(
                record(
                    "subsel",
                    "speedup_vs_neuralsort",
                    ns / res["median"],
                    params,
                    res["median"],
                    ctx,
                )
            )
    return out


def write_json(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, json.dumps(records, indent=1) + "\n")


# ----------------------------------------------------------------------------- reporting
def _ms(sec) -> str:
    return "-" if sec is None else f"{sec * 1e3:.2f}"


def _mib(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def print_table(rows: list[tuple], variants: list[str]) -> None:
    main = variants[0]
    table = Table(title=f"topk_ops: median ms; peak MiB (subsel {main} / neuralsort / topk)")
    for col in ("n", "k", "batch", "mode"):
        table.add_column(col, justify="right")
    for v in variants:
        table.add_column(f"subsel {v} ms", justify="right")
    for col in ("neuralsort ms (chunk)", "topk ms", "NS/subsel", "peak MiB"):
        table.add_column(col, justify="right")
    for n, k, batch, mode, results in rows:
        ns = results[("neuralsort", "")]
        sub = results[("subsel", main)]
        ratio = f"{ns['median'] / sub['median']:.1f}x" if ns["median"] and sub["median"] else "-"
        ns_cell = (
            f"{_ms(ns['median'])} ({ns['extra']['chunk']})"
            if ns["median"] is not None
            else ns["extra"].get("skipped", "-")
        )
        peaks = " / ".join(
            _mib(results[key]["peak_mib"])
            for key in (("subsel", main), ("neuralsort", ""), ("torch.topk", ""))
        )
        subs = [_ms(results[("subsel", v)]["median"]) for v in variants]
        table.add_row(
            str(n),
            str(k),
            str(batch),
            mode,
            *subs,
            ns_cell,
            _ms(results[("torch.topk", "")]["median"]),
            ratio,
            peaks,
        )
    console.print(table)


def growth_lines(rows: list[tuple], variant: str) -> list[str]:
    """How subsel's time grows with n and k at the largest batch (ideal: linear)."""
    t = {(n, k, b, m): r[("subsel", variant)]["median"] for n, k, b, m, r in rows}
    ns = sorted({key[0] for key in t})
    ks = sorted({key[1] for key in t})
    batch = max(key[2] for key in t)
    n_hi = ns[-1]
    n_lo = next((n for n in ns if n >= 1000 and n < n_hi), ns[0])
    lines = []
    for mode in MODES:
        parts = []
        if n_lo != n_hi:
            for k in ks:
                r = t[(n_hi, k, batch, mode)] / t[(n_lo, k, batch, mode)]
                parts.append(f"n {n_hi}/{n_lo} at k={k}: {r:.1f}x (ideal {n_hi / n_lo:.0f}x)")
        if len(ks) > 1:
            r = t[(n_hi, ks[-1], batch, mode)] / t[(n_hi, ks[0], batch, mode)]
            parts.append(f"k {ks[-1]}/{ks[0]} at n={n_hi}: {r:.1f}x (ideal {ks[-1] / ks[0]:.0f}x)")
        lines.append(f"subsel {variant} growth, batch {batch}, {mode}: " + "; ".join(parts))
    return lines


# ----------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per config (median)")
    p.add_argument(
        "--quick", action="store_true", help="tiny grid for a smoke run (n <= 300, batch <= 2)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help=f"default {DEFAULT_OUT} (--quick: a temporary file)"
    )
    p.add_argument("--max-gib", type=float, default=6.0, help="memory cap for NeuralSort chunks")
    p.add_argument(
        "--cpu-compile",
        action="store_true",
        help="on CPU also time relaxed_topk(backend='compile')",
    )
    p.add_argument(
        "--no-malloc-tuning", action="store_true", help="leave glibc malloc at its defaults (CPU)"
    )
    args = p.parse_args(argv)
    args.out = out_path(args.out, args.quick, "topk_ops")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda requested but torch.cuda.is_available() is False")
    return args


def raise_recompile_limit(limit: int = 64) -> None:
    """The grid compiles one graph per (k, mode, batch-size class); keep them all cached."""
    dynamo = importlib.import_module("torch._dynamo.config")
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(dynamo, name):
            setattr(dynamo, name, max(getattr(dynamo, name), limit))


def make_context(args) -> dict:
    device = torch.device(args.device)
    variants = subsel_variants(device, args.cpu_compile)
    if "compile" in variants:
        raise_recompile_limit()
    malloc_tuned = device.type == "cpu" and not args.no_malloc_tuning and LIBC.keep_freed_memory()
    return {
        "device": device,
        "label": device_label(device),
        "commit": git_commit(),
        "repeats": QUICK_REPEATS if args.quick else args.repeats,
        "max_gib": args.max_gib,
        "variants": variants,
        "sync": make_sync(device),
        "memory": CudaMemory(device) if device.type == "cuda" else CpuMemory(),
        "malloc_tuned": malloc_tuned,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    ctx = make_context(args)
    grid = QUICK_GRID if args.quick else FULL_GRID
    console.print(
        f"device: {ctx['label']}  commit: {ctx['commit']}  torch {torch.__version__}  "
        f"threads {torch.get_num_threads()}  malloc_tuned {ctx['malloc_tuned']}"
    )
    t_start = time.perf_counter()
    rows, records = [], []
    for n in grid["n"]:
        for k in grid["k"]:
            for batch in grid["batch"]:
                for mode in MODES:
                    results = run_config(n, k, batch, mode, ctx)
                    rows.append((n, k, batch, mode, results))
                    records += config_records(n, k, batch, mode, results, ctx)
                    write_json(args.out, records)
                    sub, ns = results[("subsel", ctx["variants"][0])], results[("neuralsort", "")]
                    console.print(
                        f"[{time.perf_counter() - t_start:7.1f}s] n={n} k={k} "
                        f"batch={batch} {mode}: subsel {_ms(sub['median'])} ms, "
                        f"neuralsort {_ms(ns['median'])} ms, topk "
                        f"{_ms(results[('torch.topk', '')]['median'])} ms"
                    )
    print_table(rows, ctx["variants"])
    for line in growth_lines(rows, ctx["variants"][0]):
        console.print(line)
    console.print(f"total {time.perf_counter() - t_start:.1f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
