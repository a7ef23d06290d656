"""Generic checks run on every operator in tests/common/registry.py."""

from __future__ import annotations

import pytest
import torch

from tests.common.registry import OPS, OpSpec, generator

N = 7
K = 3

ids = [spec.name for spec in OPS]


def run(spec: OpSpec, x, k=K, seed=0, **kw):
    return spec.call(x, k, generator(seed) if spec.random else None, **kw)


@pytest.mark.parametrize("spec", OPS, ids=ids)
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_shape_and_dtype(spec, batch):
    x = torch.randn(*batch, N, generator=generator(1))
    out = run(spec, x)
    if spec.output == "indices":
        assert out.shape == (*batch, K) and out.dtype == torch.long
        assert bool(((out >= 0) & (out < N)).all())
        srt = out.sort(-1).values
        assert bool((srt[..., 1:] != srt[..., :-1]).all()), "indices must be distinct"
    else:
        assert out.shape == x.shape and out.dtype == x.dtype
        assert torch.allclose(out.sum(-1), torch.full(batch, float(K)), atol=1e-4)
        assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("spec", [s for s in OPS if s.takes_dim], ids=lambda s: s.name)
def test_dim_argument_matches_moving_the_axis(spec):
    x = torch.randn(N, 4, generator=generator(2))
    along0 = run(spec, x, dim=0)
    last = run(spec, x.T.contiguous())
    assert torch.allclose(along0, last.T if spec.output == "mask" else last.T, atol=1e-6)


@pytest.mark.parametrize("spec", [s for s in OPS if not s.random], ids=lambda s: s.name)
def test_batched_equals_row_by_row(spec):
    x = torch.randn(5, N, generator=generator(3), dtype=torch.float64)
    batched = run(spec, x)
    rows = torch.stack([run(spec, row) for row in x])
    assert torch.allclose(batched, rows, atol=1e-10)


@pytest.mark.parametrize("spec", [s for s in OPS if s.per_row_k], ids=lambda s: s.name)
def test_per_row_k_equals_separate_calls(spec):
    x = torch.randn(4, N, generator=generator(4), dtype=torch.float64)
    ks = torch.tensor([1, 3, 7, 2])
    if spec.random:  # same noise per row only for deterministic ops: compare sizes instead
        out = run(spec, x, k=ks)
        assert torch.allclose(out.sum(-1), ks.to(out.dtype), atol=1e-8)
        return
    out = run(spec, x, k=ks)
    for i in range(4):
        assert torch.allclose(out[i], run(spec, x[i], k=int(ks[i])), atol=1e-10)


@pytest.mark.parametrize("spec", [s for s in OPS if s.random], ids=lambda s: s.name)
def test_generator_reproducibility(spec):
    x = torch.randn(3, 20, generator=generator(5))
    a, b = run(spec, x, seed=11), run(spec, x, seed=11)
    c = run(spec, x, seed=12)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # no global random state is touched
    state = torch.get_rng_state()
    run(spec, x, seed=11)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("spec", [s for s in OPS if s.differentiable], ids=lambda s: s.name)
@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_gradcheck(spec, tau):
    x = torch.randn(2, 5, dtype=torch.float64, generator=generator(6), requires_grad=True)
    fn = lambda z: spec.call(z, 2, generator(7) if spec.random else None, tau=tau)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), atol=1e-6, rtol=1e-4)


BAD = [
    ("k above n", dict(k=N + 1), ValueError, "'k'"),
    ("k zero", dict(k=0), ValueError, "'k'"),
    ("k float", dict(k=2.0), TypeError, "'k'"),
    (
        "NaN scores",
        dict(x=lambda x: x.index_fill(-1, torch.tensor([1]), float("nan"))),
        ValueError,
        "NaN",
    ),
    (
        "+inf scores",
        dict(x=lambda x: x.index_fill(-1, torch.tensor([2]), float("inf"))),
        ValueError,
        "inf",
    ),
    ("integer scores", dict(x=lambda x: x.long()), TypeError, "floating"),
    ("numpy scores", dict(x=lambda x: x.numpy()), TypeError, "torch.Tensor"),
    ("empty scores", dict(x=lambda x: x[..., :0]), ValueError, "empty"),
]


@pytest.mark.parametrize("spec", OPS, ids=ids)
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_gives_clear_error(spec, case):
    _, change, kind, needle = case
    x = torch.randn(2, N, generator=generator(8))
    if "x" in change:
        x = change["x"](x)
    k = change.get("k", K)
    with pytest.raises(kind, match=needle) as info:
        run(spec, x, k=k)
    assert "must" in str(info.value) or "contains" in str(info.value) or "empty" in str(info.value)


@pytest.mark.parametrize("spec", [s for s in OPS if s.takes_tau], ids=lambda s: s.name)
@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_tau(spec, tau):
    x = torch.randn(2, N)
    with pytest.raises(ValueError, match="'tau'"):
        run(spec, x, tau=tau)


@pytest.mark.parametrize("spec", [s for s in OPS if s.takes_dim], ids=lambda s: s.name)
def test_bad_dim(spec):
    x = torch.randn(2, N)
    with pytest.raises(ValueError, match="'dim'"):
        run(spec, x, dim=2)


@pytest.mark.parametrize("spec", [s for s in OPS if s.per_row_k], ids=lambda s: s.name)
def test_bad_per_row_k(spec):
    x = torch.randn(3, N)
    with pytest.raises(ValueError, match="'k'"):
        run(spec, x, k=torch.tensor([1, 2]))  # wrong shape
    with pytest.raises(ValueError, match="'k'"):
        run(spec, x, k=torch.tensor([1, 2, N + 1]))  # out of range
