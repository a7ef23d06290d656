"""Tests of the deep stochastic kNN (subsel.apps.knn): tiny images, a few steps each."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from subsel import ops
from subsel.apps.knn import (
    StochasticKNN,
    knn_loss,
    knn_predict,
    knn_scores,
    knn_selection,
    train_stochastic_knn,
)

SHAPE = (1, 12, 12)
SMALL = {"channels": (4, 8), "kernel_size": 3, "embedding_dim": 16}


def tiny_images(n=200, classes=3, seed=0):
    """Noise images with a bright horizontal band whose row depends on the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = (rng.normal(size=(n, *SHAPE)) * 0.5).astype(np.float32)
    for c in range(classes):
        X[y == c, 0, 4 * c : 4 * c + 3, :] += 1.5
    return X, y


def small_model(seed=0, k=5):
    return StochasticKNN(SHAPE, k=k, seed=seed, **SMALL)


def emb(b, m, p=4, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, p, generator=g, dtype=torch.float64) * scale,
        torch.randn(m, p, generator=g, dtype=torch.float64) * scale,
    )


def test_scores_are_negative_squared_distances():
    q, c = emb(3, 7)
    assert torch.allclose(knn_scores(q, c), -(torch.cdist(q, c) ** 2), atol=1e-9)


@pytest.mark.parametrize("relaxation", ["subset", "neuralsort"])
def test_deterministic_loss_at_tiny_tau_is_exact_topk_count(relaxation):
    """tau -> 0, no noise: minus the number of same-label points among the exact k nearest."""
    q, c = emb(6, 12, seed=1)
    yq = torch.tensor([0, 1, 2, 0, 1, 2])
    yc = torch.arange(12) % 3
    k = 4
    loss = knn_loss(
        q, c, yq, yc, k=k, tau=1e-4, relaxation=relaxation, stochastic=False, reduction="none"
    )
    d = torch.cdist(q, c).numpy()
    exact = [-(yc.numpy()[np.argsort(d[i])[:k]] == yq[i].item()).sum() for i in range(6)]
    np.testing.assert_allclose(loss.numpy(), exact, atol=1e-6)


def test_stochastic_loss_matches_brute_force_expectation():
    """At tiny tau the relaxed sample is an exact sample of p(S) ~ prod_j exp(s_j) (Prop. 1), so
    the mean loss over many samples estimates -E_S[#same-label in S], computed by enumeration."""
    q, c = emb(3, 6, seed=2, scale=0.6)
    yq = torch.tensor([0, 1, 0])
    yc = torch.tensor([0, 1, 1, 0, 1, 0])
    k, samples = 2, 6000
    g = torch.Generator().manual_seed(0)
    loss = knn_loss(q, c, yq, yc, k=k, tau=1e-3, num_samples=samples, generator=g, reduction="none")
    scores = knn_scores(q, c)
    for i in range(3):
        expect, total_p = 0.0, 0.0
        for S in itertools.combinations(range(6), k):
            mask = torch.zeros(6, dtype=torch.float64)
            mask[list(S)] = 1
            p = float(ops.subset_log_prob(scores[i], mask).exp())
            expect -= p * float((yc[list(S)] == yq[i]).sum())
            total_p += p
        assert total_p == pytest.approx(1.0, abs=1e-9)
        # per-sample count has std <= k / 2 = 1; 5 standard errors
        assert float(loss[i]) == pytest.approx(expect, abs=5 * 1.0 / samples**0.5)


@settings(max_examples=15, deadline=None)
@given(
    k=st.integers(1, 8),
    tau=st.sampled_from([0.05, 0.5, 1.0, 16.0]),
    relaxation=st.sampled_from(["subset", "neuralsort"]),
    stochastic=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_selection_rows_sum_to_k(k, tau, relaxation, stochastic, seed):
    q, c = emb(4, 8, seed=seed)
    a = knn_selection(
        q,
        c,
        k,
        tau=tau,
        relaxation=relaxation,
        stochastic=stochastic,
        num_samples=2,
        generator=torch.Generator().manual_seed(seed),
    )
    assert a.shape == (2, 4, 8)
    assert torch.all(a >= -1e-9)
    torch.testing.assert_close(a.sum(-1), torch.full((2, 4), float(k), dtype=a.dtype))


def test_stochastic_tiny_tau_is_k_hot_and_generator_reproducible():
    q, c = emb(5, 10, seed=3, scale=0.3)

    def run(s):
        return knn_selection(q, c, 3, tau=1e-4, generator=torch.Generator().manual_seed(s))

    a = run(7)
    assert torch.all((a < 1e-3) | (a > 1 - 1e-3))
    assert torch.equal(a, run(7))
    assert not torch.equal(a, run(8))


@pytest.mark.parametrize("relaxation", ["subset", "neuralsort"])
def test_gradient_reaches_every_layer(relaxation):
    model = small_model()
    X, y = tiny_images(40)
    e = model(torch.as_tensor(X))
    loss = knn_loss(
        e[:10],
        e[10:],
        y[:10],
        y[10:],
        k=5,
        tau=1.0,
        relaxation=relaxation,
        generator=torch.Generator().manual_seed(0),
    )
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_loss_falls_in_a_custom_loop():
    """knn_loss as a drop-in loss: a few Adam steps on one batch of separable images."""
    model = small_model(seed=1)
    X, y = tiny_images(90, seed=1)
    X = torch.as_tensor(X)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(12):
        e = model(X)
        loss = knn_loss(e[:30], e[30:], y[:30], y[30:], k=5, tau=1.0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 1.5  # in [-5, 0]; chance is -5/3


@pytest.mark.parametrize("relaxation", ["subset", "neuralsort"])
def test_training_learns_and_is_reproducible(relaxation):
    X, y = tiny_images(200, seed=2)
    kw = dict(
        k=5,
        m=50,
        tau=1.0,
        relaxation=relaxation,
        epochs=4,
        batch_size=50,
        lr=3e-3,
        image_shape=SHAPE,
        X_val=X[150:],
        y_val=y[150:],
    )
    a = train_stochastic_knn(X[:150], y[:150], seed=3, model=small_model(seed=4), **kw)
    b = train_stochastic_knn(X[:150], y[:150], seed=3, model=small_model(seed=4), **kw)
    c = train_stochastic_knn(X[:150], y[:150], seed=5, model=small_model(seed=4), **kw)
    for (na, ta), (_, tb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(ta, tb), na
    assert not all(
        torch.equal(ta, tc)
        for ta, tc in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert len(a.history) == 4 and a.best_epoch is not None
    assert max(h["val_accuracy"] for h in a.history) >= 0.8  # chance is 1/3
    acc = np.mean(a.predict(X[150:], X[:150], y[:150], k=5) == y[150:])
    assert acc == pytest.approx(a.history[a.best_epoch]["val_accuracy"])


def test_default_model_is_seeded_and_runs_on_28x28():
    rng = np.random.default_rng(0)
    X = rng.random((130, 784), dtype=np.float32)
    y = rng.integers(0, 2, 130)
    a = train_stochastic_knn(X, y, k=3, m=20, epochs=1, batch_size=100, seed=1)
    b = train_stochastic_knn(X, y, k=3, m=20, epochs=1, batch_size=100, seed=1)
    assert a.image_shape == (1, 28, 28) and a.embedding_dim == 500
    assert all(
        torch.equal(u, v)
        for u, v in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert a.predict(X[:7], X, y).shape == (7,)


def test_image_layouts_give_the_same_embedding():
    model = small_model()
    X, _ = tiny_images(9)
    e4 = model.embed(X)
    torch.testing.assert_close(model.embed(X.reshape(9, -1)), e4)
    torch.testing.assert_close(model.embed(X[:, 0]), e4)
    torch.testing.assert_close(model(torch.as_tensor(X)).detach(), e4)
    assert e4.shape == (9, 16)


def test_save_load_round_trip(tmp_path):
    model = small_model(seed=6, k=3)
    X, y = tiny_images(30)
    path = model.save(tmp_path / "knn.pt")
    back = StochasticKNN.load(path)
    assert back.config() == model.config()
    torch.testing.assert_close(back.embed(X), model.embed(X), rtol=0, atol=0)
    np.testing.assert_array_equal(
        back.predict(X[:10], X[10:], y[10:]), model.predict(X[:10], X[10:], y[10:])
    )
    other = StochasticKNN(SHAPE, channels=(3, 8), kernel_size=3, embedding_dim=16)
    from subsel.apps._weights import load_weights

    with pytest.raises(ValueError, match="another architecture"):
        load_weights(other, path, func="t")
    with pytest.raises(ValueError, match="path"):
        StochasticKNN.load(tmp_path / "missing.pt")


def test_knn_predict_matches_brute_force_vote():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(60, 3))
    q = rng.normal(size=(25, 3))
    labels = rng.choice([3, 7, 9], size=60)
    for k in (1, 4, 7):
        pred = knn_predict(torch.as_tensor(q), torch.as_tensor(ref), labels, k)
        d = ((q[:, None] - ref[None]) ** 2).sum(-1)
        for i in range(25):
            near = labels[np.argsort(d[i])[:k]]
            counts = {lab: (near == lab).sum() for lab in set(near)}
            top = max(counts.values())
            first_tied = next(lab for lab in near if counts[lab] == top)
            assert pred[i] == first_tied


def test_topk_and_neuralsort_agree_deterministically_at_tiny_tau():
    q, c = emb(4, 9, seed=5)
    a = knn_selection(q, c, 3, tau=1e-4, stochastic=False)
    b = knn_selection(q, c, 3, tau=1e-4, relaxation="neuralsort", stochastic=False)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_messages():
    q, c = emb(2, 5)
    with pytest.raises(ValueError, match=r"The 'k' parameter of knn_selection .*m=5"):
        knn_selection(q, c, 6)
    with pytest.raises(ValueError, match="Input 'candidates' of knn_loss"):
        knn_loss(q, c[:, :2], [0, 1], [0] * 5)
    X, y = tiny_images(20)
    with pytest.raises(ValueError, match=r"The 'm' parameter of train_stochastic_knn"):
        train_stochastic_knn(X, y, m=15, batch_size=10, model=small_model())
    with pytest.raises(ValueError, match="Input 'X' of train_stochastic_knn must have shape"):
        train_stochastic_knn(X[:, :, :10], y, model=small_model())
    with pytest.raises(ValueError, match="image_shape"):
        StochasticKNN((1, 12, 12))  # 5x5 kernels do not fit twice


def test_deterministic_sgd_training_with_a_reference_subset():
    """stochastic=False (relaxed top-k), Grover's SGD and a validation reference subset."""
    X, y = tiny_images(120, seed=3)
    seen = []
    model = train_stochastic_knn(
        X[:100],
        y[:100],
        k=3,
        m=30,
        stochastic=False,
        optimizer="sgd",
        lr=0.05,
        epochs=2,
        batch_size=25,
        seed=0,
        model=small_model(seed=1),
        X_val=X[100:],
        y_val=y[100:],
        n_ref=40,
        callback=lambda epoch, mod, loss: seen.append((epoch, loss)),
    )
    assert [e for e, _ in seen] == [0, 1]
    assert all(-3 <= loss <= 0 for _, loss in seen)
    assert all(0 <= h["val_accuracy"] <= 1 for h in model.history)
    assert not model.training
