"""Tests of the Triton backend of the smoothed DP knapsack / top-k (``subsel.ops._dp_triton``).

Without CUDA the kernels run in Triton's CPU interpreter: a module-scoped fixture sets
``TRITON_INTERPRET=1`` for the tests of this module only and restores the previous value
afterwards (the backend wraps its kernels with ``triton.jit`` lazily, per value of the flag, so
the flag does not have to be set when triton is imported and does not leak into other
modules).  With CUDA the same tests run the compiled kernels on the GPU.

References: brute force over all subsets (n <= 6: log-partition, Gibbs marginals and the
sampling distribution for shannon; the exact optimum for tau = 0), a scalar pure-Python
transcription of the recursion (gini / tsallis values, table rows, ancestral paths), finite
differences (y = d value / d theta, hvp = d y / d theta . g) and, when it exists, the lead's
torch reference ``subsel.ops._dp_kernels``.  Sizes are tiny: the interpreter runs ~1e4 Triton
ops a second.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os

import pytest
import torch

triton = pytest.importorskip("triton")

from subsel.ops import _dp_triton as dpt  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and tuple(int(x) for x in triton.__version__.split(".")[:2]) < (3, 9):
    # e.g. triton 3.4's interpreter calls int() on 1-element arrays, an error with numpy >= 2.4
    pytest.skip("the CPU interpreter runs were checked with triton >= 3.9", allow_module_level=True)
F64 = torch.float64
NEG = float("-inf")


@pytest.fixture(scope="module", autouse=True)
def _interpreter():
    if DEVICE == "cuda":
        yield
        return
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old


def _t(x, dtype=F64):
    return torch.as_tensor(x, dtype=dtype, device=DEVICE)


def _i(x):
    return torch.as_tensor(x, dtype=torch.int64, device=DEVICE)


def _kw(exact, reg, tau, seg, width, block=None):
    return dict(exact_k=exact, reg=reg, tau=tau, seg=seg, width=width, block=block)


def _close(a, b, tol):
    """Equal up to ``tol`` with -inf in the same places (and no NaN anywhere)."""
    a, b = a.detach().cpu().to(F64), b.detach().cpu().to(F64)
    assert not torch.isnan(a).any()
    assert torch.equal(torch.isneginf(a), torch.isneginf(b))
    fin = torch.isfinite(b)
    err = (a[fin] - b[fin]).abs().max().item() if fin.any() else 0.0
    assert err <= tol, f"max abs error {err:.3e} > {tol:.1e}"


# ------------------------------------------------------------------ independent references


def _brute(theta, w, cap, exact, tau):
    """log-partition (tau * logsumexp) or max and Gibbs marginals over the feasible subsets."""
    n = len(theta)
    subsets = [s for s in itertools.product((0, 1), repeat=n)]
    feas = [
        s
        for s in subsets
        if (sum(a * b for a, b in zip(s, w, strict=True)) == cap)
        or (not exact and sum(a * b for a, b in zip(s, w, strict=True)) <= cap)
    ]
    if not feas:
        return NEG, [0.0] * n, {}
    sc = torch.tensor([sum(a * b for a, b in zip(s, theta, strict=True)) for s in feas], dtype=F64)
    mask = torch.tensor(feas, dtype=F64)
    if tau == 0.0:
        best = int(sc.argmax())
        return sc[best].item(), mask[best].tolist(), {feas[best]: 1.0}
    prob = torch.softmax(sc / tau, 0)
    value = tau * torch.logsumexp(sc / tau, 0).item()
    return value, (prob @ mask).tolist(), dict(zip(feas, prob.tolist(), strict=True))


def _cell(a, bp, th, tau, reg):
    """Scalar transcription of one cell: (V_i[c], p_i[c])."""
    if bp == NEG:
        return a, 0.0
    b = th + bp
    if a == NEG:
        return b, 1.0
    d = b - a
    if tau == 0.0:
        return max(a, b), float(d > 0)
    if reg == 0:
        return max(a, b) + tau * math.log1p(math.exp(-abs(d) / tau)), 1 / (1 + math.exp(-d / tau))
    if reg == 1:
        p = min(max(0.5 + d / (2 * tau), 0.0), 1.0)
        return a + p * d + tau * p * (1 - p), p
    x = min(max(d / (2 * tau), -1.0), 1.0)
    p = (1 + x * math.sqrt(2 - x * x)) / 2
    return a + p * d + 4 * tau / 3 * (1 - p**1.5 - (1 - p) ** 1.5), p


def _scalar_dp(theta, w, cap, width, exact, tau, reg, u=None):
    """Table rows, value, marginals and (given uniforms u (S, n)) ancestral paths."""
    n = len(theta)
    rows = [[0.0 if (c == 0 or not exact) else NEG for c in range(width)]]
    probs = []
    for i in range(n):
        prev = rows[-1]
        cells = [
            _cell(prev[c], prev[c - w[i]] if c >= w[i] else NEG, theta[i], tau, reg)
            for c in range(width)
        ]
        rows.append([v for v, _ in cells])
        probs.append([p for _, p in cells])
    e = [float(c == cap) for c in range(width)]
    y = [0.0] * n
    for i in range(n - 1, -1, -1):
        p, wi = probs[i], w[i]
        y[i] = sum(a * b for a, b in zip(e, p, strict=True))
        e = [
            e[c] * (1 - p[c]) + (e[c + wi] * p[c + wi] if c + wi < width else 0.0)
            for c in range(width)
        ]
    paths = []
    for us in [] if u is None else u:
        c, path = cap, [0.0] * n
        for i in range(n - 1, -1, -1):
            if c >= w[i] and us[i] < probs[i][c]:
                path[i], c = 1.0, c - w[i]
        paths.append(path)
    return rows, rows[n][cap], y, paths


# ------------------------------------------------------------------ tests


def test_available(monkeypatch):
    assert dpt.available(DEVICE)
    if DEVICE == "cpu":  # without the interpreter flag CPU tensors are not served
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        assert not dpt.available("cpu")


# rows: (theta seed, weights, capacity); exact rows use the weights as given (|S| = cap for
# unit weights), including an infeasible capacity (value -inf, y = 0) and zero weights.
_W = [[1, 1, 1, 1, 1, 1], [1, 0, 2, 1, 3, 1], [2, 3, 1, 0, 2, 2], [1, 1, 1, 1, 1, 1]]


@pytest.mark.parametrize(
    ("exact", "tau", "seg", "block"),
    [(True, 0.7, 1, 4), (True, 0.0, 4, None), (False, 0.3, 3, 4), (False, 0.0, 1, None)],
)
def test_forward_matches_brute_force(exact, tau, seg, block):
    g = torch.Generator().manual_seed(1 + seg)
    n, width = 6, 8
    theta = torch.randn(4, n, generator=g, dtype=F64)
    caps = [3, 4, 5, 7] if exact else [3, 4, 0, 7]  # exact row 3: |S| = 7 > n is infeasible
    value, y, ck = dpt.forward(_t(theta), _i(_W), _i(caps), **_kw(exact, 0, tau, seg, width, block))
    assert ck.shape == (4, -(-n // seg), width)
    for r in range(4):
        bv, by, _ = _brute(theta[r].tolist(), _W[r], caps[r], exact, tau)
        _close(value[r : r + 1], _t([bv]), 1e-12)
        _close(y[r], _t(by), 1e-12)


@pytest.mark.parametrize(
    ("exact", "reg", "seg", "block"), [(True, 1, 2, 4), (False, 2, 3, None), (False, 0, 5, None)]
)
def test_table_value_and_y_match_scalar_dp(exact, reg, seg, block):
    g = torch.Generator().manual_seed(reg)
    n, width, tau = 5, 7, 0.4
    theta = 2 * torch.randn(3, n, generator=g, dtype=F64)
    w = torch.randint(0, 3, (3, n), generator=g) if not exact else torch.ones(3, n, dtype=int)
    caps = [1, 3, 6] if not exact else [1, 3, 4]
    value, y, ck = dpt.forward(
        _t(theta), _i(w), _i(caps), **_kw(exact, reg, tau, seg, width, block)
    )
    for r in range(3):
        rows, v, yr, _ = _scalar_dp(
            theta[r].tolist(), w[r].tolist(), caps[r], width, exact, tau, reg
        )
        _close(value[r : r + 1], _t([v]), 1e-12)
        _close(y[r], _t(yr), 1e-12)
        _close(ck[r], _t(rows[0:n:seg]), 1e-12)


@pytest.mark.parametrize("reg", [1, 2])
def test_y_is_gradient_of_value(reg):
    """y against central differences of value (gini and tsallis; shannon: brute force)."""
    g = torch.Generator().manual_seed(7 + reg)
    n, width, tau, eps = 4, 6, 0.5, 1e-6
    theta = torch.randn(n, generator=g, dtype=F64)
    w = torch.tensor([1, 2, 0, 1])
    pert = theta + eps * torch.cat([torch.eye(n, dtype=F64), -torch.eye(n, dtype=F64)])
    rows = torch.cat([theta[None], pert])
    value, y, _ = dpt.forward(
        _t(rows),
        _i(w.expand(2 * n + 1, n).contiguous()),
        _i([3] * (2 * n + 1)),
        **_kw(False, reg, tau, 2, width),
    )
    fd = (value[1 : n + 1] - value[n + 1 :]) / (2 * eps)
    _close(y[0], fd, 1e-7)


@pytest.mark.parametrize(
    ("exact", "reg", "seg", "block"), [(True, 0, 1, None), (False, 1, 2, 4), (True, 2, 3, None)]
)
def test_hvp_matches_finite_differences_and_is_symmetric(exact, reg, seg, block):
    gen = torch.Generator().manual_seed(11 + reg)
    n, width, tau, eps = 5, 6, 0.6, 1e-5
    theta = torch.randn(2, n, generator=gen, dtype=F64)
    w = torch.ones(2, n, dtype=int) if exact else torch.tensor([[1, 0, 2, 1, 1], [2, 1, 1, 0, 3]])
    caps = [2, 3] if exact else [3, 4]
    v1, v2 = torch.randn(2, 2, n, generator=gen, dtype=F64)
    kw = _kw(exact, reg, tau, seg, width, block)
    # forward at theta (rows 0-1), theta +- eps v1 (rows 2-5)
    rows = torch.cat([theta, theta + eps * v1, theta - eps * v1])
    _, y, ck = dpt.forward(_t(rows), _i(w.repeat(3, 1)), _i(caps * 3), **kw)
    fd = (y[2:4] - y[4:6]) / (2 * eps)
    # hvp with v1 and with v2, on the rows at theta (duplicated)
    th2, w2, c2 = _t(theta.repeat(2, 1)), _i(w.repeat(2, 1)), _i(caps * 2)
    h = dpt.hvp(th2, w2, c2, ck[:2].repeat(2, 1, 1), _t(torch.cat([v1, v2])), **kw)
    _close(h[:2], fd, 1e-7)
    # symmetry of the Hessian: <v2, H v1> == <v1, H v2>
    _close((v2.to(DEVICE) * h[:2]).sum(1), (v1.to(DEVICE) * h[2:]).sum(1), 1e-12)
    assert ck.shape[1] == -(-n // seg)


def test_hvp_is_zero_when_hard():
    theta, w, caps = _t([[0.3, -1.0, 2.0]]), _i([[1, 1, 1]]), _i([2])
    _, _, ck = dpt.forward(theta, w, caps, **_kw(True, 0, 0.0, 1, 4))
    h = dpt.hvp(theta, w, caps, ck, _t([[1.0, 2.0, 3.0]]), **_kw(True, 0, 0.0, 1, 4))
    assert torch.equal(h.cpu(), torch.zeros(1, 3, dtype=F64))


def test_sample_follows_gibbs_distribution():
    """Shannon samples against the exact subset distribution p(S) ~ exp(<theta, S> / tau)."""
    gen = torch.Generator().manual_seed(3)
    n, width, tau, n_s = 4, 5, 0.5, 3000
    theta = torch.tensor([[0.2, -0.4, 0.5, 0.1]], dtype=F64)
    w, caps = [[1, 2, 2, 1]], [4]
    kw = _kw(False, 0, tau, 2, width)
    _, _, ck = dpt.forward(_t(theta), _i(w), _i(caps), **kw)
    u = torch.rand(n_s, 1, n, generator=gen, dtype=F64)
    s = dpt.sample(_t(theta), _i(w), _i(caps), ck, _t(u), **kw).cpu()
    assert s.shape == (n_s, 1, n)
    _, _, probs = _brute(theta[0].tolist(), w[0], caps[0], False, tau)
    counts = {}
    for row in s[:, 0].tolist():
        counts[tuple(int(v) for v in row)] = counts.get(tuple(int(v) for v in row), 0) + 1
    assert set(counts) <= set(probs)  # only feasible subsets
    for subset, p in probs.items():
        freq = counts.get(subset, 0) / n_s
        assert abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / n_s) + 1e-3, (subset, freq, p)


@pytest.mark.parametrize(("exact", "reg", "tau", "seg"), [(True, 1, 0.5, 3), (False, 2, 0.0, 2)])
def test_sample_paths_match_scalar_dp(exact, reg, tau, seg):
    gen = torch.Generator().manual_seed(5)
    n, width, n_s = 5, 6, 7
    theta = torch.randn(2, n, generator=gen, dtype=F64)
    w = torch.ones(2, n, dtype=int) if exact else torch.tensor([[1, 0, 2, 1, 1], [2, 1, 1, 0, 3]])
    caps = [2, 4] if exact else [3, 5]
    kw = _kw(exact, reg, tau, seg, width, 4)
    _, _, ck = dpt.forward(_t(theta), _i(w), _i(caps), **kw)
    u = torch.rand(n_s, 2, n, generator=gen, dtype=F64)
    s = dpt.sample(_t(theta), _i(w), _i(caps), ck, _t(u), **kw)
    for r in range(2):
        *_, paths = _scalar_dp(
            theta[r].tolist(), w[r].tolist(), caps[r], width, exact, tau, reg, u[:, r].tolist()
        )
        assert s[:, r].cpu().tolist() == paths


def test_float32_close_to_float64():
    gen = torch.Generator().manual_seed(9)
    n, width = 5, 6
    theta = torch.randn(2, n, generator=gen, dtype=F64)
    w, caps, gv = _i([[1, 2, 0, 1, 1], [1, 1, 1, 1, 1]]), _i([3, 4]), torch.randn(2, n, dtype=F64)
    kw = _kw(False, 0, 0.5, 2, width)
    out = {}
    for dt in (torch.float32, F64):
        v, y, ck = dpt.forward(_t(theta, dt), w, caps, **kw)
        h = dpt.hvp(_t(theta, dt), w, caps, ck, _t(gv, dt), **kw)
        assert v.dtype == y.dtype == ck.dtype == h.dtype == dt
        out[dt] = (v, y, h)
    for a, b in zip(out[torch.float32], out[F64], strict=True):
        _close(a, b, 1e-5)


# ------------------------------------------------------------------ against the torch reference


@pytest.mark.skipif(
    importlib.util.find_spec("subsel.ops._dp_kernels") is None,
    reason="torch reference subsel.ops._dp_kernels not written yet",
)
@pytest.mark.parametrize(
    ("exact", "reg", "tau", "seg", "block"),
    [
        (True, 0, 0.5, 1, 4),
        (True, 1, 0.3, 2, None),
        (True, 2, 0.8, 4, None),
        (False, 0, 0.4, 3, 4),
        (False, 1, 1.0, 1, None),
        (False, 2, 0.2, 2, None),
        (False, 0, 0.0, 2, None),
    ],
)
def test_matches_torch_reference(exact, reg, tau, seg, block):
    from subsel.ops import _dp_kernels as ref

    gen = torch.Generator().manual_seed(100 + reg + 10 * seg)
    b, n, width, n_s = 3, 6, 7, 5
    theta = _t(torch.randn(b, n, generator=gen, dtype=F64))
    if exact:
        w = torch.ones(b, n, dtype=torch.int64)
        w[1, 2] = 0  # a free item
    else:
        w = torch.randint(0, 3, (b, n), generator=gen)
    w, caps = _i(w), _i([2, 4, 6])
    g = _t(torch.randn(b, n, generator=gen, dtype=F64))
    u = _t(torch.rand(n_s, b, n, generator=gen, dtype=F64))
    kw = dict(exact_k=exact, reg=reg, tau=tau, seg=seg, width=width)
    v, y, ck = dpt.forward(theta, w, caps, **kw, block=block)
    rv, ry, rck = ref.forward(theta, w, caps, **kw)
    _close(v, rv, 1e-9)
    _close(y, ry, 1e-9)
    _close(ck, rck, 1e-9)
    h = dpt.hvp(theta, w, caps, ck, g, **kw, block=block)
    _close(h, ref.hvp(theta, w, caps, rck, g, **kw), 1e-9)
    s = dpt.sample(theta, w, caps, ck, u, **kw, block=block)
    assert torch.equal(s.cpu(), ref.sample(theta, w, caps, rck, u, **kw).cpu())


# ------------------------------------------------------------------ on a GPU only


@pytest.mark.parametrize("checkpoint", [False, True])
def test_public_ops_triton_backend_matches_torch(checkpoint):
    """soft_topk / soft_knapsack / knapsack_sample through autograd, triton vs torch backend
    (on CPU tensors through the interpreter: backend="triton" is honoured when asked by name)."""
    from subsel.ops import knapsack_sample, soft_knapsack, soft_topk

    gen = torch.Generator().manual_seed(0)
    values = torch.randn(2, 9, generator=gen, dtype=F64).to(DEVICE)
    weights = torch.randint(0, 5, (9,), generator=gen).to(DEVICE)
    gy = torch.randn(2, 9, generator=gen, dtype=F64).to(DEVICE)
    for reg in ("shannon", "gini", "tsallis"):
        outs = {}
        for backend in ("torch", "triton"):
            x = values.clone().requires_grad_(True)
            y1 = soft_topk(x, 4, tau=0.3, regularizer=reg, checkpoint=checkpoint, backend=backend)
            y2 = soft_knapsack(x, weights, 8, tau=0.3, regularizer=reg, backend=backend)
            ((y1 + y2) * gy).sum().backward()
            outs[backend] = (y1.detach(), y2.detach(), x.grad)
        for a, b in zip(outs["torch"], outs["triton"], strict=True):
            _close(a, b, 1e-9)
    samples = [
        knapsack_sample(values, weights, 8, tau=0.5, num_samples=4, backend=backend,
                        generator=torch.Generator(DEVICE).manual_seed(1))
        for backend in ("torch", "triton")
    ]  # fmt: skip
    assert torch.equal(samples[0], samples[1])
