"""Triton (GPU) backend of the smoothed dynamic-programming knapsack / top-k (private).

Implements the kernel contract of the DP operator: :func:`forward`, :func:`hvp` and
:func:`sample` on validated, contiguous tensors, with the same signatures and results as the
pure torch reference ``subsel.ops._dp_kernels`` (see that module for the recursion, the
marginals, the Hessian-vector product and the sampler).  :func:`available` says whether this
backend can run on a device.

Launch, memory and occupancy
----------------------------
Every function is ONE kernel launch with grid ``(B,)``: program ``r`` owns batch row ``r`` and
runs the whole sweep over the ``n`` items inside the kernel.  The current table row (``width``
cells) is processed in column chunks of ``BLOCK`` lanes (``BLOCK = min(next_pow2(width),
1024)``).  Row ``i`` of the table is computed from row ``i - 1``, which is read back from global
memory (cells ``c`` and ``c - w_i``; the reverse sweeps also read ``c + w_i``); the rows a
program touches are its own, small and recently written, so they should be served from L1/L2
(unmeasured).  A ``tl.debug_barrier()`` (``bar.sync``, which also orders the CTA's global
memory accesses) separates writing a row from reading it shifted; the launches use
``num_stages=1`` so that no software pipelining moves a load across a barrier.  Small rows
(``BLOCK <= 128``) run one warp a program, so the barrier is cheap; ``BLOCK = 1024`` uses 8.

Memory (``K = ceil(n / seg)``, all per batch row, in theta's dtype unless said):

- ``forward``: the checkpoints ``ck`` (K, width) it returns (seg == 1: the whole table
  ``V_0 .. V_{n-1}``), a ping-pong pair of rows (2, width) for the rows that are not
  checkpoints, a pair (2, width) for the marginal adjoint ``E``, and for seg > 1 a block of
  ``seg`` rows (seg, width) recomputed from its checkpoint in the reverse sweep.
  Time O(n width) per row (2 sweeps, 3 with seg > 1).
- ``hvp``: the tangent checkpoints (K, width), two ping-pong pairs (V, T), two blocks (seg,
  width) (V, T) when seg > 1 and two ping-pong pairs for the adjoints ``A`` and ``Bt``.
  Time O(n width) per row (2 sweeps, 3 with seg > 1).
- ``sample``: a block (seg, width) when seg > 1 and the current capacity of every sample (S,)
  int64.  Time O(n width) per row for the block recomputation (seg > 1) plus O(n S).

What limits occupancy: only ``B`` programs exist, each one CTA of ``num_warps`` warps, and
each step of a program is a dependent chain (load row ``i - 1``, compute, store row ``i``,
barrier), so it is latency-bound.  With ``B`` below the number of SMs (132 on an H100), most
of the GPU idles.  To use it with a small ``B`` and a wide row, split the row's columns over
``P`` programs (grid ``(B, P)``), each owning a contiguous column range: because row ``i``
cell ``c`` reads only cells ``c`` and ``c - w_i`` of row ``i - 1`` (``c + w_i`` in the reverse),
a program needs ``max_i w_i`` halo cells from its left (right) neighbour per step, so the
programs of one row would have to synchronise once per item through a global-memory flag
(spin-wait on a per-row step counter, all ``P`` programs co-resident, e.g. a cooperative
launch).  That is not implemented: the backend runs ``B`` programs only.

Numerics
--------
Cells holding ``-inf`` never produce NaN: the difference ``D = b - a`` and every soft formula
are evaluated on finite stand-ins and the one-branch cases (``a`` or ``b`` infeasible) are
selected with ``tl.where`` afterwards.  All arithmetic is in theta's dtype (float32 or
float64); ``tau`` is passed as a one-element tensor of that dtype (a Python float argument
would be rounded to float32 by Triton).

Interpreter
-----------
The kernels are plain Python functions wrapped with ``triton.jit`` lazily, on the first call,
for the current value of ``TRITON_INTERPRET`` (one set of wrapped kernels per value, in its
own copy of this module's namespace): with ``TRITON_INTERPRET=1`` Triton's CPU interpreter
runs them on CPU tensors (slow, ~1e4 Triton ops a second; used by the tests on machines
without a GPU).  The kernels call only Triton builtins and their own jit functions (no
``tl.sum`` / ``tl.zeros``, which triton's standard library wraps when ``triton.language`` is
imported), so the flag may be set after triton was imported.
"""

from __future__ import annotations

import contextlib
import os
import types
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # the kernels' globals get the real modules when they are built
    import triton.language as tl

__all__ = ["available", "forward", "hvp", "sample"]

_MAX_BLOCK = 1024
_MAX_BLOCK_S = 256
_HARD = 3  # internal regulariser code for tau == 0 (0, 1, 2 = shannon, gini, tsallis)


# ---------------------------------------------------------------------------------------------
# Device code.  Plain functions; `_build` copies them into a namespace holding `tl` and wraps
# each with `triton.jit` (so the interpreter flag is read when they are first used).
# ---------------------------------------------------------------------------------------------


def _log1p(x):
    # log(1 + x) for x in [0, 1], accurate to a few ulp (Goldberg's trick; no libdevice).
    u = 1.0 + x
    d = u - 1.0
    return tl.where(d == 0.0, x, tl.log(u) * (x / tl.where(d == 0.0, 1.0, d)))


def _add(x, y):
    # Combine function of the row sums (tl.sum is a jit function of triton's standard library,
    # wrapped for the interpreter only when TRITON_INTERPRET was set before triton was
    # imported; the kernels use builtins and their own jit functions only).
    return x + y


def _cell(a, bp, th, tau, REG: tl.constexpr):
    # One cell of the recursion: a = V_{i-1}[c], bp = V_{i-1}[c - w_i] (-inf if c < w_i),
    # th = theta_i.  Returns (V_i[c], p_i[c], dp/dD), never NaN.
    a_ok = a > float("-inf")
    b_ok = bp > float("-inf")
    both = a_ok & b_ok
    a0 = tl.where(a_ok, a, 0.0)
    b0 = th + tl.where(b_ok, bp, 0.0)
    dd = tl.where(both, b0 - a0, 0.0)
    if REG == 3:  # hard max, ties skip the item
        p = tl.where(dd > 0.0, 1.0, 0.0).to(a0.dtype)
        v = tl.maximum(a0, b0)
        pd = a0 * 0.0  # a0 is finite
    elif REG == 0:  # shannon
        z = dd / tau
        e = tl.exp(-tl.abs(z))
        s = 1.0 / (1.0 + e)
        p = tl.where(z >= 0.0, s, e * s)
        v = tl.maximum(a0, b0) + tau * _log1p(e)
        pd = p * (1.0 - p) / tau
    elif REG == 1:  # gini
        p = tl.minimum(tl.maximum(0.5 + dd / (2.0 * tau), 0.0), 1.0)
        v = a0 + p * dd + tau * p * (1.0 - p)
        pd = tl.where((p > 0.0) & (p < 1.0), 0.5 / tau, 0.0)
    else:  # tsallis
        d = tl.minimum(tl.maximum(dd / (2.0 * tau), -1.0), 1.0)
        p = 0.5 * (1.0 + d * tl.sqrt(2.0 - d * d))
        q = 1.0 - p
        sp = tl.sqrt(p)
        sq = tl.sqrt(q)
        v = a0 + p * dd + (4.0 * tau / 3.0) * (1.0 - p * sp - q * sq)
        pd = tl.where((p > 0.0) & (p < 1.0), sp * sq / (tau * (sp + sq)), 0.0)
    v = tl.where(both, v, tl.where(a_ok, a0, tl.where(b_ok, b0, float("-inf"))))
    p = tl.where(both, p, tl.where(b_ok, 1.0, 0.0))
    pd = tl.where(both, pd, 0.0)
    return v, p, pd


def _row_ptr(i, n, seg, ck_r, work_r, width):
    # Where row i of a forward sweep lives: its checkpoint slot when i % seg == 0 (and i < n),
    # else the ping-pong slot i % 2 of the scratch pair.
    if ((i % seg) == 0) & (i < n):
        ptr = ck_r + (i // seg) * width
    else:
        ptr = work_r + (i % 2) * width
    return ptr


def _blk_ptr(t, ck_row, blk_r, width):
    # Row t of a recomputed block: the checkpoint itself for t == 0, else the block scratch.
    if t == 0:
        ptr = ck_row
    else:
        ptr = blk_r + t * width
    return ptr


def _v_step(src, dst, th, wi, tau, width, REG: tl.constexpr, BLOCK: tl.constexpr):
    # dst = row V_i computed from src = row V_{i-1}.
    for c0 in range(0, width, BLOCK):
        cols = c0 + tl.arange(0, BLOCK)
        m = cols < width
        a = tl.load(src + cols, mask=m, other=float("-inf"))
        bp = tl.load(src + cols - wi, mask=m & (cols >= wi), other=float("-inf"))
        v, p, pd = _cell(a, bp, th, tau, REG)
        tl.store(dst + cols, v, mask=m)


def _vt_step(
    vsrc,
    vdst,
    tsrc,
    tdst,
    th,
    gi,
    wi,
    tau,
    width,
    DO_V: tl.constexpr,
    REG: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # Tangent row T_i from (V_{i-1}, T_{i-1}); with DO_V also the row V_i.
    for c0 in range(0, width, BLOCK):
        cols = c0 + tl.arange(0, BLOCK)
        m = cols < width
        mb = m & (cols >= wi)
        a = tl.load(vsrc + cols, mask=m, other=float("-inf"))
        bp = tl.load(vsrc + cols - wi, mask=mb, other=float("-inf"))
        v, p, pd = _cell(a, bp, th, tau, REG)
        ta = tl.load(tsrc + cols, mask=m, other=0.0)
        tb = gi + tl.load(tsrc + cols - wi, mask=mb, other=0.0)
        tl.store(tdst + cols, ta + p * (tb - ta), mask=m)
        if DO_V:
            tl.store(vdst + cols, v, mask=m)


def _init_row(dst, width, EXACT: tl.constexpr, BLOCK: tl.constexpr):
    # V_0: exact_k -> [0, -inf, ...]; knapsack -> zeros.
    for c0 in range(0, width, BLOCK):
        cols = c0 + tl.arange(0, BLOCK)
        z = tl.full([BLOCK], 0, dst.dtype.element_ty)
        if EXACT:
            z = tl.where(cols == 0, z, float("-inf"))
        tl.store(dst + cols, z, mask=cols < width)


def _fill(dst, val, width, BLOCK: tl.constexpr):
    for c0 in range(0, width, BLOCK):
        cols = c0 + tl.arange(0, BLOCK)
        tl.store(dst + cols, tl.full([BLOCK], 0, dst.dtype.element_ty) + val, mask=cols < width)


def _one_hot(dst, at, width, BLOCK: tl.constexpr):
    for c0 in range(0, width, BLOCK):
        cols = c0 + tl.arange(0, BLOCK)
        z = tl.full([BLOCK], 0, dst.dtype.element_ty)
        tl.store(dst + cols, tl.where(cols == at, 1.0, z), mask=cols < width)


def _recompute_block(
    ck_row,
    blk_r,
    th_row,
    w_row,
    start,
    length,
    tau,
    width,
    REG: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # Rows t = 1 .. length-1 of the block starting at item `start` (row t = V_{start+t}).
    for t in range(1, length):
        th = tl.load(th_row + start + t - 1)
        wi = tl.load(w_row + start + t - 1)
        _v_step(
            _blk_ptr(t - 1, ck_row, blk_r, width), blk_r + t * width, th, wi, tau, width, REG, BLOCK
        )
        tl.debug_barrier()


def _forward_kernel(
    theta,
    w,
    cap,
    tau_ptr,
    value,
    y,
    ck,
    work,
    blk,
    epair,
    n,
    width,
    seg,
    n_ck,
    EXACT: tl.constexpr,
    REG: tl.constexpr,
    BLOCK: tl.constexpr,
):
    r = tl.program_id(0).to(tl.int64)
    tau = tl.load(tau_ptr)
    th_row = theta + r * n
    w_row = w + r * n
    ck_r = ck + r * n_ck * width
    work_r = work + r * 2 * width
    blk_r = blk + r * seg * width
    e_r = epair + r * 2 * width
    # ---- forward sweep V_0 .. V_n
    _init_row(ck_r, width, EXACT, BLOCK)
    tl.debug_barrier()
    th = tl.load(th_row)
    wi = tl.load(w_row)
    for i in range(1, n + 1):
        nx = tl.minimum(i, n - 1)  # prefetch the next item's scalars (off the critical path)
        th_nx = tl.load(th_row + nx)
        wi_nx = tl.load(w_row + nx)
        src = _row_ptr(i - 1, n, seg, ck_r, work_r, width)
        dst = _row_ptr(i, n, seg, ck_r, work_r, width)
        _v_step(src, dst, th, wi, tau, width, REG, BLOCK)
        tl.debug_barrier()
        th = th_nx
        wi = wi_nx
    cr = tl.load(cap + r)
    tl.store(value + r, tl.load(_row_ptr(n, n, seg, ck_r, work_r, width) + cr))
    # ---- reverse sweep: E_n = one-hot(cap); y_i = <E_i, p_i>; E_{i-1} pulled from E_i
    _one_hot(e_r + (n % 2) * width, cr, width, BLOCK)
    tl.debug_barrier()
    for jj in range(0, n_ck):
        j = n_ck - 1 - jj
        start = j * seg
        length = tl.minimum(seg, n - start)
        ck_row = ck_r + j * width
        _recompute_block(ck_row, blk_r, th_row, w_row, start, length, tau, width, REG, BLOCK)
        th = tl.load(th_row + start + length - 1)
        wi = tl.load(w_row + start + length - 1)
        for tt in range(0, length):
            t = length - 1 - tt
            i = start + t + 1
            nx = tl.maximum(i - 2, 0)  # prefetch item i - 1
            th_nx = tl.load(th_row + nx)
            wi_nx = tl.load(w_row + nx)
            vrow = _blk_ptr(t, ck_row, blk_r, width)
            e_in = e_r + (i % 2) * width
            e_out = e_r + ((i - 1) % 2) * width
            acc = tl.full([BLOCK], 0, y.dtype.element_ty)
            for c0 in range(0, width, BLOCK):
                cols = c0 + tl.arange(0, BLOCK)
                m = cols < width
                mw = (cols + wi) < width
                a = tl.load(vrow + cols, mask=m, other=float("-inf"))
                bp = tl.load(vrow + cols - wi, mask=m & (cols >= wi), other=float("-inf"))
                aw = tl.load(vrow + cols + wi, mask=mw, other=float("-inf"))
                _v, p, _pd = _cell(a, bp, th, tau, REG)
                _vw, pw, _pdw = _cell(aw, a, th, tau, REG)
                e = tl.load(e_in + cols, mask=m, other=0.0)
                ew = tl.load(e_in + cols + wi, mask=mw, other=0.0)
                acc += e * p
                tl.store(e_out + cols, e * (1.0 - p) + ew * pw, mask=m)
            tl.store(y + r * n + i - 1, tl.reduce(acc, 0, _add))
            tl.debug_barrier()
            th = th_nx
            wi = wi_nx


def _hvp_kernel(
    theta,
    w,
    cap,
    tau_ptr,
    ck,
    g,
    out,
    tck,
    vwork,
    twork,
    vblk,
    tblk,
    apair,
    bpair,
    n,
    width,
    seg,
    n_ck,
    REG: tl.constexpr,
    SEG_ONE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    r = tl.program_id(0).to(tl.int64)
    tau = tl.load(tau_ptr)
    th_row = theta + r * n
    w_row = w + r * n
    g_row = g + r * n
    ck_r = ck + r * n_ck * width
    tck_r = tck + r * n_ck * width
    vwork_r = vwork + r * 2 * width
    twork_r = twork + r * 2 * width
    vblk_r = vblk + r * seg * width
    tblk_r = tblk + r * seg * width
    a_r = apair + r * 2 * width
    b_r = bpair + r * 2 * width
    # ---- tangent forward T_0 = 0 .. T_{n-1} (checkpointed like V); V recomputed if seg > 1
    _fill(tck_r, 0.0, width, BLOCK)
    tl.debug_barrier()
    th = tl.load(th_row)
    wi = tl.load(w_row)
    gi = tl.load(g_row)
    for i in range(1, n):
        nx = tl.minimum(i, n - 1)  # prefetch item i + 1
        th_nx = tl.load(th_row + nx)
        wi_nx = tl.load(w_row + nx)
        gi_nx = tl.load(g_row + nx)
        vsrc = _row_ptr(i - 1, n, seg, ck_r, vwork_r, width)
        tsrc = _row_ptr(i - 1, n, seg, tck_r, twork_r, width)
        tdst = _row_ptr(i, n, seg, tck_r, twork_r, width)
        if SEG_ONE:  # V_i is the stored row ck[i]
            _vt_step(vsrc, vwork_r, tsrc, tdst, th, gi, wi, tau, width, False, REG, BLOCK)
        else:  # V_i recomputed into the ping-pong pair (a checkpoint row is also in ck)
            _vt_step(
                vsrc,
                vwork_r + (i % 2) * width,
                tsrc,
                tdst,
                th,
                gi,
                wi,
                tau,
                width,
                True,
                REG,
                BLOCK,
            )
        tl.debug_barrier()
        th = th_nx
        wi = wi_nx
        gi = gi_nx
    # ---- reverse: A_n = 0, Bt_n = one-hot(cap)
    cr = tl.load(cap + r)
    _fill(a_r + (n % 2) * width, 0.0, width, BLOCK)
    _one_hot(b_r + (n % 2) * width, cr, width, BLOCK)
    tl.debug_barrier()
    for jj in range(0, n_ck):
        j = n_ck - 1 - jj
        start = j * seg
        length = tl.minimum(seg, n - start)
        ck_row = ck_r + j * width
        tck_row = tck_r + j * width
        for t in range(1, length):  # recompute V and T rows of the block
            th = tl.load(th_row + start + t - 1)
            wi = tl.load(w_row + start + t - 1)
            gi = tl.load(g_row + start + t - 1)
            _vt_step(
                _blk_ptr(t - 1, ck_row, vblk_r, width),
                vblk_r + t * width,
                _blk_ptr(t - 1, tck_row, tblk_r, width),
                tblk_r + t * width,
                th,
                gi,
                wi,
                tau,
                width,
                True,
                REG,
                BLOCK,
            )
            tl.debug_barrier()
        th = tl.load(th_row + start + length - 1)
        wi = tl.load(w_row + start + length - 1)
        gi = tl.load(g_row + start + length - 1)
        for tt in range(0, length):
            t = length - 1 - tt
            i = start + t + 1
            nx = tl.maximum(i - 2, 0)  # prefetch item i - 1
            th_nx = tl.load(th_row + nx)
            wi_nx = tl.load(w_row + nx)
            gi_nx = tl.load(g_row + nx)
            vrow = _blk_ptr(t, ck_row, vblk_r, width)
            trow = _blk_ptr(t, tck_row, tblk_r, width)
            a_in = a_r + (i % 2) * width
            a_out = a_r + ((i - 1) % 2) * width
            b_in = b_r + (i % 2) * width
            b_out = b_r + ((i - 1) % 2) * width
            acc = tl.full([BLOCK], 0, out.dtype.element_ty)
            for c0 in range(0, width, BLOCK):
                cols = c0 + tl.arange(0, BLOCK)
                m = cols < width
                mb = m & (cols >= wi)
                mw = (cols + wi) < width
                va = tl.load(vrow + cols, mask=m, other=float("-inf"))
                vb = tl.load(vrow + cols - wi, mask=mb, other=float("-inf"))
                vw = tl.load(vrow + cols + wi, mask=mw, other=float("-inf"))
                ta = tl.load(trow + cols, mask=m, other=0.0)
                tb = gi + tl.load(trow + cols - wi, mask=mb, other=0.0)
                tw = tl.load(trow + cols + wi, mask=mw, other=0.0)
                _v, p, pd = _cell(va, vb, th, tau, REG)
                _vw, pw, pdw = _cell(vw, va, th, tau, REG)
                a_c = tl.load(a_in + cols, mask=m, other=0.0)
                a_w = tl.load(a_in + cols + wi, mask=mw, other=0.0)
                b_c = tl.load(b_in + cols, mask=m, other=0.0)
                b_w = tl.load(b_in + cols + wi, mask=mw, other=0.0)
                dbar = b_c * pd * (tb - ta)
                tk = a_c * p + dbar
                dbar_w = b_w * pdw * (gi + ta - tw)
                tk_w = a_w * pw + dbar_w
                acc += tk
                tl.store(a_out + cols, a_c * (1.0 - p) - dbar + tk_w, mask=m)
                tl.store(b_out + cols, b_c * (1.0 - p) + b_w * pw, mask=m)
            tl.store(out + r * n + i - 1, tl.reduce(acc, 0, _add))
            tl.debug_barrier()
            th = th_nx
            wi = wi_nx
            gi = gi_nx


def _sample_kernel(
    theta,
    w,
    cap,
    tau_ptr,
    ck,
    u,
    out,
    blk,
    cur,
    n,
    width,
    seg,
    n_ck,
    n_samples,
    n_rows,
    REG: tl.constexpr,
    BLOCK: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    r = tl.program_id(0).to(tl.int64)
    tau = tl.load(tau_ptr)
    th_row = theta + r * n
    w_row = w + r * n
    ck_r = ck + r * n_ck * width
    blk_r = blk + r * seg * width
    cur_r = cur + r * n_samples
    cr = tl.load(cap + r)
    for s0 in range(0, n_samples, BLOCK_S):
        ss = s0 + tl.arange(0, BLOCK_S)
        tl.store(cur_r + ss, tl.full([BLOCK_S], 0, tl.int64) + cr, mask=ss < n_samples)
    tl.debug_barrier()
    stride_s = n_rows * n
    for jj in range(0, n_ck):
        j = n_ck - 1 - jj
        start = j * seg
        length = tl.minimum(seg, n - start)
        ck_row = ck_r + j * width
        _recompute_block(ck_row, blk_r, th_row, w_row, start, length, tau, width, REG, BLOCK)
        for s0 in range(0, n_samples, BLOCK_S):
            ss = s0 + tl.arange(0, BLOCK_S)
            ms = ss < n_samples
            s_off = ss.to(tl.int64) * stride_s + r * n
            c = tl.load(cur_r + ss, mask=ms, other=0)
            for tt in range(0, length):
                t = length - 1 - tt
                i = start + t + 1
                th = tl.load(th_row + i - 1)
                wi = tl.load(w_row + i - 1)
                vrow = _blk_ptr(t, ck_row, blk_r, width)
                can = c >= wi
                a = tl.load(vrow + c, mask=ms, other=float("-inf"))
                bp = tl.load(vrow + c - wi, mask=ms & can, other=float("-inf"))
                _v, p, _pd = _cell(a, bp, th, tau, REG)
                uu = tl.load(u + s_off + i - 1, mask=ms, other=1.0)
                take = can & (uu < p) & ms
                tl.store(out + s_off + i - 1, tl.where(take, 1.0, 0.0), mask=ms)
                c = tl.where(take, c - wi, c)
            tl.store(cur_r + ss, c, mask=ms)
        tl.debug_barrier()


_DEVICE_FNS = (
    "_add",
    "_log1p",
    "_cell",
    "_row_ptr",
    "_blk_ptr",
    "_v_step",
    "_vt_step",
    "_init_row",
    "_fill",
    "_one_hot",
    "_recompute_block",
)
_KERNELS = ("_forward_kernel", "_hvp_kernel", "_sample_kernel")
_BUILT: dict[bool, types.SimpleNamespace] = {}


def _interpret() -> bool:
    try:
        import triton

        return bool(triton.knobs.runtime.interpret)
    except (ImportError, AttributeError):  # pragma: no cover - old triton
        return os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "on", "yes")


def _build() -> types.SimpleNamespace:
    """The jitted kernels for the current ``TRITON_INTERPRET`` value (built once per value)."""
    mode = _interpret()
    if mode not in _BUILT:
        import triton
        import triton.language as tl_mod

        scope = dict(globals())
        scope["tl"] = tl_mod
        scope["triton"] = triton
        ns = {}
        for name in _DEVICE_FNS + _KERNELS:
            fn = globals()[name]
            copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__)
            copy.__qualname__ = fn.__qualname__
            copy.__module__ = fn.__module__
            copy.__annotations__ = dict(fn.__annotations__)
            jitted = triton.jit(copy)
            scope[name] = jitted
            ns[name.strip("_")] = jitted
        _BUILT[mode] = types.SimpleNamespace(**ns)
    return _BUILT[mode]


# ---------------------------------------------------------------------------------------------
# Host wrappers
# ---------------------------------------------------------------------------------------------


def available(device=None) -> bool:
    """Whether this backend can run on ``device``.

    Parameters
    ----------
    device : torch.device or str or None
        The tensors' device (``None``: the default CUDA device).

    Returns
    -------
    bool
        True when triton imports and either the device is CUDA (and CUDA is available) or
        ``TRITON_INTERPRET=1`` is set (then Triton's CPU interpreter runs the kernels, on CPU
        or CUDA tensors).
    """
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    if _interpret():
        return True
    dev = torch.device("cuda" if device is None else device)
    return dev.type == "cuda" and torch.cuda.is_available()


def _reg_code(reg: int, tau: float) -> int:
    if tau == 0.0:
        return _HARD
    if reg not in (0, 1, 2):
        raise ValueError(f"reg must be 0, 1 or 2, got {reg}")
    return int(reg)


def _block(width: int, block: int | None) -> int:
    if block is None:
        block = min(_next_pow2(width), _MAX_BLOCK)
    return max(int(block), 2)


def _next_pow2(x: int) -> int:
    return 1 << max(int(x) - 1, 0).bit_length()


def _num_warps(block: int) -> int:
    return max(1, min(8, block // 128))


def _tau_tensor(tau: float, like: torch.Tensor) -> torch.Tensor:
    return torch.full((1,), float(tau), dtype=like.dtype, device=like.device)


def _on_device(t: torch.Tensor):
    """Launch on ``t``'s GPU (Triton launches on the current CUDA device)."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _empty(like, *shape):
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def forward(
    theta,
    w,
    cap,
    *,
    exact_k: bool,
    reg: int,
    tau: float,
    seg: int,
    width: int,
    block: int | None = None,
):
    """Forward sweep and marginals, one kernel launch (grid ``(B,)``).

    Parameters
    ----------
    theta : torch.Tensor
        (B, n) float32 or float64, item values.
    w : torch.Tensor
        (B, n) int64 >= 0, item weights.
    cap : torch.Tensor
        (B,) int64 in ``[0, width - 1]``, per-row capacity.
    exact_k : bool
        Exact capacity (``<w, S> == cap``; top-k with unit weights) or knapsack (``<=``).
    reg : int
        0 shannon, 1 gini, 2 tsallis (ignored when ``tau == 0``).
    tau : float
        Temperature >= 0; 0 is the hard max.
    seg : int
        Checkpoint spacing >= 1 (1 stores the whole table).
    width : int
        Number of table columns (capacities ``0 .. width - 1``).
    block : int, optional
        Column chunk (power of two); default ``min(next_pow2(width), 1024)``.

    Returns
    -------
    value : torch.Tensor
        (B,) ``V_n[cap]``.
    y : torch.Tensor
        (B, n) marginals ``d value / d theta``.
    ck : torch.Tensor
        (B, K, width), ``K = ceil(n / seg)``, ``ck[:, j] = V_{j seg}``.

    Notes
    -----
    Time O(B n width) (O(1.5 B n width) more with ``seg > 1`` for the block recomputation);
    memory O(B width (K + seg)).
    """
    bsz, n = theta.shape
    seg = min(max(int(seg), 1), max(n, 1))  # seg >= n: one block (same K = 1)
    n_ck = -(-n // seg)
    value = _empty(theta, bsz)
    y = torch.zeros_like(theta)
    ck = _empty(theta, bsz, n_ck, width)
    if bsz == 0:
        return value, y, ck
    if n == 0:
        if exact_k:
            value = torch.where(cap == 0, 0.0, float("-inf")).to(theta.dtype)
        else:
            value.zero_()
        return value, y, ck
    blk = _empty(theta, bsz, seg, width) if seg > 1 else _empty(theta, 1)
    blk_size = _block(width, block)
    k = _build()
    with _on_device(theta):
        k.forward_kernel[(bsz,)](
            theta,
            w,
            cap,
            _tau_tensor(tau, theta),
            value,
            y,
            ck,
            _empty(theta, bsz, 2, width),
            blk,
            _empty(theta, bsz, 2, width),
            n,
            width,
            seg,
            n_ck,
            EXACT=bool(exact_k),
            REG=_reg_code(reg, tau),
            BLOCK=blk_size,
            num_warps=_num_warps(blk_size),
            num_stages=1,
        )
    return value, y, ck


def hvp(
    theta,
    w,
    cap,
    ck,
    g,
    *,
    exact_k: bool,
    reg: int,
    tau: float,
    seg: int,
    width: int,
    block: int | None = None,
):
    """Hessian-vector product ``J^T g`` with ``J = dy / dtheta``, one kernel launch.

    Parameters
    ----------
    theta, w, cap, exact_k, reg, tau, seg, width, block
        As in :func:`forward` (``exact_k`` only shaped ``ck``; it is not used here).
    ck : torch.Tensor
        (B, K, width) checkpoints returned by :func:`forward` with the same arguments.
    g : torch.Tensor
        (B, n) upstream gradient with respect to ``y``.

    Returns
    -------
    torch.Tensor
        (B, n) ``J^T g`` (zero when ``tau == 0``).

    Notes
    -----
    Tangent-forward sweep then a reverse sweep with two adjoints.  Time O(B n width) (plus a
    recomputation sweep when ``seg > 1``); memory O(B width (K + seg)) scratch.
    """
    bsz, n = theta.shape
    out = torch.zeros_like(theta)
    if bsz == 0 or n == 0 or tau == 0.0:
        return out
    seg = min(max(int(seg), 1), n)
    n_ck = -(-n // seg)
    g = g.to(theta.dtype).contiguous()
    seg_one = seg == 1
    small = _empty(theta, 1)
    vblk = _empty(theta, bsz, seg, width) if not seg_one else small
    tblk = _empty(theta, bsz, seg, width) if not seg_one else small
    blk_size = _block(width, block)
    k = _build()
    with _on_device(theta):
        k.hvp_kernel[(bsz,)](
            theta,
            w,
            cap,
            _tau_tensor(tau, theta),
            ck,
            g,
            out,
            _empty(theta, bsz, n_ck, width),
            _empty(theta, bsz, 2, width),
            _empty(theta, bsz, 2, width),
            vblk,
            tblk,
            _empty(theta, bsz, 2, width),
            _empty(theta, bsz, 2, width),
            n,
            width,
            seg,
            n_ck,
            REG=_reg_code(reg, tau),
            SEG_ONE=seg_one,
            BLOCK=blk_size,
            num_warps=_num_warps(blk_size),
            num_stages=1,
        )
    return out


def sample(
    theta,
    w,
    cap,
    ck,
    u,
    *,
    exact_k: bool,
    reg: int,
    tau: float,
    seg: int,
    width: int,
    block: int | None = None,
):
    """Ancestral samples through the table, one kernel launch (grid ``(B,)``).

    Parameters
    ----------
    theta, w, cap, exact_k, reg, tau, seg, width, block
        As in :func:`forward`.
    ck : torch.Tensor
        (B, K, width) checkpoints returned by :func:`forward`.
    u : torch.Tensor
        (S, B, n) uniforms in [0, 1) drawn by the caller.

    Returns
    -------
    torch.Tensor
        (S, B, n) 0/1 samples in theta's dtype: for ``i = n .. 1`` item ``i`` is taken when
        ``c >= w_i`` and ``u < p_i[c]``, then ``c -= w_i`` (``c`` starts at ``cap``).

    Notes
    -----
    Each program handles all ``S`` samples of its row in chunks of up to 256 lanes (gathers
    from the table row).  Time O(B n (S + width)) (the width term only when ``seg > 1``);
    memory O(B (seg width + S)) scratch.
    """
    n_samples = u.shape[0]
    bsz, n = theta.shape
    out = torch.zeros((n_samples, bsz, n), dtype=theta.dtype, device=theta.device)
    if bsz == 0 or n == 0 or n_samples == 0:
        return out
    seg = min(max(int(seg), 1), n)
    n_ck = -(-n // seg)
    u = u.to(theta.dtype).contiguous()
    blk = _empty(theta, bsz, seg, width) if seg > 1 else _empty(theta, 1)
    cur = torch.empty((bsz, n_samples), dtype=torch.int64, device=theta.device)
    blk_size = _block(width, block)
    block_s = min(_next_pow2(n_samples), _MAX_BLOCK_S)
    k = _build()
    with _on_device(theta):
        k.sample_kernel[(bsz,)](
            theta,
            w,
            cap,
            _tau_tensor(tau, theta),
            ck,
            u,
            out,
            blk,
            cur,
            n,
            width,
            seg,
            n_ck,
            n_samples,
            bsz,
            REG=_reg_code(reg, tau),
            BLOCK=blk_size,
            BLOCK_S=max(block_s, 2),
            num_warps=_num_warps(max(blk_size, block_s)),
            num_stages=1,
        )
    return out
