"""Benchmark: ``subsel.ops.soft_knapsack`` / ``soft_topk`` against a full-table Numba reference.

What is measured
----------------
Problems ``knapsack`` and ``topk``; batch B in {1, 64}, items n in {100, 1000, 10000}, capacity C
(top-k: k) in {10, 100, 1000} (top-k needs k <= n); mode "forward" (under ``torch.no_grad``) and
"forward_backward" (``y = op(theta)``, then ``(y * g).sum().backward()`` for a fixed random g).
Inputs: float64 standard-normal values (fixed seed, ``tau = 1``, Shannon). Knapsack weights are
random integers 1..10 scaled per row to about ``3 C / sum``, so that about a third of the items fit
(at least weight 1: where C < n / 3 every weight is 1 and C items fit; ``params.fit_fraction``
says how many of the lightest items fit, as a fraction of n).

Methods:

- ``subsel`` (ours): ``soft_knapsack`` / ``soft_topk`` with ``backend="auto"`` (Numba on the CPU
  when installed, Triton on CUDA; ``params.kernels`` names the module it resolved to) and
  ``checkpoint=False`` (variant ``auto/full``: the whole table) or ``checkpoint=True``
  (``auto/ckpt``: O(sqrt n) rows, recomputed block by block); where "auto" is not the torch loop,
  also ``backend="torch"`` (``torch/full``, ``torch/ckpt``) on configs small enough for it
  (B n (C + 1) <= 1.1e6 cells and n <= 1000; the others are recorded as skipped). The headline
  variant (``default``) is the one ``checkpoint="auto"`` picks (the whole table while it takes at
  most ``FULL_TABLE_BYTES``).
- ``numba-ref``: ``benchmarks/_knapsack_numba_ref.py``, the approach of the paper's official code
  (three dense float64 tables of shape (B, n + 1, C + 1) for a forward, five with the backward;
  ``prange`` over the batch). Always on the CPU. Skipped (recorded, with the reason) where its
  tables would need more than ``--mem-frac`` of the RAM available (``MemAvailable``) when the
  config starts; so is ours with ``checkpoint=False`` where its whole table(s) would.
- top-k only: ``subsel.ops.relaxed_topk`` (successive softmax) and ``subsel.ops.neuralsort_topk``
  (n x n matrices; processed in chunks of rows that fit ``--neuralsort-gib``, skipped where
  ``B n^2 > 2e9`` or one row does not fit), same B, n, k, float64.

Correctness: on every config where the reference runs, ``max |y_ours - y_ref|`` and (backward)
``max |grad_ours - grad_ref|`` are recorded (metric ``max_abs_diff``, ``params.quantity``) and
must be at most 1e-6; a separate small check does the same for all three regularizers.

Timing: each config runs in a fresh spawned subprocess (one per config, all methods). Every method
is first called on a tiny input (JIT compile / cache load, excluded). The first full-size call is
the warm-up; its peak memory is recorded; then ``--repeats`` timed calls and the MEDIAN is
reported. When the warm-up takes long, fewer calls are timed (as many as fit ``--budget`` seconds,
at least one; ``params.repeats`` and the table say how many). Compile times come from one separate
subprocess with an empty Numba cache (``metric = "compile_s"``): the first tiny calls minus the
same calls warm.

Memory (CPU): peak RSS growth of the call, ``VmHWM`` after it minus ``VmRSS`` before it, the peak
reset through ``/proc/self/clear_refs`` after ``malloc_trim``; where that is not writable, the
growth of ``ru_maxrss`` (an upper bound of nothing in particular after a larger earlier call: it is
then recorded as null). On CUDA: ``torch.cuda.max_memory_allocated`` growth for ours (the
reference, on the CPU, keeps RSS). As in ``topk_ops.py``, glibc keeps freed memory in the heap
(``GLIBC_TUNABLES`` for the subprocesses: no mmap, no trim threshold; ``mallopt`` where that is
not set), because first-touch page faults are very slow on some VMs (about 2.5 s per GB on the
machine of the committed results) and would dominate every timing; ``params.malloc_tuned``.
The subprocesses run with ``OMP_WAIT_POLICY=PASSIVE`` (unless set already, or ``--omp-active``):
OpenMP worker threads (Numba's default threading layer on Linux, torch's intra-op pool) that spin
while they wait make every parallel call wait for time slices when the machine is busy, which
turned 0.2 ms calls into ~100 ms ones on the 2-core machine of the committed results while other
processes ran; ``params.omp_wait_policy`` and ``params.loadavg_1min`` record the conditions.

Output: JSON records (``benchmark``, ``dataset`` = ``synthetic-knapsack`` | ``synthetic-topk``,
``method``, ``metric`` in {``seconds_median``, ``peak_mib``, ``speedup_vs_numba_ref``,
``max_abs_diff``, ``compile_s``}, ``value``, ``params``, ``seconds``, ``device``, ``commit``),
rewritten after every config, and a table of medians with the ratio reference / ours.

Run (from the repository root)::

    python benchmarks/knapsack_ops.py --device cpu
    python benchmarks/knapsack_ops.py --device cuda     # ours on the GPU, the reference on the CPU
    python benchmarks/knapsack_ops.py --quick           # tiny grid, every method, seconds
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gc
import importlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _env import (
    MALLOC_TUNABLES,
    Libc,
    cpu_label,
    git_commit,
    out_path,
    reset_peak_rss,
    status_kib,  # benchmarks/_env.py (run from this folder)
)

BENCHMARK = "knapsack_ops"
PROBLEMS = ("knapsack", "topk")
MODES = ("forward", "forward_backward")
REGULARIZER = "shannon"
TAU = 1.0
SEED = 0
TOLERANCE = 1e-6
FULL_GRID = {"batch": (1, 64), "n": (100, 1000, 10_000), "cap": (10, 100, 1000)}
QUICK_GRID = {"batch": (2,), "n": (30,), "cap": (6,)}
QUICK_REPEATS = 2
#: backend="torch" runs only where B * n * (C + 1) <= this and n <= TORCH_MAX_N (a Python loop of
#: n steps of ~20 torch ops per sweep; beyond that a call takes minutes).
TORCH_MAX_CELLS = 1_100_000
TORCH_MAX_N = 1000
#: NeuralSort runs only where B * n^2 <= this (its O(n^2) matrices per row).
NEURALSORT_MAX_ELEMS = 2_000_000_000
NEURALSORT_MATRICES = {"forward": 4, "forward_backward": 8}  # live (n, n) float64 matrices a row
#: Fewer timed calls for slow configs (see :func:`measure`).
MIN_REPEATS = 3
ROOT = Path(__file__).resolve().parents[1]
VARIANTS_AUTO = (("auto", False), ("auto", True))
VARIANTS_TORCH = (("torch", False), ("torch", True))


def variant_name(backend: str, checkpoint: bool) -> str:
    return f"{backend}/{'ckpt' if checkpoint else 'full'}"


# ----------------------------------------------------------------------------- environment


def mem_available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class CpuMemory:
    """Peak RSS growth of one call: VmHWM after minus VmRSS before (peak reset by clear_refs);
    without clear_refs, the growth of ru_maxrss when the call raised it, else None."""

    def __init__(self, libc: Libc):
        self.libc = libc
        self.base_kib = 0
        self.maxrss0 = 0
        self.clear_refs = reset_peak_rss()

    def start(self) -> None:
        gc.collect()
        self.libc.trim()
        if self.clear_refs:
            reset_peak_rss()
            self.base_kib = status_kib("VmRSS")
        else:
            self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> float | None:
        if self.clear_refs:
            return max(0, status_kib("VmHWM") - self.base_kib) / 1024.0
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss0
        return grown / 1024.0 if grown > 0 else None


class CudaMemory:
    """Peak allocated CUDA memory of one call, above what was allocated before it."""

    def __init__(self, torch, device):
        self.torch, self.device, self.base = torch, device, 0

    def start(self) -> None:
        self.torch.cuda.synchronize(self.device)
        self.torch.cuda.reset_peak_memory_stats(self.device)
        self.base = self.torch.cuda.memory_allocated(self.device)

    def stop(self) -> float:
        self.torch.cuda.synchronize(self.device)
        return (self.torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20


# ----------------------------------------------------------------------------- inputs
def make_inputs(problem: str, batch: int, n: int, cap: int):
    """float64 values and upstream gradient (B, n), int64 weights (B, n), the fit fraction."""
    import numpy as np

    rng = np.random.default_rng([SEED, batch, n, cap, PROBLEMS.index(problem)])
    theta = rng.standard_normal((batch, n))
    g = rng.standard_normal((batch, n))
    if problem == "topk":
        w = np.ones((batch, n), dtype=np.int64)
        return theta, w, g, cap / n
    u = rng.integers(1, 11, size=(batch, n))
    w = np.maximum(1, np.rint(u * (3.0 * cap / u.sum(1, keepdims=True)))).astype(np.int64)
    fits = (np.cumsum(np.sort(w, axis=1), axis=1) <= cap).sum(1)
    return theta, w, g, float(fits.mean() / n)


def table_width(problem: str, w, cap: int) -> int:
    """Columns of the table ours builds: the capacity clipped to the smallest row weight sum."""
    if problem == "topk":
        return cap + 1
    return int(min(cap, int(w.sum(1).min()))) + 1


def ref_bytes(batch: int, n: int, width: int, mode: str) -> int:
    """The reference's float64 tables: 3 for a forward, 5 with the backward."""
    return batch * (n + 1) * width * 8 * (5 if mode == "forward_backward" else 3)


def ours_full_bytes(batch: int, n: int, width: int, mode: str) -> int:
    """Ours with checkpoint=False: the stored rows of V (and of the tangent T for the backward)."""
    return batch * n * width * 8 * (2 if mode == "forward_backward" else 1)


# ----------------------------------------------------------------------------- measurement
def measure(fn: Callable[[], object], repeats: int, budget: float, sync, memory) -> dict:
    """Warm-up call (its peak memory and output kept), then timed calls; the median.

    Up to ``repeats`` timed calls; it stops early once they took ``budget`` seconds and at least
    ``MIN_REPEATS`` were made, or once they took ``2 budget`` (so a call of more than ``2 budget``
    is timed once, one of ``budget / 1.5 .. 2 budget`` about twice).
    """
    memory.start()
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    warmup_s = time.perf_counter() - t0
    peak = memory.stop()
    times = []
    while len(times) < repeats:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        spent = sum(times)
        if spent >= 2 * budget or (spent >= budget and len(times) >= MIN_REPEATS):
            break
    return {
        "median": statistics.median(times),
        "times": times,
        "repeats": len(times),
        "warmup_s": warmup_s,
        "peak_mib": peak,
        "out": out,
    }


def skipped(reason: str) -> dict:
    return {"median": None, "peak_mib": None, "repeats": 0, "skipped": reason}


# ----------------------------------------------------------------------------- child side
class Child:
    """Everything one subprocess needs: torch, the ops, the reference, memory and sync."""

    def __init__(self, spec: dict):
        self.libc = Libc()
        self.malloc_tuned = bool(spec["malloc_tuning"]) and self.libc.keep_freed_memory()
        import numpy as np
        import torch

        from subsel.ops import neuralsort_topk, relaxed_topk

        kmod = importlib.import_module("subsel.ops.knapsack")  # the module, not the function
        self.np, self.torch, self.kmod = np, torch, kmod
        self.relaxed_topk, self.neuralsort_topk = relaxed_topk, neuralsort_topk
        self.device = torch.device(spec["device"])
        try:
            import _knapsack_numba_ref as ref

            self.ref = ref
            self.numba_threads = ref.numba.get_num_threads()
        except ImportError:
            self.ref, self.numba_threads = None, None
        if self.device.type == "cuda":
            self.sync = lambda: torch.cuda.synchronize(self.device)
            self.memory = CudaMemory(torch, self.device)
        else:
            self.sync = lambda: None
            self.memory = CpuMemory(self.libc)
        self.cpu_memory = CpuMemory(self.libc)
        self.kernels_auto = kmod._backend("auto", self.device, "bench").__name__.rsplit(".", 1)[-1]

    # ---- calls
    def op(self, problem):
        return self.kmod.soft_topk if problem == "topk" else self.kmod.soft_knapsack

    def ours(self, problem, x, w, cap, g, mode, backend, checkpoint):
        torch = self.torch
        kw = dict(tau=TAU, regularizer=REGULARIZER, checkpoint=checkpoint, backend=backend)
        args = (x, cap) if problem == "topk" else (x, w, cap)
        if mode == "forward":
            with torch.no_grad():
                return self.op(problem)(*args, **kw), None
        xr = x.detach().requires_grad_(True)
        args = (xr, *args[1:])
        y = self.op(problem)(*args, **kw)
        (y * g).sum().backward()
        return y.detach(), xr.grad

    def reference(self, problem, theta, w, cap, g, mode, reg=REGULARIZER):
        return self.ref.soft_select(
            theta,
            w,
            cap,
            exact_k=problem == "topk",
            reg=reg,
            tau=TAU,
            g=g if mode == "forward_backward" else None,
        )

    def relaxed(self, x, k, g, mode):
        torch = self.torch
        if mode == "forward":
            with torch.no_grad():
                return self.relaxed_topk(x, k, tau=TAU)
        xr = x.detach().requires_grad_(True)
        y = self.relaxed_topk(xr, k, tau=TAU)
        (y * g).sum().backward()
        return y.detach()

    def neuralsort(self, x, k, g, mode, chunk):
        torch = self.torch
        outs = []
        if mode == "forward":
            with torch.no_grad():
                for i in range(0, x.shape[0], chunk):
                    outs.append(self.neuralsort_topk(x[i : i + chunk], k, tau=TAU))
            return torch.cat(outs)
        xr = x.detach().requires_grad_(True)
        for i in range(0, x.shape[0], chunk):
            y = self.neuralsort_topk(xr[i : i + chunk], k, tau=TAU)
            (y * g[i : i + chunk]).sum().backward()
            outs.append(y.detach())
        return torch.cat(outs)

    def tiny_warmup(self, problem, backend, checkpoint) -> None:
        """Compile / load every kernel a method uses (a tiny input, both modes)."""
        torch = self.torch
        x = torch.randn(2, 6, dtype=torch.float64, device=self.device)
        w = torch.ones(2, 6, dtype=torch.long, device=self.device)
        for mode in MODES:
            self.ours(problem, x, w, 2, x, mode, backend, checkpoint)

    def available(self) -> int | None:
        """RAM available now, after handing this process's freed heap back (malloc_trim)."""
        gc.collect()
        self.libc.trim()
        return mem_available_bytes()

    def to_numpy(self, t):
        return None if t is None else t.detach().double().cpu().numpy()


def _variants(child: Child, spec: dict, batch: int, n: int, width: int):
    """The ours variants to time on this config: [(name, backend, checkpoint, skip reason)]."""
    reason = None
    if n > TORCH_MAX_N or batch * n * width > TORCH_MAX_CELLS:
        reason = (
            f"the torch loop is timed only for n <= {TORCH_MAX_N} and B n (C+1) <= "
            f"{TORCH_MAX_CELLS:.0e} (n Python steps a sweep; minutes a call beyond)"
        )
    if child.kernels_auto == "_dp_kernels":  # "auto" is the torch loop here
        return [(variant_name(b, c), b, c, reason) for b, c in VARIANTS_AUTO]
    out = [(variant_name(b, c), b, c, None) for b, c in VARIANTS_AUTO]
    return out + [(variant_name(b, c), b, c, reason) for b, c in VARIANTS_TORCH]


def default_checkpoint(kmod, batch: int, n: int, width: int) -> bool:
    """What checkpoint="auto" resolves to: the whole table while it fits FULL_TABLE_BYTES."""
    limit = getattr(kmod, "FULL_TABLE_BYTES", 128 * 2**20)
    return batch * n * width * 8 > limit


def run_config(spec: dict) -> dict:
    """One (problem, B, n, C) config, every method and mode, in this (fresh) process."""
    t_start = time.perf_counter()
    child = Child(spec)
    torch, np = child.torch, child.np
    problem, batch, n, cap = spec["problem"], spec["batch"], spec["n"], spec["cap"]
    theta, w, g, fit = make_inputs(problem, batch, n, cap)
    width = table_width(problem, w, cap)
    ref_cap = width - 1
    dev = child.device
    x = torch.from_numpy(theta).to(dev)
    wt = torch.from_numpy(w).to(dev)
    gt = torch.from_numpy(g).to(dev)
    res: dict[tuple[str, str], dict] = {}
    info = {
        "width": width,
        "fit_fraction": round(fit, 4),
        "kernels": child.kernels_auto,
        "malloc_tuned": child.malloc_tuned,
        "default_checkpoint": default_checkpoint(child.kmod, batch, n, width),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "numba_threads": child.numba_threads,
    }
    load = {}
    variants = _variants(child, spec, batch, n, width)
    # -- compile / cache load on tiny inputs (excluded from every timing)
    if child.ref is not None:
        load["numba-ref"] = child.ref.compile_all()
    for name, backend, ckpt, reason in variants:
        if reason is None:
            t0 = time.perf_counter()
            child.tiny_warmup(problem, backend, ckpt)
            load[name] = time.perf_counter() - t0
    gc.collect()
    gc.freeze()  # the modules' objects: later collections (before each call) stay fast
    repeats, budget, frac = spec["repeats"], spec["budget"], spec["mem_frac"]
    outs = {}
    for mode in MODES:
        # -- the reference
        need = ref_bytes(batch, n, width, mode)
        avail = child.available()
        if child.ref is None:
            res[("numba-ref", mode)] = skipped("numba is not installed")
        elif avail is not None and need > frac * avail:
            res[("numba-ref", mode)] = skipped(
                f"its {5 if mode == 'forward_backward' else 3} tables need {need / 2**30:.1f} GiB, "
                f"over {frac:.0%} of the {avail / 2**30:.1f} GiB available"
            )
        else:
            r = measure(
                lambda mode=mode: child.reference(problem, theta, w, ref_cap, g, mode),
                repeats,
                budget,
                lambda: None,
                child.cpu_memory,
            )
            r["est_table_gib"] = round(need / 2**30, 3)
            outs[("numba-ref", mode)] = r.pop("out")
            res[("numba-ref", mode)] = r
        gc.collect()
        # -- ours
        for name, backend, ckpt, reason in variants:
            need = ours_full_bytes(batch, n, width, mode)
            avail = child.available()
            if reason is None and not ckpt and avail is not None and need > frac * avail:
                reason = (
                    f"its whole table{'s' if mode == 'forward_backward' else ''} need "
                    f"{need / 2**30:.1f} GiB, over {frac:.0%} of the {avail / 2**30:.1f} GiB "
                    "available"
                )
            if reason is not None:
                res[(name, mode)] = skipped(reason)
                continue
            r = measure(
                lambda mode=mode, backend=backend, ckpt=ckpt: child.ours(
                    problem, x, wt, cap, gt, mode, backend, ckpt
                ),
                repeats,
                budget,
                child.sync,
                child.memory,
            )
            y, grad = r.pop("out")
            outs[(name, mode)] = (child.to_numpy(y), child.to_numpy(grad))
            res[(name, mode)] = r
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        # -- top-k peers
        if problem == "topk":
            r = measure(
                lambda mode=mode: child.relaxed(x, cap, gt, mode),
                repeats,
                budget,
                child.sync,
                child.memory,
            )
            r.pop("out")
            res[("relaxed_topk", mode)] = r
            per_row = NEURALSORT_MATRICES[mode] * n * n * 8
            chunk = min(batch, int(spec["neuralsort_gib"] * 2**30 // per_row))
            if batch * n * n > NEURALSORT_MAX_ELEMS:
                res[("neuralsort", mode)] = skipped(
                    f"B n^2 = {batch * n * n:.1e} > {NEURALSORT_MAX_ELEMS:.0e} (O(n^2) per row)"
                )
            elif chunk < 1:
                res[("neuralsort", mode)] = skipped(
                    f"one row needs ~{per_row / 2**30:.1f} GiB > {spec['neuralsort_gib']} GiB"
                )
            else:
                r = measure(
                    lambda mode=mode, chunk=chunk: child.neuralsort(x, cap, gt, mode, chunk),
                    repeats,
                    budget,
                    child.sync,
                    child.memory,
                )
                r.pop("out")
                r["chunk"] = chunk
                res[("neuralsort", mode)] = r
            gc.collect()
    # -- correctness: every ours variant against the reference (else against auto/full)
    diffs = {}
    for mode in MODES:
        base_key = ("numba-ref", mode) if ("numba-ref", mode) in outs else None
        against = "numba-ref"
        if base_key is None and ("auto/full", mode) in outs:
            base_key, against = ("auto/full", mode), "auto/full"
        if base_key is None:
            continue
        by, bg = outs[base_key]
        for name, *_ in variants:
            if (name, mode) not in outs or (name, mode) == base_key:
                continue
            y, grad = outs[(name, mode)]
            d = {"y": float(np.abs(y - by).max()) if y.size else 0.0}
            if mode == "forward_backward" and grad is not None and bg is not None:
                d["grad"] = float(np.abs(grad - bg).max()) if grad.size else 0.0
            diffs[(name, mode)] = {"against": against, **d}
    return {
        "spec": spec,
        "results": res,
        "diffs": diffs,
        "info": info,
        "load_s": load,
        "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "wall_s": time.perf_counter() - t_start,
    }


def compile_and_check(spec: dict) -> dict:
    """Cold compile times (empty Numba cache) and the all-regularizer equality check."""
    child = Child(spec)
    torch = child.torch
    out = {"compile_s": {}, "checks": [], "kernels": child.kernels_auto}
    if child.ref is not None:
        first = child.ref.compile_all()
        out["compile_s"]["numba-ref"] = first - child.ref.compile_all()
    backends = ["auto"] + (["torch"] if child.kernels_auto != "_dp_kernels" else [])
    for backend in backends:
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            for problem in PROBLEMS:
                for ckpt in (False, True):
                    child.tiny_warmup(problem, backend, ckpt)
            runs.append(time.perf_counter() - t0)
        out["compile_s"][backend] = runs[0] - runs[1]
    if child.ref is None:
        return out
    batch, n, cap = spec["check_size"]
    for problem in PROBLEMS:
        theta, w, g, _ = make_inputs(problem, batch, n, cap)
        width = table_width(problem, w, cap)
        x = torch.from_numpy(theta).to(child.device)
        wt = torch.from_numpy(w).to(child.device)
        gt = torch.from_numpy(g).to(child.device)
        for reg in ("shannon", "gini", "tsallis"):
            ry, rg = child.reference(problem, theta, w, width - 1, g, "forward_backward", reg)
            for backend in backends:
                for ckpt in (False, True):
                    kw = dict(tau=TAU, regularizer=reg, checkpoint=ckpt, backend=backend)
                    xr = x.detach().requires_grad_(True)
                    if problem == "topk":
                        y = child.kmod.soft_topk(xr, cap, **kw)
                    else:
                        y = child.kmod.soft_knapsack(xr, wt, cap, **kw)
                    (y * gt).sum().backward()
                    out["checks"].append(
                        {
                            "problem": problem,
                            "regularizer": reg,
                            "variant": variant_name(backend, ckpt),
                            "batch": batch,
                            "n": n,
                            "cap": cap,
                            "y": float(abs(child.to_numpy(y) - ry).max()),
                            "grad": float(abs(child.to_numpy(xr.grad) - rg).max()),
                        }
                    )
    return out


# ----------------------------------------------------------------------------- records
class Recorder:
    def __init__(self, label: str, commit: str):
        self.label, self.commit, self.records = label, commit, []

    def add(self, dataset, method, metric, value, params, seconds) -> None:
        self.records.append(
            {
                "benchmark": BENCHMARK,
                "dataset": dataset,
                "method": method,
                "metric": metric,
                "value": value,
                "params": params,
                "seconds": seconds,
                "device": self.label,
                "commit": self.commit,
            }
        )


def method_of(key: str) -> tuple[str, dict]:
    """JSON ``method`` and the params naming the variant."""
    if key == "numba-ref":
        return "numba-ref", {"variant": "numba-ref (full float64 tables)", "device": "cpu"}
    if key == "neuralsort":
        return "neuralsort", {"variant": "neuralsort_topk"}
    if key == "relaxed_topk":
        return "subsel", {"op": "relaxed_topk", "variant": "relaxed_topk"}
    backend, ck = key.split("/")
    return "subsel", {"variant": key, "backend": backend, "checkpoint": ck == "ckpt"}


def config_records(rec: Recorder, out: dict) -> None:
    spec, info = out["spec"], out["info"]
    problem = spec["problem"]
    dataset = f"synthetic-{problem}"
    op = "soft_topk" if problem == "topk" else "soft_knapsack"
    base = {
        "problem": problem,
        "batch": spec["batch"],
        "n": spec["n"],
        ("k" if problem == "topk" else "capacity"): spec["cap"],
        "width": info["width"],
        "fit_fraction": info["fit_fraction"],
        "regularizer": REGULARIZER,
        "tau": TAU,
        "dtype": "float64",
        "malloc_tuned": info["malloc_tuned"],
        "omp_wait_policy": info["omp_wait_policy"],
        "numba_threads": info["numba_threads"],
        "loadavg_1min": out["loadavg"],
    }
    default = variant_name("auto", info["default_checkpoint"])
    for (key, mode), r in out["results"].items():
        method, vparams = method_of(key)
        params = {**base, "mode": mode, **vparams, "repeats": r["repeats"]}
        if key == "numba-ref":
            params["op"] = op  # the same operator, the reference's implementation
        if method == "subsel" and "op" not in vparams:
            params["op"] = op
            params["kernels"] = info["kernels"] if key.startswith("auto") else "_dp_kernels"
            params["is_default"] = key == default
        if "skipped" in r:
            params["skipped"] = r["skipped"]
        else:
            params["warmup_s"] = round(r["warmup_s"], 6)
            params["times"] = [round(t, 6) for t in r["times"]]
            params["load_s"] = round(out["load_s"].get(key, 0.0), 4)
            for extra in ("chunk", "est_table_gib"):
                if extra in r:
                    params[extra] = r[extra]
        sec = r["median"]
        rec.add(dataset, method, "seconds_median", sec, params, sec)
        rec.add(dataset, method, "peak_mib", r["peak_mib"], params, sec)
    for mode in MODES:
        ref = out["results"].get(("numba-ref", mode))
        for (key, m), r in out["results"].items():
            if m != mode or key in ("numba-ref", "neuralsort", "relaxed_topk"):
                continue
            _, vparams = method_of(key)
            params = {**base, "mode": mode, "op": op, **vparams, "is_default": key == default}
            if ref and ref["median"] and r["median"]:
                params["numba_ref_s"] = ref["median"]
                rec.add(
                    dataset,
                    "subsel",
                    "speedup_vs_numba_ref",
                    ref["median"] / r["median"],
                    params,
                    r["median"],
                )
            d = out["diffs"].get((key, mode))
            if d:
                for quantity in ("y", "grad"):
                    if quantity in d:
                        p = {**params, "quantity": quantity, "against": d["against"]}
                        p["tolerance"] = TOLERANCE
                        p["ok"] = d[quantity] <= TOLERANCE
                        rec.add(dataset, "subsel", "max_abs_diff", d[quantity], p, r["median"])


def compile_records(rec: Recorder, out: dict, spec: dict) -> None:
    for key, sec in out["compile_s"].items():
        method = "numba-ref" if key == "numba-ref" else "subsel"
        params = {
            "what": "first tiny calls minus the same calls warm",
            "cold_cache": spec["cold_cache"],
        }
        if method == "subsel":
            params.update(backend=key, kernels=out["kernels"] if key == "auto" else "_dp_kernels")
        rec.add("synthetic", method, "compile_s", sec, params, sec)
    for c in out["checks"]:
        for quantity in ("y", "grad"):
            params = {
                **{k: v for k, v in c.items() if k not in ("y", "grad")},
                "quantity": quantity,
                "against": "numba-ref",
                "check": "regularizers",
                "tau": TAU,
                "dtype": "float64",
                "tolerance": TOLERANCE,
                "ok": c[quantity] <= TOLERANCE,
            }
            rec.add(f"synthetic-{c['problem']}", "subsel", "max_abs_diff", c[quantity], params, 0)


def write_json(path: Path, records: list[dict]) -> None:
    from subsel._io import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(records, indent=1) + "\n")


# ----------------------------------------------------------------------------- reporting
def _ms(sec) -> str:
    if sec is None:
        return "-"
    ms = sec * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _cell(r: dict | None) -> str:
    if r is None:
        return ""
    if r.get("skipped"):
        return "skip"
    s = _ms(r["median"])
    return s if r["repeats"] >= 3 else f"{s} ({r['repeats']})"


def _mib(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def print_tables(console, outs: list[dict]) -> None:
    from rich.table import Table

    has_torch = any(("torch/full", m) in o["results"] for o in outs for m in MODES)
    names = ["auto/full", "auto/ckpt"] + (["torch/full", "torch/ckpt"] if has_torch else [])
    table = Table(
        title="knapsack_ops: median ms (n) = timed calls if < 3; ref/x = numba-ref time / ours; "
        "peak MiB ref / full / ckpt"
    )
    for col in ("problem", "B", "n", "C|k", "mode", "numba-ref", *names):
        table.add_column(col, justify="right")
    for col in ("ref/full", "ref/ckpt", "max|diff|", "peak MiB"):
        table.add_column(col, justify="right")
    for o in outs:
        sp, res, info = o["spec"], o["results"], o["info"]
        default = variant_name("auto", info["default_checkpoint"])
        for mode in MODES:
            ref = res.get(("numba-ref", mode))
            ratios, peaks = [], [_mib(ref and ref["peak_mib"])]
            for nm in ("auto/full", "auto/ckpt"):
                ours = res.get((nm, mode))
                ok = ref and ours and ref["median"] and ours["median"]
                mark = "*" if nm == default else ""
                ratios.append(f"{ref['median'] / ours['median']:.2f}x{mark}" if ok else "-")
                peaks.append(_mib(ours and ours["peak_mib"]))
            diffs = [
                v
                for k, d in o["diffs"].items()
                if k[1] == mode
                for q, v in d.items()
                if q in ("y", "grad")
            ]
            vs_full = any(
                d["against"] != "numba-ref" for k, d in o["diffs"].items() if k[1] == mode
            )
            table.add_row(
                sp["problem"],
                str(sp["batch"]),
                str(sp["n"]),
                str(sp["cap"]),
                "fwd" if mode == "forward" else "fwd+bwd",
                _cell(ref),
                *[_cell(res.get((nm, mode))) + ("*" if nm == default else "") for nm in names],
                *ratios,
                (f"{max(diffs):.1e}" + ("^" if vs_full else "")) if diffs else "-",
                " / ".join(peaks),
            )
    console.print(table)
    console.print(
        "* = the variant checkpoint='auto' picks; max|diff| = largest |y| or |grad| difference "
        "of ours (every variant) from numba-ref (^: from ours auto/full, where numba-ref was skipped)"
    )
    topk = [o for o in outs if o["spec"]["problem"] == "topk"]
    if topk:
        t2 = Table(title="top-k operators: median ms (soft_topk default variant)")
        for col in ("B", "n", "k", "mode", "soft_topk", "relaxed_topk", "neuralsort"):
            t2.add_column(col, justify="right")
        for o in topk:
            sp, res = o["spec"], o["results"]
            default = variant_name("auto", o["info"]["default_checkpoint"])
            for mode in MODES:
                ns = res.get(("neuralsort", mode))
                t2.add_row(
                    str(sp["batch"]),
                    str(sp["n"]),
                    str(sp["cap"]),
                    "fwd" if mode == "forward" else "fwd+bwd",
                    _cell(res.get((default, mode))),
                    _cell(res.get(("relaxed_topk", mode))),
                    _cell(ns) + (f" [{ns['chunk']}]" if ns and ns.get("chunk") else ""),
                )
        console.print(t2)


def goal_lines(outs: list[dict], goal_batch: int) -> list[str]:
    """Where 'ours at least as fast as the Numba reference at B = goal_batch' holds."""
    lines = []
    for name in ("default", "auto/full", "auto/ckpt"):
        held, missed, ratios = [], [], []
        for o in outs:
            sp = o["spec"]
            if sp["batch"] != goal_batch:
                continue
            key = (
                variant_name("auto", o["info"]["default_checkpoint"]) if name == "default" else name
            )
            for mode in MODES:
                ref, ours = o["results"].get(("numba-ref", mode)), o["results"].get((key, mode))
                if not (ref and ours and ref["median"] and ours["median"]):
                    continue
                ratio = ref["median"] / ours["median"]
                ratios.append(ratio)
                tag = f"{sp['problem']} n={sp['n']} C={sp['cap']} {mode}: {ratio:.2f}x"
                (held if ratio >= 1.0 else missed).append(tag)
        if ratios:
            lines.append(
                f"goal (ours {name} >= numba-ref speed at B={goal_batch}): holds on {len(held)} of "
                f"{len(ratios)} timed configs; ratio ref/ours median {statistics.median(ratios):.2f}x, "
                f"min {min(ratios):.2f}x, max {max(ratios):.2f}x"
            )
            if missed:
                lines.append("  short of it: " + "; ".join(missed))
    return lines


# ----------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per config (median)")
    p.add_argument(
        "--budget",
        type=float,
        default=6.0,
        help="seconds of timed calls per method and mode; slower calls get fewer repeats",
    )
    p.add_argument("--quick", action="store_true", help="tiny grid for a smoke run (seconds)")
    for name, what in (("batch", "batch sizes"), ("n", "item counts"), ("cap", "capacities / k")):
        p.add_argument(
            f"--{name}", type=int, nargs="+", default=None, help=f"override the grid's {what}"
        )
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<name>.json")
    p.add_argument(
        "--mem-frac",
        type=float,
        default=0.7,
        help="skip the reference (and ours with checkpoint=False) where their tables would exceed "
        "this fraction of the RAM available",
    )
    p.add_argument("--neuralsort-gib", type=float, default=2.0, help="memory cap for NeuralSort")
    p.add_argument(
        "--omp-active",
        action="store_true",
        help="leave OMP_WAIT_POLICY at its default (else PASSIVE for the subprocesses)",
    )
    p.add_argument(
        "--no-malloc-tuning", action="store_true", help="leave glibc malloc at its defaults (CPU)"
    )
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    args.out = out_path(args.out, args.quick, BENCHMARK)
    return args


def cuda_label() -> str | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return f"cuda: {torch.cuda.get_device_name(0)} (numba-ref on {cpu_label()})"


def configs(grid: dict) -> list[tuple[str, int, int, int]]:
    out = []
    for problem in PROBLEMS:
        for batch in grid["batch"]:
            for n in grid["n"]:
                for cap in grid["cap"]:
                    if problem == "topk" and cap > n:
                        continue
                    out.append((problem, batch, n, cap))
    return out


def run_child(pool_ctx, fn, *args):
    """Run fn(*args) in a fresh spawned process; (result, None) or (None, error text)."""
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=pool_ctx) as ex:
        try:
            return ex.submit(fn, *args).result(), None
        except Exception as exc:  # a crash or OOM kill of the child is recorded, not fatal
            return None, f"{type(exc).__name__}: {exc}"[:300]


def quick_child(spec0: dict, specs: list[dict]) -> tuple[dict, list[dict]]:
    """--quick: the compile check and every config in one subprocess (seconds, not minutes)."""
    return compile_and_check(spec0), [run_config(spec) for spec in specs]


def report_config(console, out: dict, t_start: float) -> None:
    sp, res = out["spec"], out["results"]
    default = variant_name("auto", out["info"]["default_checkpoint"])
    parts = []
    for mode in MODES:
        ref, ours = res.get(("numba-ref", mode)), res.get((default, mode))
        parts.append(f"{mode} ref {_cell(ref)} ms / ours {_cell(ours)} ms")
    console.print(
        f"[{time.perf_counter() - t_start:6.1f}s] {sp['problem']} B={sp['batch']} n={sp['n']} "
        f"C={sp['cap']} ({out['wall_s']:.0f}s, load {out['loadavg']:.1f}): " + "; ".join(parts)
    )


def report_compile(console, comp: dict, t_start: float) -> None:
    cs = ", ".join(f"{k} {v:.2f}s" for k, v in comp["compile_s"].items())
    worst = max((max(c["y"], c["grad"]) for c in comp["checks"]), default=None)
    console.print(
        f"[{time.perf_counter() - t_start:6.1f}s] compile: {cs}; backend auto = {comp['kernels']}; "
        f"all-regularizer check max|diff| {'-' if worst is None else f'{worst:.1e}'} "
        f"(tolerance {TOLERANCE:g})"
    )


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        label = cuda_label()
        if label is None:
            print(
                "knapsack_ops: --device cuda requested but CUDA is not available", file=sys.stderr
            )
            return 2
    else:
        label = cpu_label()
    from rich.console import Console

    console = Console(width=170)
    # Numba caches, inherited by the spawned children. Full run: empty temporary folders, so the
    # compile times are cold and every config's subprocess loads the kernels from them. --quick:
    # the reference keeps a cache in the temporary folder across runs; ours its usual one.
    made = []
    if args.quick:
        os.environ["KNAPSACK_REF_NUMBA_CACHE"] = str(
            Path(tempfile.gettempdir()) / "subsel_knapsack_ops_numba_ref"
        )
    else:
        for var in ("KNAPSACK_REF_NUMBA_CACHE", "NUMBA_CACHE_DIR"):
            made.append(tempfile.mkdtemp(prefix="knapsack_ops_numba_"))
            os.environ[var] = made[-1]
    # OpenMP threads (Numba's "omp" layer, torch's intra-op pool) that spin while waiting make a
    # parallel call wait for a time slice on a busy machine: a 0.2 ms call took ~100 ms on the
    # 2-core machine of the committed results while other processes ran. Passive waiting avoids
    # that for ours and the reference alike; --omp-active leaves the default.
    if not args.omp_active:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.device == "cpu" and not args.no_malloc_tuning and sys.platform.startswith("linux"):
        tunables = os.environ.get("GLIBC_TUNABLES", "")
        os.environ["GLIBC_TUNABLES"] = (
            f"{tunables}:{MALLOC_TUNABLES}" if tunables else MALLOC_TUNABLES
        )
    signal.signal(signal.SIGTERM, _terminate)  # so that the caches below are removed
    ctx = mp.get_context("spawn")
    grid = dict(QUICK_GRID if args.quick else FULL_GRID)
    for name in ("batch", "n", "cap"):
        if getattr(args, name):
            grid[name] = tuple(getattr(args, name))
    spec0 = {
        "device": args.device,
        "malloc_tuning": args.device == "cpu" and not args.no_malloc_tuning,
        "repeats": QUICK_REPEATS if args.quick else args.repeats,
        "budget": 1.0 if args.quick else args.budget,
        "mem_frac": args.mem_frac,
        "neuralsort_gib": args.neuralsort_gib,
        "check_size": (2, 12, 5) if args.quick else (3, 40, 12),
        "cold_cache": not args.quick,
    }
    specs = [
        {**spec0, "problem": problem, "batch": batch, "n": n, "cap": cap}
        for problem, batch, n, cap in configs(grid)
    ]
    rec = Recorder(label, git_commit())
    avail = mem_available_bytes()
    console.print(
        f"device: {label}  commit: {rec.commit}  cpus {os.cpu_count()}  available RAM "
        f"{'?' if avail is None else f'{avail / 2**30:.1f} GiB'}  loadavg "
        f"{os.getloadavg()[0]:.1f}"
    )
    t_start = time.perf_counter()
    outs = []
    try:
        if args.quick:
            both, err = run_child(ctx, quick_child, spec0, specs)
            if both is None:
                console.print(f"quick subprocess failed: {err}")
                return 1
            comp, outs = both
            compile_records(rec, comp, spec0)
            report_compile(console, comp, t_start)
            for out in outs:
                config_records(rec, out)
                report_config(console, out, t_start)
            write_json(args.out, rec.records)
        else:
            comp, err = run_child(ctx, compile_and_check, spec0)
            if comp is None:
                console.print(f"compile / check subprocess failed: {err}")
            else:
                compile_records(rec, comp, spec0)
                write_json(args.out, rec.records)
                report_compile(console, comp, t_start)
            for spec in specs:
                out, err = run_child(ctx, run_config, spec)
                if out is None:
                    console.print(
                        f"{spec['problem']} B={spec['batch']} n={spec['n']} C={spec['cap']}: "
                        f"subprocess failed: {err}"
                    )
                    params = {k: spec[k] for k in ("problem", "batch", "n", "cap")}
                    rec.add(
                        f"synthetic-{spec['problem']}",
                        "subsel",
                        "seconds_median",
                        None,
                        {**params, "error": err},
                        None,
                    )
                else:
                    outs.append(out)
                    config_records(rec, out)
                    report_config(console, out, t_start)
                write_json(args.out, rec.records)
        if outs:
            print_tables(console, outs)
            for line in goal_lines(outs, max(grid["batch"])):
                console.print(line)
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(f"total {time.perf_counter() - t_start:.1f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
