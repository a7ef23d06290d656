"""RSS-SNE (eq. 7) and parametric t-SNE: sampling law, losses, calibration, training, I/O."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from subsel.apps._sne_nets import pretrain_layerwise
from subsel.apps.sne import (
    NeighborSNE,
    _low_dim_steps,
    conditional_affinities,
    parametric_tsne_loss,
    rss_sne_loss,
    sample_neighbors,
    train_neighbor_sne,
    tsne_affinities,
)

SMALL = (32, 32)  # hidden widths of the test networks (the paper's are (500, 500, 2000))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:200] / 16.0).astype(np.float32), y[:200]


def _wrs_probs(w: np.ndarray, k: int) -> dict[tuple, float]:
    """Exact p(S_wrs | w) of every ordered k-sequence (eq. 1)."""
    out = {}
    for seq in itertools.permutations(range(len(w)), k):
        p, rest = 1.0, w.sum()
        for j in seq:
            p *= w[j] / rest
            rest -= w[j]
        out[seq] = p
    return out


def test_sampled_neighbours_follow_wrs_law():
    # 5 points; row 0's neighbour weights w(0, j) = exp(-||x_0 - x_j||^2), j = 1..4
    X = torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.0, 0.8], [1.0, 0.4], [1.2, 1.0]])
    w = np.exp(-((X[1:] - X[0]) ** 2).sum(1).numpy().astype(np.float64))
    expected = _wrs_probs(w, 2)
    gen = torch.Generator().manual_seed(0)
    N = 6000
    counts = dict.fromkeys(expected, 0)
    for _ in range(N):
        s = sample_neighbors(X, 2, generator=gen)
        assert s.shape == (5, 2)
        assert not (s == torch.arange(5)[:, None]).any()  # i never samples itself
        counts[tuple(int(j) - 1 for j in s[0])] += 1
    obs = np.array([counts[key] for key in expected])
    exp = np.array([expected[key] for key in expected]) * N
    # 12 cells, all expected counts > 100: the chi-square law holds; a right sampler fails w.p. 1e-6
    p_value = stats.chisquare(obs, exp).pvalue
    assert p_value > 1e-6, (obs, exp.round(1))


def test_perplexity_beta_scales_the_law():
    # beta -> large makes the draw the exact nearest-neighbour order
    X = torch.tensor([[0.0], [0.1], [0.5], [2.0]])
    s = sample_neighbors(X, 2, beta=torch.full((4,), 1e4), generator=torch.Generator())
    assert s[0].tolist() == [1, 2] and s[3].tolist() == [2, 1]


def test_relaxed_steps_sum_to_one_and_harden():
    gen = torch.Generator().manual_seed(1)
    H = torch.randn(7, 2, generator=gen, dtype=torch.float64)
    noise = -torch.empty(7, 7, dtype=torch.float64).exponential_(generator=gen).log()
    steps = _low_dim_steps(H, 3, 0.1, noise)
    assert steps.shape == (7, 3, 7)
    torch.testing.assert_close(steps.sum(-1), torch.ones(7, 3, dtype=torch.float64))
    assert float(steps.diagonal(dim1=0, dim2=2).abs().max()) == 0.0  # i itself never chosen
    hard = _low_dim_steps(H, 3, 1e-5, noise)
    scores = (-(torch.cdist(H, H) ** 2) + noise).fill_diagonal_(-math.inf)
    order = scores.topk(3, dim=-1).indices
    want = torch.nn.functional.one_hot(order, 7).double()
    torch.testing.assert_close(hard, want, atol=1e-6, rtol=0)


def test_rss_loss_vanishes_for_a_perfect_sharp_embedding():
    # well separated 1-d points; H = 100 X keeps every neighbour ranking and makes both samples
    # deterministic (nearest first): each term is -log(1 + bias) ~ 0. A shuffled one is costly.
    X = torch.tensor([[0.0], [1.0], [3.0], [7.0], [15.0]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    good = rss_sne_loss(X * 10, X * 100, k=2, tau=0.1, generator=gen)
    assert float(good) < 1e-6
    bad = rss_sne_loss(X * 10, X[[3, 0, 4, 1, 2]] * 100, k=2, tau=0.1, generator=gen)
    assert float(bad) > 5.0


def test_rss_gradient_reaches_the_network():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(20, 6, generator=gen)
    net = NeighborSNE(6, 2, hidden=(8,), seed=0)
    loss = rss_sne_loss(X, net(X) * 30, k=2, tau=1.0, generator=gen)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert float(grads[0].abs().sum()) > 0


def test_tsne_loss_matches_numpy_kl():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    H = rng.normal(size=(6, 2))
    P = tsne_affinities(X, perplexity=3.0)
    for alpha in (1.0, 2.5):
        num = (1 + ((H[:, None] - H[None]) ** 2).sum(-1) / alpha) ** (-(alpha + 1) / 2)
        np.fill_diagonal(num, 0)
        Q = num / num.sum()
        off = ~np.eye(6, dtype=bool)
        want = float((P[off] * np.log(P[off] / Q[off])).sum())
        got = parametric_tsne_loss(torch.from_numpy(P), torch.from_numpy(H), alpha=alpha)
        assert abs(float(got) - want) < 1e-10
    assert abs(P.sum() - 1) < 1e-9 and np.allclose(P, P.T) and (np.diag(P) == 0).all()


@pytest.mark.parametrize("perplexity", [5.0, 30.0])
def test_perplexity_calibration_hits_target(perplexity):
    X = np.random.default_rng(1).normal(size=(300, 10)) * np.array([0.1] * 5 + [10.0] * 5)
    P = conditional_affinities(X, perplexity=perplexity)
    H = -np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1)), 0), axis=1)
    assert np.abs(np.exp(H) - perplexity).max() < 1e-3
    np.testing.assert_allclose(P.sum(1), 1, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 25), seed=st.integers(0, 1000), perplexity=st.floats(1.0, 3.5))
def test_affinities_are_distributions(n, seed, perplexity):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    P = conditional_affinities(X, perplexity=perplexity)
    assert (P >= 0).all() and (np.diag(P) == 0).all()
    np.testing.assert_allclose(P.sum(1), 1, atol=1e-10)


@pytest.mark.parametrize("method", ["rss", "parametric_tsne"])
def test_training_lowers_the_loss(digits, method):
    X, _ = digits
    model = train_neighbor_sne(
        X,
        d=2,
        method=method,
        tau=1.0,
        epochs=15,
        batch_size=100,
        hidden=SMALL,
        lr=3e-3,
        perplexity=10.0,
        seed=0,
    )
    h = model.history_
    assert len(h) == 15 and min(h[-3:]) < h[0] - 0.1
    assert h[model.best_epoch_] == min(h)
    Y = model.transform(X)
    assert Y.shape == (200, 2) and Y.dtype == np.float32 and np.isfinite(Y).all()


def test_perplexity_scale_trains(digits):
    X, _ = digits
    model = train_neighbor_sne(
        X[:100],
        d=3,
        neighbor_scale="perplexity",
        perplexity=5.0,
        k=2,
        epochs=2,
        batch_size=50,
        hidden=SMALL,
        seed=0,
    )
    assert model.transform(X[:10]).shape == (10, 3)


def test_layerwise_pretraining_lowers_reconstruction_error(digits):
    X, _ = digits
    Xt = torch.from_numpy(X)
    model = NeighborSNE(64, 2, hidden=SMALL, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    one = pretrain_layerwise(model, Xt, epochs=1, batch_size=50, lr=3e-3, rng=rng, gen=gen)
    model2 = NeighborSNE(64, 2, hidden=SMALL, seed=0)
    ten = pretrain_layerwise(model2, Xt, epochs=10, batch_size=50, lr=3e-3, rng=rng, gen=gen)
    assert len(one) == 3 and all(b < a for a, b in zip(one, ten, strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    trained = train_neighbor_sne(
        X, epochs=1, batch_size=100, hidden=SMALL, pretrain_epochs=1, tau=1.0, seed=0
    )
    assert len(trained.pretrain_losses_) == 3


def test_seed_reproducibility(digits):
    X, _ = digits
    kw = dict(d=2, epochs=2, batch_size=100, hidden=SMALL, tau=1.0)
    a = train_neighbor_sne(X, seed=3, **kw).transform(X)
    b = train_neighbor_sne(X, seed=3, **kw).transform(X)
    c = train_neighbor_sne(X, seed=4, **kw).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_load_round_trip(tmp_path, digits):
    X, _ = digits
    model = NeighborSNE(64, 10, hidden=(16, 8), activation="sigmoid", seed=0)
    path = model.save(tmp_path / "sne.pt")
    again = NeighborSNE.load(path)
    assert again.config == model.config
    np.testing.assert_array_equal(model.transform(X), again.transform(X))
    with pytest.raises(ValueError, match="path"):
        NeighborSNE.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="path"):
        NeighborSNE.load(tmp_path / "junk.pt")


def test_transform_checks_columns():
    with pytest.raises(ValueError, match="Input 'X' of NeighborSNE.transform"):
        NeighborSNE(5, 2, hidden=(4,)).transform(np.ones((3, 4)))


def test_batches_too_small_for_k():
    with pytest.raises(ValueError, match="'k' parameter"):
        train_neighbor_sne(
            np.random.default_rng(0).random((10, 3)), k=5, batch_size=5, epochs=1, hidden=SMALL
        )
    # the perplexity (default 30) only constrains the batches where it is used
    X = np.random.default_rng(0).random((20, 3))
    assert train_neighbor_sne(X, batch_size=10, epochs=1, hidden=SMALL).transform(X).shape == (
        20,
        2,
    )
    with pytest.raises(ValueError, match="'perplexity' parameter"):
        train_neighbor_sne(X, method="parametric_tsne", batch_size=10, epochs=1, hidden=SMALL)
