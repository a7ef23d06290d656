"""HostCP: the budget, reproducibility, exact resume from a checkpoint, learning, the old-set
nearest-neighbour search against brute force, the look-ahead gradient (eq. 12), bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from subsel.valuation._hostcp_steps import _lookahead, _nearest_old
from subsel.valuation.hostcp import HostCP

CENTERS = ([-3.0, 0.0], [3.0, 0.0], [0.0, 4.0])


def blobs(seed: int, per_class: int = 40, n_flip: int = 12):
    """Three Gaussian blobs (n = 3 * per_class) with ``n_flip`` labels moved to the next class,
    and a clean test set of 30 points per class."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(c, 1.0, (per_class, 2)) for c in CENTERS])
    y = np.repeat(np.arange(3), per_class)
    flip = rng.choice(y.size, n_flip, replace=False)
    y_noisy = y.copy()
    y_noisy[flip] = (y[flip] + 1) % 3
    Xt = np.concatenate([rng.normal(c, 1.0, (30, 2)) for c in CENTERS])
    yt = np.repeat(np.arange(3), 30)
    return X, y_noisy, Xt, yt, flip


# small minibatches and a small old-set cap, so that the kNN search of O(t) is exercised
FAST = {"batch_size": 20, "max_old": 5, "epochs": 2}


@pytest.fixture(scope="module")
def data():
    return blobs(0)


@pytest.fixture(scope="module")
def fitted(data):
    X, y, Xt, yt, _ = data
    return HostCP(0.2, seed=0, **FAST).fit(X, y, Xt, yt)


def test_selects_the_budget(fitted, data):
    n = data[0].shape[0]
    # the final selection is the top round(gamma n) of the scores: exactly the budget
    assert fitted.selected_.shape == (n,) and fitted.selected_.dtype == bool
    assert int(fitted.selected_.sum()) == round(0.2 * n)
    s = fitted.scores_
    assert s.shape == (n,) and np.all((s >= 0) & (s <= 1 + 1e-6))
    # the selected points are the best-scored ones
    assert s[fitted.selected_].min() >= s[~fitted.selected_].max()
    # the online selection O (u >= xi) never exceeds the LP budget of its minibatches
    n_batches = int(np.ceil(n / FAST["batch_size"]))
    assert 0 < fitted.last_selected_.sum() <= n_batches * 0.2 * FAST["batch_size"] + 1e-9
    for h in fitted.history_:
        assert 0 < h["n_selected"] <= n_batches * 0.2 * FAST["batch_size"] + 1e-9
    freq = fitted.selection_frequency_
    assert np.all((freq >= 0) & (freq <= 1)) and freq.max() > 0
    # a point with u >= xi in every epoch has a mean u >= xi
    assert np.all(s[freq == 1.0] >= 0.9 - 1e-6)
    assert [h["epoch"] for h in fitted.history_] == [1, 2]
    assert isinstance(fitted.embedding_, torch.nn.Module)
    assert isinstance(fitted.model_, torch.nn.Module)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_budget_other_fractions(data, fraction):
    X, y, Xt, yt, _ = data
    sel = HostCP(fraction, seed=1, epochs=1).fit(X, y, Xt, yt)
    assert int(sel.selected_.sum()) == round(fraction * X.shape[0])


def test_same_seed_same_result(fitted, data):
    X, y, Xt, yt, _ = data
    again = HostCP(0.2, seed=0, **FAST).fit(X, y, Xt, yt)
    np.testing.assert_array_equal(again.selected_, fitted.selected_)
    np.testing.assert_array_equal(again.scores_, fitted.scores_)
    other = HostCP(0.2, seed=1, **FAST).fit(X, y, Xt, yt)
    assert not np.array_equal(other.scores_, fitted.scores_)


def test_global_torch_rng_untouched(data):
    X, y, Xt, yt, _ = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    HostCP(0.2, seed=0, epochs=1).fit(X, y, Xt, yt)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_resume_matches_straight_run(fitted, data, tmp_path):
    X, y, Xt, yt, _ = data
    first = HostCP(0.2, seed=0, checkpoint_dir=tmp_path, **{**FAST, "epochs": 1})
    first.fit(X, y, Xt, yt)
    path = tmp_path / "hostcp_checkpoint.pt"
    state = torch.load(path, weights_only=True)  # tensors and plain containers only
    assert state["epoch"] == 1
    resumed = first.set_params(epochs=2).fit(X, y, Xt, yt, resume=True)
    np.testing.assert_array_equal(resumed.selected_, fitted.selected_)
    np.testing.assert_array_equal(resumed.scores_, fitted.scores_)
    np.testing.assert_array_equal(resumed.last_selected_, fitted.last_selected_)
    for a, b in zip(resumed.history_, fitted.history_, strict=True):
        assert a["loss"] == b["loss"] and a["test_accuracy"] == b["test_accuracy"]
    for (ka, a), (kb, b) in zip(
        resumed.model_.state_dict().items(), fitted.model_.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(a, b)
    assert torch.load(path, weights_only=True)["epoch"] == 2
    # nothing left to do: resuming a finished run returns the same result
    done = first.fit(X, y, Xt, yt, resume=True)
    np.testing.assert_array_equal(done.scores_, fitted.scores_)


def test_resume_refuses_other_data_or_settings(data, tmp_path):
    X, y, Xt, yt, _ = data
    HostCP(0.2, seed=0, checkpoint_dir=tmp_path, epochs=1).fit(X, y, Xt, yt)
    with pytest.raises(ValueError, match="other data"):
        HostCP(0.2, seed=0, checkpoint_dir=tmp_path, epochs=2).fit(X + 1, y, Xt, yt, resume=True)
    with pytest.raises(ValueError, match="other settings.*xi"):
        HostCP(0.2, xi=0.8, seed=0, checkpoint_dir=tmp_path, epochs=2).fit(
            X, y, Xt, yt, resume=True
        )
    with pytest.raises(ValueError, match="'resume' parameter"):
        HostCP(0.2, seed=0).fit(X, y, Xt, yt, resume=True)


def test_learns(data):
    X, y, Xt, yt, _ = data
    sel = HostCP(0.2, seed=3, epochs=4).fit(X, y, Xt, yt)
    losses = [h["test_loss"] for h in sel.history_]
    # separated blobs: test loss falls and accuracy is far above chance (1/3)
    assert losses[-1] < 0.5 * losses[0]
    assert sel.history_[-1]["test_accuracy"] >= 0.85
    assert all(h["seconds"] >= 0 for h in sel.history_)


def test_selected_variant_and_exact_knn_run(data):
    X, y, Xt, yt, _ = data
    sel = HostCP(0.2, seed=0, model_loss="selected", knn="exact", **FAST).fit(X, y, Xt, yt)
    assert int(sel.selected_.sum()) == 24
    assert np.isfinite(sel.history_[-1]["loss"])


def test_no_test_set_uses_training_data(data):
    X, y, _, _, _ = data
    sel = HostCP(0.2, seed=0, epochs=1, progress=True).fit(X, y)
    assert int(sel.selected_.sum()) == 24
    assert 0.0 <= sel.history_[0]["test_accuracy"] <= 1.0


@pytest.mark.parametrize("use_faiss", [False, True])
def test_nearest_old_matches_brute_force(use_faiss):
    faiss = pytest.importorskip("faiss") if use_faiss else None
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 3, generator=g)
    phi = torch.nn.Linear(3, 4)
    idx = np.arange(10)
    old_idx = np.arange(10, 60)
    got = _nearest_old(phi, lambda ids: X[torch.as_tensor(ids)], idx, old_idx, 12, faiss)
    # brute force: rank by rank over the new points, the first 12 distinct old points
    with torch.no_grad():
        h = phi(X)
    d = (h[idx, None, :] - h[None, old_idx, :]).abs().sum(-1).numpy()
    ranks = np.argsort(d, axis=1, kind="stable")
    want: list[int] = []
    for r in range(ranks.shape[1]):
        for i in range(ranks.shape[0]):
            o = int(old_idx[ranks[i, r]])
            if o not in want and len(want) < 12:
                want.append(o)
    np.testing.assert_array_equal(got, np.sort(want))


def test_lookahead_gradient_is_eq12():
    """d V / d u_j = -lr / k * grad l_test(theta_hat) . grad l_j(theta): the look-ahead used by
    fit (create_graph through the selected loss) against the closed form of eq. 12."""
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    x, y = torch.randn(6, 3, generator=g), torch.randint(0, 2, (6,), generator=g)
    xt, yt = torch.randn(8, 3, generator=g), torch.randint(0, 2, (8,), generator=g)
    u = torch.rand(6, generator=g).requires_grad_()
    lr, k = 0.3, 1.2
    params = dict(model.named_parameters())
    ce = torch.nn.functional.cross_entropy
    losses, loss, grads, value_loss = _lookahead(model, params, u, x, y, xt, yt, lr, k)
    torch.testing.assert_close(loss, (u * ce(model(x), y, reduction="none")).sum() / k)
    (du,) = torch.autograd.grad(value_loss, u)
    # closed form
    flat = lambda gs: torch.cat([t.reshape(-1) for t in gs])  # noqa: E731
    lhat = {n: p - lr * gr.detach() for (n, p), gr in zip(params.items(), grads, strict=True)}
    lhat = {n: t.detach().requires_grad_() for n, t in lhat.items()}
    lt = ce(torch.func.functional_call(model, lhat, (xt,)), yt)
    g_test = flat(torch.autograd.grad(lt, list(lhat.values())))
    want = torch.stack(
        [
            -lr
            / k
            * g_test
            @ flat(torch.autograd.grad(losses[j], list(params.values()), retain_graph=True))
            for j in range(6)
        ]
    )
    torch.testing.assert_close(du, want, rtol=1e-5, atol=1e-7)


def test_params_protocol():
    sel = HostCP(0.3, xi=0.8, epochs=2)
    params = sel.get_params()
    assert params["budget_fraction"] == 0.3 and params["xi"] == 0.8 and params["epochs"] == 2
    sel.set_params(lr=0.1)
    assert sel.lr == 0.1
    assert "xi=0.8" in repr(sel)
    sklearn_base = pytest.importorskip("sklearn.base")
    clone = sklearn_base.clone(sel)
    assert clone.get_params() == sel.get_params()


@pytest.mark.parametrize(
    ("kwargs", "match", "exc"),
    [
        ({"budget_fraction": 0.0}, "'budget_fraction' parameter of HostCP", ValueError),
        ({"budget_fraction": 1.5}, "'budget_fraction' parameter of HostCP", ValueError),
        ({"xi": 0.0}, "'xi' parameter of HostCP", ValueError),
        ({"xi": 1.2}, "'xi' parameter of HostCP", ValueError),
        ({"epochs": 0}, "'epochs' parameter", ValueError),
        ({"batch_size": 1}, "'batch_size' parameter", ValueError),
        ({"budget_fraction": 0.01}, "at least 1 / batch_size", ValueError),
        ({"model_loss": "mean"}, "'model_loss' parameter", ValueError),
        ({"knn": "lsh"}, "'knn' parameter", ValueError),
        ({"model": "mlp"}, "'model' parameter", TypeError),
        ({"device": "nonsense"}, "'device' parameter", ValueError),
        ({"seed": -1}, "'seed' parameter", ValueError),
    ],
)
def test_bad_settings(data, kwargs, match, exc):
    X, y, Xt, yt, _ = data
    sel = HostCP(**kwargs)  # stored as given; checked in fit
    with pytest.raises(exc, match=match):
        sel.fit(X, y, Xt, yt)


def test_bad_data(data):
    X, y, Xt, yt, _ = data
    with pytest.raises(ValueError, match=r"Input 'y' of HostCP must have shape \(120,\)"):
        HostCP().fit(X, y[:-1], Xt, yt)
    with pytest.raises(ValueError, match=r"Input 'y_test' of HostCP holds 1 label\(s\) absent"):
        HostCP().fit(X, y, Xt, np.where(yt == 2, 7, yt))
    with pytest.raises(ValueError, match="Input 'X_test' of HostCP has 3 columns"):
        HostCP().fit(X, y, np.c_[Xt, Xt[:, 0]], yt)
    with pytest.raises(ValueError, match="Input 'y_test' of HostCP is None"):
        HostCP().fit(X, y, Xt, None)
    with pytest.raises(ValueError, match="Input 'X' of HostCP contains NaN"):
        HostCP().fit(np.where(X > 2, np.nan, X), y, Xt, yt)
    with pytest.raises(ValueError, match="Input 'y' of HostCP has a single class"):
        HostCP().fit(X, np.zeros_like(y), Xt, np.zeros_like(yt))
    with pytest.raises(ValueError, match="Input 'y' of HostCP must hold integer class labels"):
        HostCP().fit(X, y + 0.5, Xt, yt)
    with pytest.raises(TypeError, match="Input 'y' of HostCP must hold integer class labels"):
        HostCP().fit(X, y.astype(str), Xt, yt)


def test_mass_relaxation_keeps_the_budget_and_the_seed(data):
    X, y, Xt, yt, _ = data
    n = X.shape[0]
    a = HostCP(0.2, seed=3, relaxation="mass", **FAST).fit(X, y, Xt, yt)
    b = HostCP(0.2, seed=3, relaxation="mass", **FAST).fit(X, y, Xt, yt)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert int(a.selected_.sum()) == round(0.2 * n)
    # the mass cap: sum_ij z_new <= gamma b per minibatch, and u_j >= xi needs a column mass
    # >= xi, so at most gamma b / xi points a minibatch join O
    n_batches = int(np.ceil(n / FAST["batch_size"]))
    for h in a.history_:
        assert 0 < h["n_selected"] <= n_batches * 0.2 * FAST["batch_size"] / 0.9 + 1e-9
    # it is another program than the budget relaxation: other scores on the same seed
    c = HostCP(0.2, seed=3, **FAST).fit(X, y, Xt, yt)
    assert not np.allclose(a.scores_, c.scores_)


def test_selector_inputs_rows():
    from subsel.valuation._hostcp_steps import _selector_input

    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    model = torch.nn.Linear(3, 3)
    ids = np.array([4, 0, 2])
    assert torch.equal(_selector_input("features", X, y, model, 3)(ids), X[ids])
    rows = _selector_input("features+label+loss", X, y, model, 3)(ids)
    assert rows.shape == (3, 3 + 3 + 1)
    assert torch.equal(rows[:, :3], X[ids])
    assert torch.equal(rows[:, 3:6], torch.eye(3)[y[ids]])
    want = torch.nn.functional.cross_entropy(model(X[ids]), y[ids], reduction="none")
    torch.testing.assert_close(rows[:, 6], want.detach())
    assert not rows.requires_grad  # no gradient reaches the model through phi's input


@pytest.mark.parametrize("mode,extra", [("features+label", 3), ("features+label+loss", 4)])
def test_label_aware_selector(data, mode, extra):
    X, y, Xt, yt, _ = data
    sel = HostCP(0.2, seed=0, selector_inputs=mode, **FAST).fit(X, y, Xt, yt)
    first = next(m for m in sel.embedding_.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == X.shape[1] + extra
    assert int(sel.selected_.sum()) == round(0.2 * X.shape[0])
    again = HostCP(0.2, seed=0, selector_inputs=mode, **FAST).fit(X, y, Xt, yt)
    np.testing.assert_array_equal(again.scores_, sel.scores_)
    # a given embedding that does not take the extra columns is refused by name
    with pytest.raises(ValueError, match="'embedding' parameter of HostCP.*input columns"):
        HostCP(0.2, seed=0, selector_inputs=mode, embedding=torch.nn.Linear(2, 4), **FAST).fit(
            X, y, Xt, yt
        )
