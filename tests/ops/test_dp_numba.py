"""Tests of the CPU Numba backend of the smoothed DP knapsack / top-k (``subsel.ops._dp_numba``).

References: brute force over all subsets (n <= 8: the log-partition and the Gibbs marginals for
shannon, the sampling distribution, the exact optimum for tau = 0), finite differences
(``y = d value / d theta``, ``hvp = d y / d theta . g``), the kernel itself with ``seg = 1``
(checkpointed runs must agree with it), libm for the polynomial ``exp`` / ``log1p`` and, when it
exists, the lead's pure torch reference ``subsel.ops._dp_kernels``.

The kernels are compiled on first use (about 5-10 s per function for all regularizers, cached on
disk afterwards with ``cache=True``); the instances are tiny so the tests themselves are fast.
"""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest
import torch

from subsel.ops import _dp_numba as dpn

if not dpn.available():  # pragma: no cover - numba is installed in the dev environment
    pytest.skip("numba is not installed", allow_module_level=True)

F64 = torch.float64
F32 = torch.float32
REGS = (0, 1, 2)  # shannon, gini, tsallis
HAVE_REF = importlib.util.find_spec("subsel.ops._dp_kernels") is not None


# ------------------------------------------------------------------------------------ helpers
def _instance(rng, B, n, exact_k, max_w=4, extra_width=2):
    """Random batch with per-row capacities; exact_k uses unit weights and cap = k <= n."""
    theta = rng.normal(size=(B, n))
    if exact_k:
        w = np.ones((B, n), dtype=np.int64)
        cap = rng.integers(0, n + 1, size=B)
    else:
        w = rng.integers(0, max_w + 1, size=(B, n))
        cap = rng.integers(0, max(int(w.sum(1).max()), 1) + 1, size=B)
    width = int(cap.max()) + 1 + extra_width  # width > cap + 1 for every row
    return torch.tensor(theta), torch.tensor(w), torch.tensor(cap), width


def _feasible_sets(w_r, cap_r, exact_k):
    n = len(w_r)
    sets = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64).reshape(-1, n)
    load = sets @ np.asarray(w_r, dtype=np.float64)
    ok = load == cap_r if exact_k else load <= cap_r
    return sets[ok]


def _brute(theta_r, w_r, cap_r, exact_k, tau):
    """(value, marginals, sets, probabilities) over the feasible sets (Gibbs for tau > 0)."""
    sets = _feasible_sets(w_r, cap_r, exact_k)
    s = sets @ np.asarray(theta_r, dtype=np.float64)
    if tau == 0:
        best = int(np.argmax(s))
        probs = np.zeros(len(s))
        probs[best] = 1.0
        return s[best], sets[best], sets, probs
    m = s.max()
    z = np.exp((s - m) / tau)
    value = m + tau * math.log(z.sum())
    probs = z / z.sum()
    return value, probs @ sets, sets, probs


def _kw(exact_k, reg, tau, seg, width):
    return dict(exact_k=exact_k, reg=reg, tau=tau, seg=seg, width=width)


def _fwd(theta, w, cap, **kw):
    return dpn.forward(theta.contiguous(), w, cap, **kw)


# ------------------------------------------------------------------------ polynomial exp / log1p
def test_exp_log1p_polynomials_match_libm():
    x = np.concatenate([-np.logspace(-12, np.log10(708.0), 4000), [0.0, -1e-300, -700.0]])
    got = np.array([dpn._exp_neg(v) for v in x])
    ref = np.exp(x)
    assert np.all(np.abs(got - ref) <= 4 * np.spacing(ref))  # a few ulp
    # below the normal range the result is flushed to 0 (never NaN), -inf and NaN give 0
    assert dpn._exp_neg(-720.0) < 1e-300 and dpn._exp_neg(-1e300) == 0.0
    assert dpn._exp_neg(-math.inf) == 0.0 and dpn._exp_neg(math.nan) == 0.0
    e = np.concatenate([np.linspace(0.0, 1.0, 4001), np.logspace(-300, 0, 500)])
    got = np.array([dpn._log1p_unit(v) for v in e])
    ref = np.log1p(e)
    assert np.all(np.abs(got - ref) <= 4 * np.spacing(np.maximum(ref, 1e-300)))


# ------------------------------------------------------------------------ forward vs brute force
@pytest.mark.parametrize("exact_k", [False, True])
@pytest.mark.parametrize("tau", [0.7, 1e-6])
def test_forward_shannon_matches_gibbs(exact_k, tau):
    rng = np.random.default_rng(1 + exact_k)
    for n in (1, 4, 8):
        theta, w, cap, width = _instance(rng, 5, n, exact_k)
        value, y, ck = _fwd(theta, w, cap, **_kw(exact_k, 0, tau, 1, width))
        assert ck.shape == (5, n, width)
        for r in range(5):
            v_bf, y_bf, _, _ = _brute(theta[r].numpy(), w[r].numpy(), int(cap[r]), exact_k, tau)
            # values are O(1..10): 1e-12 absolute is a few hundred ulp of summation order
            assert abs(value[r].item() - v_bf) <= 1e-12 * (1 + abs(v_bf))
            np.testing.assert_allclose(y[r].numpy(), y_bf, rtol=0, atol=1e-12)


@pytest.mark.parametrize("exact_k", [False, True])
def test_forward_hard_is_exact_optimum(exact_k):
    rng = np.random.default_rng(3)
    for n in (1, 5, 8):
        theta, w, cap, width = _instance(rng, 6, n, exact_k)
        value, y, _ = _fwd(theta, w, cap, **_kw(exact_k, 0, 0.0, 1, width))
        for r in range(6):
            v_bf, s_bf, _, _ = _brute(theta[r].numpy(), w[r].numpy(), int(cap[r]), exact_k, 0)
            assert abs(value[r].item() - v_bf) <= 1e-12 * (1 + abs(v_bf))
            # continuous theta: the optimum is unique, and y is its indicator
            np.testing.assert_array_equal(y[r].numpy(), s_bf)


@pytest.mark.parametrize("reg", [1, 2])
@pytest.mark.parametrize("exact_k", [False, True])
def test_forward_gini_tsallis_feasible_and_gradient_of_value(reg, exact_k):
    rng = np.random.default_rng(10 + reg + 2 * exact_k)
    theta, w, cap, width = _instance(rng, 6, 7, exact_k)
    kw = _kw(exact_k, reg, 0.5, 1, width)
    value, y, _ = _fwd(theta, w, cap, **kw)
    yn = y.numpy()
    assert np.all((yn >= 0) & (yn <= 1))
    load = (yn * w.numpy()).sum(1)
    assert np.all(load <= cap.numpy() + 1e-9)
    if exact_k:
        np.testing.assert_allclose(yn.sum(1), cap.numpy(), atol=1e-9)
    # y = d value / d theta (central differences; value is C^1 with a piecewise-smooth gradient)
    h = 1e-6
    fd = np.zeros_like(yn)
    for i in range(theta.shape[1]):
        e = torch.zeros_like(theta)
        e[:, i] = h
        vp = _fwd(theta + e, w, cap, **kw)[0].numpy()
        vm = _fwd(theta - e, w, cap, **kw)[0].numpy()
        fd[:, i] = (vp - vm) / (2 * h)
    np.testing.assert_allclose(yn, fd, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------- hvp
@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("exact_k", [False, True])
def test_hvp_matches_finite_differences_of_y(reg, exact_k):
    rng = np.random.default_rng(20 + reg + 3 * exact_k)
    theta, w, cap, width = _instance(rng, 5, 9, exact_k)
    g = torch.tensor(rng.normal(size=theta.shape))
    h = 1e-6
    for seg in (1, 3):
        kw = _kw(exact_k, reg, 0.6, seg, width)
        _, _, ck = _fwd(theta, w, cap, **kw)
        hv = dpn.hvp(theta, w, cap, ck, g, **kw).numpy()
        yp = _fwd(theta + h * g, w, cap, **kw)[1].numpy()
        ym = _fwd(theta - h * g, w, cap, **kw)[1].numpy()
        fd = (yp - ym) / (2 * h)
        # truncation h^2 |y'''| ~ 1e-12 / tau^2, rounding 1e-16 / h ~ 1e-10; gini / tsallis y is
        # only piecewise smooth, but no random cell lies within h of a kink
        np.testing.assert_allclose(hv, fd, rtol=0, atol=2e-7)
        assert np.abs(hv).max() > 1e-3  # not trivially zero


def test_hvp_is_zero_for_hard():
    rng = np.random.default_rng(5)
    theta, w, cap, width = _instance(rng, 3, 6, False)
    kw = _kw(False, 0, 0.0, 1, width)
    _, _, ck = _fwd(theta, w, cap, **kw)
    assert torch.equal(
        dpn.hvp(theta, w, cap, ck, torch.ones_like(theta), **kw), torch.zeros_like(theta)
    )


@pytest.mark.parametrize("exact_k", [False, True])
def test_checkpointing_matches_full_table(exact_k):
    rng = np.random.default_rng(30 + exact_k)
    theta, w, cap, width = _instance(rng, 4, 11, exact_k)
    g = torch.tensor(rng.normal(size=theta.shape))
    for reg, tau in ((0, 0.5), (1, 0.5), (2, 0.5), (0, 0.0)):
        v1, y1, ck1 = _fwd(theta, w, cap, **_kw(exact_k, reg, tau, 1, width))
        h1 = dpn.hvp(theta, w, cap, ck1, g, **_kw(exact_k, reg, tau, 1, width))
        for seg in (2, 3, 4, 11, 20):
            kw = _kw(exact_k, reg, tau, seg, width)
            v, y, ck = _fwd(theta, w, cap, **kw)
            assert ck.shape == (4, -(-11 // seg), width)
            # the same rows are computed by the same code: identical to the last bit
            assert torch.equal(ck, ck1[:, ::seg])
            assert torch.equal(v, v1)
            torch.testing.assert_close(y, y1, rtol=0, atol=1e-12)
            torch.testing.assert_close(dpn.hvp(theta, w, cap, ck, g, **kw), h1, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------- sample
@pytest.mark.parametrize("exact_k,seg", [(False, 1), (True, 2)])
def test_sample_shannon_matches_gibbs_distribution(exact_k, seg):
    rng = np.random.default_rng(40 + exact_k)
    n, S = 5, 20000
    theta, w, cap, width = _instance(rng, 2, n, exact_k, max_w=3)
    theta = theta * 0.8
    if not exact_k:
        cap = torch.tensor([4, 6])
        width = 8
    kw = _kw(exact_k, 0, 1.0, seg, width)
    _, _, ck = _fwd(theta, w, cap, **kw)
    gen = torch.Generator().manual_seed(123)
    u = torch.rand((S, 2, n), generator=gen, dtype=F64)
    smp = dpn.sample(theta, w, cap, ck, u, **kw)
    assert smp.shape == (S, 2, n)
    # reproducible: same uniforms, same samples
    assert torch.equal(smp, dpn.sample(theta, w, cap, ck, u, **kw))
    for r in range(2):
        _, _, sets, probs = _brute(theta[r].numpy(), w[r].numpy(), int(cap[r]), exact_k, 1.0)
        x = smp[:, r].numpy()
        load = x @ w[r].numpy()
        assert np.all(load == cap[r].item()) if exact_k else np.all(load <= cap[r].item())
        codes = x @ (2 ** np.arange(n))
        freq = np.array([(codes == c).mean() for c in sets @ (2 ** np.arange(n))])
        assert abs(freq.sum() - 1.0) < 1e-12  # every sample is one of the feasible sets
        # per-set binomial bound: 5 standard deviations (+1/S for the rarest sets)
        tol = 5 * np.sqrt(probs * (1 - probs) / S) + 1.0 / S
        assert np.all(np.abs(freq - probs) <= tol), (freq, probs)


def test_sample_hard_is_the_optimum():
    rng = np.random.default_rng(50)
    theta, w, cap, width = _instance(rng, 3, 6, False)
    kw = _kw(False, 0, 0.0, 2, width)
    _, y, ck = _fwd(theta, w, cap, **kw)
    u = torch.rand((4, 3, 6), generator=torch.Generator().manual_seed(0), dtype=F64)
    smp = dpn.sample(theta, w, cap, ck, u, **kw)
    assert torch.equal(smp, y.expand(4, 3, 6))


# ------------------------------------------------------------------------- numerical corners
def test_no_nan_with_infeasible_cells_and_tiny_tau():
    # exact_k with cap > n (infeasible: value -inf, y = 0) and cap = n; zero weights; tau tiny
    theta = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5], [5.0, -5.0, 0.0]], dtype=F64)
    w = torch.tensor([[1, 1, 1], [1, 1, 1], [0, 2, 0]])
    cap = torch.tensor([3, 4, 1])
    for reg in REGS:
        for tau in (1e-6, 0.5):
            kw = _kw(True, reg, tau, 2, 6)
            value, y, ck = _fwd(theta, w, cap, **kw)
            assert not torch.isnan(ck).any() and not torch.isnan(y).any()
            assert value[0].item() == pytest.approx(1.1, abs=1e-12)
            assert value[1].item() == -math.inf and torch.all(y[1] == 0)
            assert value[2].item() == -math.inf  # weights 0, 2, 0 cannot sum to exactly 1
            np.testing.assert_allclose(y[0].numpy(), [1, 1, 1], atol=1e-12)
            hv = dpn.hvp(theta, w, cap, ck, torch.ones_like(theta), **kw)
            assert torch.isfinite(hv).all()
    # tiny tau: shannon is the hard max up to tau * log(#sets)
    rng = np.random.default_rng(60)
    theta, w, cap, width = _instance(rng, 4, 8, False)
    v0, y0, _ = _fwd(theta, w, cap, **_kw(False, 0, 0.0, 1, width))
    v1, y1, _ = _fwd(theta, w, cap, **_kw(False, 0, 1e-6, 1, width))
    assert torch.all((v1 - v0 >= 0) & (v1 - v0 <= 1e-6 * 8 * math.log(2) + 1e-12))
    torch.testing.assert_close(y1, y0, rtol=0, atol=1e-9)


def test_float32_matches_float64():
    rng = np.random.default_rng(70)
    theta, w, cap, width = _instance(rng, 5, 12, False)
    g = torch.tensor(rng.normal(size=theta.shape))
    kw = _kw(False, 0, 0.5, 3, width)
    v64, y64, ck64 = _fwd(theta, w, cap, **kw)
    v32, y32, ck32 = _fwd(theta.float(), w, cap, **kw)
    assert v32.dtype == y32.dtype == ck32.dtype == F32
    torch.testing.assert_close(v32.double(), v64, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y32.double(), y64, rtol=0, atol=1e-5)
    h64 = dpn.hvp(theta, w, cap, ck64, g, **kw)
    h32 = dpn.hvp(theta.float(), w, cap, ck32, g.float(), **kw)
    assert h32.dtype == F32
    torch.testing.assert_close(h32.double(), h64, rtol=0, atol=1e-4)


# -------------------------------------------------------------------- the torch reference
@pytest.mark.skipif(not HAVE_REF, reason="the torch reference subsel.ops._dp_kernels is absent")
@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("exact_k", [False, True])
@pytest.mark.parametrize("reg,tau", [(0, 0.5), (1, 0.5), (2, 0.5), (0, 0.0)])
def test_matches_torch_reference(dtype, exact_k, reg, tau):
    from subsel.ops import _dp_kernels as ref

    if dtype == F32 and reg != 0:
        pytest.skip("float32 is checked on shannon and the hard max (each compile costs seconds)")
    rng = np.random.default_rng(80 + reg + 4 * exact_k)
    B, n = 6, 12
    theta = torch.tensor(rng.normal(size=(B, n)), dtype=dtype)
    if exact_k:
        w = torch.ones(B, n, dtype=torch.int64)
        w[0, :3] = 0  # zero weights are allowed with exact_k too
        cap = torch.tensor(rng.integers(0, n + 1, size=B))
    else:
        w = torch.tensor(rng.integers(0, 5, size=(B, n)))
        w[:, ::4] = 0  # zero weights
        cap = torch.tensor(rng.integers(0, 20, size=B))
    width = int(cap.max()) + 5  # width > cap + 1 on every row
    g = torch.tensor(rng.normal(size=(B, n)), dtype=dtype)
    u = torch.rand((3, B, n), generator=torch.Generator().manual_seed(1), dtype=dtype)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == F64 else dict(rtol=1e-5, atol=2e-5)
    for seg in (1, 4):
        kw = _kw(exact_k, reg, tau, seg, width)
        v_r, y_r, ck_r = ref.forward(theta, w, cap, **kw)
        v, y, ck = dpn.forward(theta, w, cap, **kw)
        assert v.dtype == y.dtype == ck.dtype == dtype and ck.shape == ck_r.shape
        torch.testing.assert_close(v, v_r, **tol)
        torch.testing.assert_close(y, y_r, **tol)
        torch.testing.assert_close(ck, ck_r, **tol)  # -inf cells must match exactly
        torch.testing.assert_close(
            dpn.hvp(theta, w, cap, ck, g, **kw), ref.hvp(theta, w, cap, ck_r, g, **kw), **tol
        )
        if dtype == F32:
            continue  # (a float32 sample kernel would be one more compile of several seconds)
        s = dpn.sample(theta, w, cap, ck, u, **kw)
        # samples differ only where a uniform falls between the two backends' p (~1e-16 apart)
        assert torch.equal(s, ref.sample(theta, w, cap, ck_r, u, **kw))
