"""CPU Numba backend of the smoothed dynamic-programming knapsack / top-k kernels (private).

Implements the kernel contract of :mod:`subsel.ops._dp_kernels` (``forward``, ``hvp``,
``sample``) with one fused ``numba.njit(parallel=True)`` kernel per function and ``prange`` over
the batch rows: each row runs its whole DP (all ``n`` items, all ``width`` capacities) inside
the kernel. Inputs are already validated contiguous torch CPU tensors; they are read through
zero-copy ``.numpy()`` views and the outputs are returned with ``torch.from_numpy``.

The table (for item ``i`` and capacity ``c``, ``a = V[i-1, c]``, ``b = theta_i +
V[i-1, c - w_i]``)::

    V[i, c] = smax_tau(a, b),   p[i, c] = d V[i, c] / d b   (probability of taking item i)

with ``smax`` the hard max (``tau == 0``) or its Shannon, Gini or Tsallis-1.5 smoothing. Only
rows of ``V`` are ever stored (the checkpoints ``ck``); ``p`` and its derivative are recomputed
from ``V[i-1]`` in every reverse sweep, so no probability table exists. With ``seg > 1`` only
every ``seg``-th row is kept and each block of ``seg`` rows is recomputed from its checkpoint
before the reverse sweep walks it (memory ``O(B * width * (n / seg + seg))``).

Speed: each row update is a loop over ``c`` with contiguous loads and stores (the take branch
``V[i-1, c - w_i]`` is read through a view shifted by ``w_i``, so there is no negative-index
wraparound), no calls and no regulariser branch, so LLVM vectorises it (AVX2 / AVX-512 where the
CPU has them). The regulariser is fixed at compile time: the row functions are generated from
source templates, one per regulariser, and the parallel kernel picks one per call. ``exp`` and
``log1p`` are branch-free polynomials (accurate to a few ulp on the arguments that occur: ``exp``
of a non-positive number, ``log1p`` on ``[0, 1]``) because libm calls block vectorisation. All
arithmetic runs in float64; rows are stored in theta's dtype, so a row recomputed from a
checkpoint is bit-identical to the one the forward sweep produced. Reductions over ``c`` may be
re-associated (vectorised), so results can differ from a sequential sum in the last bits.

Compilation: three parallel kernels (forward, hvp, sample) per float dtype, each holding the row
functions of every regulariser; the first call of each compiles it (several seconds), after that
it loads from numba's on-disk cache (``cache=True``, in ``__pycache__`` next to this file).

``-inf`` cells (infeasible capacities) never produce NaN: ``exp`` clamps its argument (NaN
included) to ``-745.5`` and returns 0 there, and the Gini / Tsallis values select the finite
branch when one branch is ``-inf``. Tsallis ``dp/dD`` is computed as
``(1 - d^2) / (2 tau sqrt(2 - d^2))``, equal to the contract's
``sqrt(p (1 - p)) / (tau (sqrt p + sqrt(1 - p)))`` but without its cancellation near ``p = 0``.

Complexity (per call): time ``O(B * n * width)`` for ``forward`` (three sweeps when ``seg > 1``:
forward, block recomputation, reverse; two when ``seg == 1``), ``O(B * n * width)`` for ``hvp``
(tangent forward sweep and reverse sweep, plus recomputations when ``seg > 1``) and
``O(B * n * (S + width))`` for ``sample``; memory ``O(B * width * (n / seg))`` for ``ck`` plus
``O(threads * width * (n / seg + seg))`` of scratch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:  # numba is optional: the dispatcher falls back to the pure torch kernels without it
    from llvmlite import ir as _ir
    from numba import get_num_threads, njit, prange, set_num_threads
    from numba.core import types as _types
    from numba.extending import intrinsic

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _HAVE_NUMBA = False

__all__ = ["available", "forward", "hvp", "sample"]

_NEG_INF = -math.inf
# mode codes used inside the kernels (reg codes 0, 1, 2 of the contract; tau == 0 -> hard)
_SHANNON, _GINI, _TSALLIS, _HARD = 0, 1, 2, 3


def available() -> bool:
    """Whether numba can be imported (and so this backend can run)."""
    return _HAVE_NUMBA


if _HAVE_NUMBA:

    @intrinsic
    def _bits_to_f64(typingctx, x):
        """Reinterpret the bits of an int64 as a float64 (an LLVM ``bitcast``)."""
        if not isinstance(x, _types.Integer):
            return None
        sig = _types.float64(_types.int64)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], _ir.DoubleType())

        return sig, codegen

    @njit(fastmath={"reassoc", "contract"}, error_model="numpy")
    def _sum(x, lo, hi):
        """``sum(x[lo:hi])`` (re-association allowed so the reduction vectorises)."""
        s = 0.0
        for c in range(lo, hi):
            s += x[c]
        return s


# ---------------------------------------------------------------------- code generation
# The row functions are written once as source text and instantiated per regulariser: ``MODE``
# is replaced by its name and the ``#CELL`` lines by its cell code (below; ``#VSTEP`` etc. by
# the shared row-step code). So the regulariser is fixed at compile time (no branch in the
# c-loops) and the cell code needs no inlining pass (numba's IR inliner is slow, and LLVM does not
# inline calls this large or a jitted function passed as an argument, which would also be a
# run-time constant that disables caching). The three parallel kernels call the row function of
# the requested regulariser. The text is compiled with this file as its file name so that
# ``cache=True`` works. Row functions have no Python wrappers (they are only called by the
# kernels), and all cell variables start with ``z_``.

# exp(z_x) for z_x <= 0 (NaN and arguments below -708 give 0), branch-free: Cody-Waite reduction
# z_x = k ln2 + r, |r| <= ln2 / 2, the degree-13 Taylor polynomial of exp(r) (truncation error
# < 1e-17 relative) and 2**k built from its bits. About 2 ulp. Result in z_e.
_EXP_CODE = """
z_x = z_x if z_x > -745.5 else -745.5  # NaN -> -745.5
z_kf = np.floor(z_x * 1.4426950408889634 + 0.5)
z_r = (z_x - z_kf * 6.93147180369123816490e-01) - z_kf * 1.90821492927058770002e-10
z_q = 1.6059043836821613e-10 * z_r + 2.08767569878681e-09
z_q = z_q * z_r + 2.505210838544172e-08
z_q = z_q * z_r + 2.755731922398589e-07
z_q = z_q * z_r + 2.7557319223985893e-06
z_q = z_q * z_r + 2.48015873015873e-05
z_q = z_q * z_r + 0.0001984126984126984
z_q = z_q * z_r + 0.001388888888888889
z_q = z_q * z_r + 0.008333333333333333
z_q = z_q * z_r + 0.041666666666666664
z_q = z_q * z_r + 0.16666666666666666
z_q = z_q * z_r + 0.5
z_q = z_q * z_r + 1.0
z_q = z_q * z_r + 1.0
z_e = z_q * _bits_to_f64((np.int64(z_kf) + 1023) << 52)
z_e = z_e if z_kf >= -1022.0 else 0.0
"""

# log1p(z_e) for z_e in [0, 1], branch-free: log(1 + e) = k ln2 + 2 atanh(s) with
# s = e / (2 + e) (k = 0) for e <= sqrt(2) - 1 and s = (e - 1) / (e + 3) (k = 1) above, so
# |s| <= 0.1716; the atanh series is summed to s**21 (truncation error < 1e-17 relative). A few
# ulp. Result in z_l.
_LOG1P_CODE = """
z_big = z_e > 0.41421356237309503
z_s = (z_e - 1.0 if z_big else z_e) / (z_e + 3.0 if z_big else z_e + 2.0)
z_z = z_s * z_s
z_q = 0.09523809523809523 * z_z + 0.10526315789473684
z_q = z_q * z_z + 0.11764705882352941
z_q = z_q * z_z + 0.13333333333333333
z_q = z_q * z_z + 0.15384615384615385
z_q = z_q * z_z + 0.18181818181818182
z_q = z_q * z_z + 0.2222222222222222
z_q = z_q * z_z + 0.2857142857142857
z_q = z_q * z_z + 0.4
z_q = z_q * z_z + 0.6666666666666666
z_l = 2.0 * z_s + z_s * z_z * z_q
z_l = z_l + 0.6931471805599453 if z_big else z_l
"""

# One cell: from a = V_{i-1}[c] and b = theta_i + V_{i-1}[c - w_i] (either may be -inf), the
# value z_v = V_i[c], the take probability z_p and z_pd = dp/dD (D = b - a). Outputs that a loop
# does not use are removed by LLVM.
_CELL_CODE = {
    "shannon": """
z_ge = a >= b  # both -inf -> True -> p = 0
z_hi = a if z_ge else b
z_x = ((b if z_ge else a) - z_hi) * inv_tau  # -|D| / tau; one -inf -> -inf; both -> NaN
"""
    + _EXP_CODE
    + _LOG1P_CODE
    + """
z_v = z_hi + tau * z_l
z_p = (z_e if z_ge else 1.0) / (1.0 + z_e)
z_pd = z_p * (1.0 - z_p) * inv_tau
""",
    "gini": """
z_d = b - a
z_p = 0.5 + z_d * (0.5 * inv_tau)
z_p = z_p if z_p > 0.0 else 0.0  # NaN (both -inf) -> 0
z_p = z_p if z_p < 1.0 else 1.0
z_v = a + z_p * z_d + tau * z_p * (1.0 - z_p)
z_v = b if a == -np.inf else (a if b == -np.inf else z_v)
z_pd = 0.5 * inv_tau if (z_p > 0.0 and z_p < 1.0) else 0.0
""",
    "tsallis": """
z_d = b - a
z_s = z_d * (0.5 * inv_tau)
z_s = z_s if z_s > -1.0 else -1.0  # NaN (both -inf) -> -1 -> p = 0
z_s = z_s if z_s < 1.0 else 1.0
z_sq = np.sqrt(2.0 - z_s * z_s)
z_p = 0.5 + 0.5 * z_s * z_sq
z_p = z_p if z_p > 0.0 else 0.0
z_p = z_p if z_p < 1.0 else 1.0
z_q = 1.0 - z_p
z_v = a + z_p * z_d + (4.0 / 3.0) * tau * (1.0 - z_p * np.sqrt(z_p) - z_q * np.sqrt(z_q))
z_v = b if a == -np.inf else (a if b == -np.inf else z_v)
# dp/dD = sqrt(p q) / (tau (sqrt p + sqrt q)) = (1 - s^2) / (2 tau sqrt(2 - s^2))
z_pd = (1.0 - z_s * z_s) * (0.5 * inv_tau) / z_sq
""",
    "hard": """
z_t = b > a  # ties (and both -inf) skip
z_v = b if z_t else a
z_p = 1.0 if z_t else 0.0
z_pd = 0.0
""",
}

# exp / log1p alone (for the tests of their accuracy)
_MATH_SOURCE = """
@njit(error_model="numpy")
def _exp_neg(z_x):
    #EXP
    return z_e


@njit(error_model="numpy")
def _log1p_unit(z_e):
    #LOG1P
    return z_l
"""


# V step: row ``dst`` = V_i from ``src`` = V_{i-1} (th = theta_i, w = w_i). The take branch is
# read through views indexed from 0 (no negative-index wraparound, so the loop vectorises).
_VSTEP_CODE = """
m = w if w < width else width
L0 = width - m
for c in range(m):
    dst[c] = src[c]
sa = src[m:]
sb = src[:L0]
dd = dst[m:]
for k in range(L0):
    a = np.float64(sa[k])
    b = th + np.float64(sb[k])
    #CELL
    dd[k] = z_v
"""

# V and tangent T step together (one cell evaluation): vs, ts -> vd, td (gi = g_i)
_VTSTEP_CODE = """
m = w if w < width else width
L0 = width - m
for c in range(m):
    vd[c] = vs[c]
    td[c] = ts[c]
sa = vs[m:]
sb = vs[:L0]
ta_ = ts[m:]
tb_ = ts[:L0]
vdh = vd[m:]
tdh = td[m:]
for k in range(L0):
    a = np.float64(sa[k])
    b = th + np.float64(sb[k])
    #CELL
    vdh[k] = z_v
    tdh[k] = ta_[k] + z_p * (gi + tb_[k] - ta_[k])
"""

# tangent step alone (V_{i-1} = vs known, V_i not needed): ts -> td
_TSTEP_CODE = """
m = w if w < width else width
L0 = width - m
for c in range(m):
    td[c] = ts[c]
sa = vs[m:]
sb = vs[:L0]
ta_ = ts[m:]
tb_ = ts[:L0]
tdh = td[m:]
for k in range(L0):
    a = np.float64(sa[k])
    b = th + np.float64(sb[k])
    #CELL
    tdh[k] = ta_[k] + z_p * (gi + tb_[k] - ta_[k])
"""

_SOURCE = """
@njit(error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _fwd_row_MODE(theta_r, w_r, cap_r, exact_k, tau, inv_tau, seg, width, ck_r, y_r):
    # Whole DP of one row: fills ck_r (K, width) and y_r (n,), returns the value V_n[cap].
    # Pass q < K: forward sweep through block j = q (rows j*seg+1 .. j*seg+L; the last one is the
    # next checkpoint, or V_n); pass q >= K: block j = 2K-1-q in reverse: recompute its rows
    # j*seg+1 .. j*seg+L-1 from the checkpoint, then the reverse steps of the marginals.
    n = theta_r.shape[0]
    K = ck_r.shape[0]
    blk = np.empty((seg, width), dtype=ck_r.dtype)
    fin = np.empty(width, dtype=ck_r.dtype)
    E = np.zeros(width)
    E[cap_r] = 1.0
    EP = np.empty(width)
    row0 = ck_r[0]
    if exact_k:
        row0[:] = -np.inf
        row0[0] = 0.0
    else:
        row0[:] = 0.0
    for q in range(2 * K):
        fwd = q < K
        j = q if fwd else 2 * K - 1 - q
        start = j * seg
        L = min(seg, n - start)
        last = L if fwd else L - 1
        for t in range(1, last + 1):  # row start + t from row start + t - 1
            src = ck_r[j] if t == 1 else blk[t - 1]
            if t < L:
                dst = blk[t]
            elif j + 1 < K:
                dst = ck_r[j + 1]
            else:
                dst = fin
            th = np.float64(theta_r[start + t - 1])
            w = w_r[start + t - 1]
            #VSTEP
        if fwd:
            continue
        # reverse: y_i = sum_c E_i p_i;  E_{i-1}[c] = E_i[c] (1 - p[c]) + E_i[c + w] p[c + w]
        for t in range(L - 1, -1, -1):
            vsrc = ck_r[j] if t == 0 else blk[t]  # V_{i-1} for item i = start + t + 1
            i0 = start + t
            th = np.float64(theta_r[i0])
            w = w_r[i0]
            m = w if w < width else width
            L0 = width - m
            for c in range(m):
                EP[c] = 0.0
            sa = vsrc[m:]
            sb = vsrc[:L0]
            Eh = E[m:]
            EPh = EP[m:]
            for k in range(L0):
                a = np.float64(sa[k])
                b = th + np.float64(sb[k])
                #CELL
                EPh[k] = Eh[k] * z_p
            yi = _sum(EP, m, width)
            y_r[i0] = min(max(yi, 0.0), 1.0)  # a probability (rounding can step past 1)
            for k in range(L0):
                E[k] = E[k] - EP[k] + EPh[k]
            Et = E[L0:]
            EPt = EP[L0:]
            for k in range(m):
                Et[k] = Et[k] - EPt[k]
    return fin[cap_r]


@njit(error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _sample_row_MODE(theta_r, w_r, cap_r, tau, inv_tau, seg, width, ck_r, u, r, out):
    # all samples of row r: u (S, B, n) uniforms, out (S, B, n) zeros on entry
    n = theta_r.shape[0]
    K = ck_r.shape[0]
    S = u.shape[0]
    cs = np.full(S, cap_r)
    blk = np.empty((seg, width), dtype=ck_r.dtype)
    for j in range(K - 1, -1, -1):
        start = j * seg
        L = min(seg, n - start)
        for t in range(1, L):  # recompute the block's rows from its checkpoint
            src = ck_r[j] if t == 1 else blk[t - 1]
            dst = blk[t]
            th = np.float64(theta_r[start + t - 1])
            w = w_r[start + t - 1]
            #VSTEP
        for t in range(L - 1, -1, -1):
            vsrc = ck_r[j] if t == 0 else blk[t]
            i0 = start + t
            th = np.float64(theta_r[i0])
            w = w_r[i0]
            for s in range(S):
                c = cs[s]
                if c >= w:
                    a = np.float64(vsrc[c])
                    b = th + np.float64(vsrc[c - w])
                    #CELL
                    if u[s, r, i0] < z_p:
                        out[s, r, i0] = 1.0
                        cs[s] = c - w
"""

_HVP_SOURCE = """
@njit(error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _hvp_row_MODE(theta_r, w_r, g_r, cap_r, tau, inv_tau, seg, width, ck_r, out_r):
    # J^T g of one row into out_r (n,). Pass q < K-1: tangent forward sweep through block j = q
    # (V and T rows j*seg+1 .. j*seg+seg-1, then the T checkpoint of block j+1; its V row is ck);
    # pass q >= K-1: block j = 2K-2-q in reverse: recompute its V and T rows, then reverse steps
    # with the adjoints A (of V; 0 at row n) and Bt (of T; one-hot(cap) at row n).
    n = theta_r.shape[0]
    K = ck_r.shape[0]
    tck = np.empty((K, width))  # tangent checkpoints T_{j*seg} (float64)
    tck[0, :] = 0.0
    vblk = np.empty((seg, width), dtype=ck_r.dtype)
    tblk = np.empty((seg, width))
    A = np.zeros(width)
    Bt = np.zeros(width)
    Bt[cap_r] = 1.0
    TK = np.empty(width)
    BP = np.empty(width)
    for q in range(2 * K - 1):
        fwd = q < K - 1
        j = q if fwd else 2 * K - 2 - q
        start = j * seg
        L = min(seg, n - start)
        for t in range(1, L):  # V and T rows start + t from row start + t - 1
            vs = ck_r[j] if t == 1 else vblk[t - 1]
            ts = tck[j] if t == 1 else tblk[t - 1]
            vd = vblk[t]
            td = tblk[t]
            th = np.float64(theta_r[start + t - 1])
            gi = np.float64(g_r[start + t - 1])
            w = w_r[start + t - 1]
            #VTSTEP
        if fwd:  # T_{(j+1) seg} from row (j+1) seg - 1 (V_{(j+1) seg} is the checkpoint)
            vs = ck_r[j] if L == 1 else vblk[L - 1]
            ts = tck[j] if L == 1 else tblk[L - 1]
            td = tck[j + 1]
            th = np.float64(theta_r[start + L - 1])
            gi = np.float64(g_r[start + L - 1])
            w = w_r[start + L - 1]
            #TSTEP
            continue
        for t in range(L - 1, -1, -1):
            vsrc = ck_r[j] if t == 0 else vblk[t]
            tsrc = tck[j] if t == 0 else tblk[t]
            i0 = start + t
            th = np.float64(theta_r[i0])
            gi = np.float64(g_r[i0])
            w = w_r[i0]
            m = w if w < width else width
            L0 = width - m
            for c in range(m):
                TK[c] = 0.0
                BP[c] = 0.0
            sa = vsrc[m:]
            sb = vsrc[:L0]
            ta_ = tsrc[m:]
            tb_ = tsrc[:L0]
            Ah = A[m:]
            Bh = Bt[m:]
            TKh = TK[m:]
            BPh = BP[m:]
            for k in range(L0):
                a = np.float64(sa[k])
                b = th + np.float64(sb[k])
                #CELL
                bt = Bh[k]
                # tk: adjoint reaching the take branch, A p + Bt p' (tb - ta)
                TKh[k] = Ah[k] * z_p + bt * z_pd * (gi + tb_[k] - ta_[k])
                BPh[k] = bt * z_p
            out_r[i0] = _sum(TK, m, width)
            # A_{i-1}[c] = A[c] (1 - p) - Dbar + tk[c + w] = A[c] - tk[c] + tk[c + w]; Bt alike
            for k in range(L0):
                A[k] = A[k] - TK[k] + TKh[k]
                Bt[k] = Bt[k] - BP[k] + BPh[k]
            At = A[L0:]
            Btt = Bt[L0:]
            TKt = TK[L0:]
            BPt = BP[L0:]
            for k in range(m):
                At[k] = At[k] - TKt[k]
                Btt[k] = Btt[k] - BPt[k]
"""

# the three parallel kernels: prange over the batch rows, the regulariser chosen per call
_KERNEL_SOURCE = """
@njit(parallel=True, cache=True, error_model="numpy")
def _fwd_kernel(theta, w, cap, exact_k, mode, tau, seg, width, value, y, ck):
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    for r in prange(theta.shape[0]):
        if mode == 0:
            v = _fwd_row_shannon(theta[r], w[r], cap[r], exact_k, tau, inv_tau, seg, width,
                                 ck[r], y[r])
        elif mode == 1:
            v = _fwd_row_gini(theta[r], w[r], cap[r], exact_k, tau, inv_tau, seg, width, ck[r],
                              y[r])
        elif mode == 2:
            v = _fwd_row_tsallis(theta[r], w[r], cap[r], exact_k, tau, inv_tau, seg, width,
                                 ck[r], y[r])
        else:
            v = _fwd_row_hard(theta[r], w[r], cap[r], exact_k, tau, inv_tau, seg, width, ck[r],
                              y[r])
        value[r] = v


@njit(parallel=True, cache=True, error_model="numpy")
def _hvp_kernel(theta, w, cap, ck, g, mode, tau, seg, width, out):
    inv_tau = 1.0 / tau
    for r in prange(theta.shape[0]):
        if mode == 0:
            _hvp_row_shannon(theta[r], w[r], g[r], cap[r], tau, inv_tau, seg, width, ck[r], out[r])
        elif mode == 1:
            _hvp_row_gini(theta[r], w[r], g[r], cap[r], tau, inv_tau, seg, width, ck[r], out[r])
        else:
            _hvp_row_tsallis(theta[r], w[r], g[r], cap[r], tau, inv_tau, seg, width, ck[r], out[r])


@njit(parallel=True, cache=True, error_model="numpy")
def _sample_kernel(theta, w, cap, ck, u, mode, tau, seg, width, out):
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    for r in prange(theta.shape[0]):
        if mode == 0:
            _sample_row_shannon(theta[r], w[r], cap[r], tau, inv_tau, seg, width, ck[r], u, r, out)
        elif mode == 1:
            _sample_row_gini(theta[r], w[r], cap[r], tau, inv_tau, seg, width, ck[r], u, r, out)
        elif mode == 2:
            _sample_row_tsallis(theta[r], w[r], cap[r], tau, inv_tau, seg, width, ck[r], u, r,
                                out)
        else:
            _sample_row_hard(theta[r], w[r], cap[r], tau, inv_tau, seg, width, ck[r], u, r, out)
"""


def _instantiate(source: str, name: str) -> str:
    """Source text of one regulariser: ``MODE`` replaced, the ``#...`` code lines expanded."""
    snippets = {
        "#VSTEP": _VSTEP_CODE,
        "#VTSTEP": _VTSTEP_CODE,
        "#TSTEP": _TSTEP_CODE,
        "#CELL": _CELL_CODE.get(name, ""),
        "#EXP": _EXP_CODE,
        "#LOG1P": _LOG1P_CODE,
    }
    lines = source.replace("MODE", name).split("\n")
    while any(line.strip() in snippets for line in lines):
        out = []
        for line in lines:
            key = line.strip()
            if key in snippets:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend((indent + s) if s else s for s in snippets[key].strip("\n").split("\n"))
            else:
                out.append(line)
        lines = out
    return "\n".join(lines)


_NAMES = ("shannon", "gini", "tsallis", "hard")  # indexed by mode code


def _build() -> dict:
    """Compile the generated source (the numba functions themselves compile lazily)."""
    ns = {"__name__": __name__, "np": np, "njit": njit, "prange": prange}
    ns.update(_bits_to_f64=_bits_to_f64, _sum=_sum)
    exec(compile(_instantiate(_MATH_SOURCE, ""), __file__, "exec"), ns)
    for name in _NAMES:
        src = _SOURCE + (_HVP_SOURCE if name != "hard" else "")
        exec(compile(_instantiate(src, name), __file__, "exec"), ns)
    exec(compile(_KERNEL_SOURCE, __file__, "exec"), ns)
    return ns


if _HAVE_NUMBA:
    _NS = _build()
    _fwd_kernel, _hvp_kernel, _sample_kernel = (
        _NS["_fwd_kernel"],
        _NS["_hvp_kernel"],
        _NS["_sample_kernel"],
    )
    _exp_neg, _log1p_unit = _NS["_exp_neg"], _NS["_log1p_unit"]


class _threads:
    """Run a kernel on at most ``rows`` numba threads (the batch rows are the parallel loop).

    A single row runs on the calling thread alone: a parallel region with idle workers is not
    only useless there but, on a small machine, its workers spin against torch's OpenMP threads
    (measured on 2 cores: an exact knapsack of one 32-item row took 8 ms with 2 threads and
    0.08 ms with 1). ``set_num_threads`` is thread-local in numba; the previous value is restored.
    """

    def __init__(self, rows: int):
        self.rows = max(1, int(rows))

    def __enter__(self):
        self.before = get_num_threads()
        set_num_threads(min(self.before, self.rows))

    def __exit__(self, *exc):
        set_num_threads(self.before)


def _np(t: torch.Tensor, dtype: torch.dtype | None = None) -> np.ndarray:
    """Zero-copy numpy view of a CPU tensor (copied only if not contiguous or of another dtype,
    so that each kernel is compiled for C-contiguous arrays and two float dtypes only)."""
    t = t.detach()
    if dtype is not None:
        t = t.to(dtype)
    return t.contiguous().numpy()


def _mode(reg: int, tau: float) -> int:
    if tau == 0.0:
        return _HARD
    if reg not in (_SHANNON, _GINI, _TSALLIS):
        raise ValueError(f"unknown regularizer code {reg}")
    return int(reg)


def _check_seg(seg: int) -> int:
    if not _HAVE_NUMBA:
        raise RuntimeError("the numba backend needs numba (pip install numba)")
    seg = int(seg)
    if seg < 1:
        raise ValueError("seg must be >= 1")
    return seg


def forward(theta, w, cap, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Forward sweep and marginals of the smoothed knapsack DP.

    Parameters
    ----------
    theta : torch.Tensor, shape (B, n), float32 or float64, contiguous, CPU
        Item values.
    w : torch.Tensor, shape (B, n), int64 >= 0
        Item weights.
    cap : torch.Tensor, shape (B,), int64 in ``[0, width - 1]``
        Capacity of each row.
    exact_k : bool
        Init row ``V_0 = (0, -inf, ..., -inf)`` (weights must sum to exactly ``cap``) instead of
        all zeros (``<w, S> <= cap``).
    reg : int
        0 Shannon, 1 Gini, 2 Tsallis-1.5 (ignored when ``tau == 0``).
    tau : float
        Temperature; 0 is the hard max.
    seg : int
        Checkpoint spacing (1 keeps the whole table).
    width : int
        Number of capacity cells of the table (``> max(cap)``).

    Returns
    -------
    value : torch.Tensor, shape (B,)
        ``V_n[cap]``.
    y : torch.Tensor, shape (B, n)
        Marginals ``d value / d theta``.
    ck : torch.Tensor, shape (B, ceil(n / seg), width)
        ``ck[:, j] = V_{j * seg}``.

    Notes
    -----
    Time ``O(B n width)`` (about 2x that when ``seg > 1``); memory ``O(B width n / seg)`` for
    ``ck`` plus ``O(threads width seg)`` scratch.
    """
    seg = _check_seg(seg)
    mode = _mode(reg, tau)
    B, n = theta.shape
    K = -(-n // seg) if n > 0 else 0
    th = _np(theta)
    value = np.empty(B, dtype=th.dtype)
    y = np.zeros((B, n), dtype=th.dtype)
    ck = np.empty((B, K, int(width)), dtype=th.dtype)
    if n == 0:
        init = 0.0
        for r in range(B):
            value[r] = init if (not exact_k or int(cap[r]) == 0) else -math.inf
        return torch.from_numpy(value), torch.from_numpy(y), torch.from_numpy(ck)
    with _threads(B):
        _fwd_kernel(
            th,
            _np(w, torch.int64),
            _np(cap, torch.int64),
            bool(exact_k),
            mode,
            float(tau),
            seg,
            int(width),
            value,
            y,
            ck,
        )
    return torch.from_numpy(value), torch.from_numpy(y), torch.from_numpy(ck)


def hvp(theta, w, cap, ck, g, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Hessian-vector product ``J^T g`` of the DP, ``J = dy / dtheta`` (symmetric).

    Parameters
    ----------
    theta, w, cap, exact_k, reg, tau, seg, width
        As in :func:`forward` (same values).
    ck : torch.Tensor, shape (B, ceil(n / seg), width)
        Checkpoints returned by :func:`forward`.
    g : torch.Tensor, shape (B, n)
        Upstream gradient w.r.t. ``y`` (read in float64).

    Returns
    -------
    torch.Tensor, shape (B, n), theta's dtype
        ``J^T g``; zero when ``tau == 0``.

    Notes
    -----
    Time ``O(B n width)`` (tangent forward sweep + reverse sweep, about 2x more when
    ``seg > 1``); scratch ``O(threads width (n / seg + seg))`` (the tangent rows are
    checkpointed like ``V``).
    """
    seg = _check_seg(seg)
    mode = _mode(reg, tau)
    B, n = theta.shape
    th = _np(theta)
    out = np.zeros((B, n), dtype=th.dtype)
    if mode == _HARD or n == 0:
        return torch.from_numpy(out)
    with _threads(B):
        _hvp_kernel(
            th,
            _np(w, torch.int64),
            _np(cap, torch.int64),
            _np(ck, theta.dtype),
            _np(g, torch.float64),
            mode,
            float(tau),
            seg,
            int(width),
            out,
        )
    return torch.from_numpy(out)


def sample(theta, w, cap, ck, u, *, exact_k: bool, reg: int, tau: float, seg: int, width: int):
    """Ancestral samples through the DP table.

    Parameters
    ----------
    theta, w, cap, exact_k, reg, tau, seg, width
        As in :func:`forward`.
    ck : torch.Tensor, shape (B, ceil(n / seg), width)
        Checkpoints returned by :func:`forward`.
    u : torch.Tensor, shape (S, B, n)
        Uniforms in ``[0, 1)``; item ``i`` of sample ``s`` is taken when ``u[s, r, i] < p``.

    Returns
    -------
    torch.Tensor, shape (S, B, n), theta's dtype
        0/1 samples. With Shannon, an exact draw of ``p(S) ~ exp(<theta, S> / tau)`` over the
        feasible sets.

    Notes
    -----
    Time ``O(B n (S + width))`` (``width`` only for the block recomputation when ``seg > 1``);
    scratch ``O(threads (S + seg width))``.
    """
    seg = _check_seg(seg)
    mode = _mode(reg, tau)
    B, n = theta.shape
    S = u.shape[0]
    th = _np(theta)
    out = np.zeros((S, B, n), dtype=th.dtype)
    if n == 0 or S == 0:
        return torch.from_numpy(out)
    with _threads(B):
        _sample_kernel(
            th,
            _np(w, torch.int64),
            _np(cap, torch.int64),
            _np(ck, theta.dtype),
            _np(u, torch.float64),  # float64: a cast to float32 could round u up to 1
            mode,
            float(tau),
            seg,
            int(width),
            out,
        )
    return torch.from_numpy(out)
