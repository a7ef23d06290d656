"""Agreement of subsel's valuation baselines with the reference libraries pyDVL and captum.

``subsel.valuation`` implements KNN-Shapley, TracIn-CP and influence functions itself (closed forms,
no optional dependency). These tests run the same definitions in the well-kept libraries on small
problems and check that the numbers agree:

- :class:`KNNShapley` vs ``pydvl.valuation.methods.KNNShapleyValuation`` (exact, Jia et al. 2019);
- :class:`TracInCP` vs ``captum.influence.TracInCP`` on the checkpoints our fit saved;
- :class:`InfluenceFunction` vs ``pydvl.influence.torch.DirectInfluence`` at our fitted optimum.

Each test is skipped when its peer library is not importable (neither is in the ``dev`` extra; note
that pyDVL 0.10 declares ``numpy<2``, so pip downgrades numpy when it installs it, although what
is used here runs on numpy 2; its ``pydvl.influence`` also needs ``zarr``, its ``influence`` extra).
captum is in the ``bench`` extra; install pyDVL beside numpy 2 without its pin:
``pip install --no-deps 'pydvl==0.10.*' more-itertools pyDeprecate 'numcodecs<0.16' 'zarr>=3,<4'
donfig google-crc32c``.
Everything runs in float64 (ours computes in float64), so the tolerances are near round-off.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from subsel.valuation.baselines import InfluenceFunction, KNNShapley, TracInCP

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gauss(n, m, d, C, seed, labels=None):
    """Continuous Gaussian features (no distance ties, almost surely), C classes, shifted means."""
    r = np.random.default_rng(seed)
    labels = np.arange(C) if labels is None else np.asarray(labels)
    centres = r.normal(scale=1.5, size=(C, d))
    ci = r.integers(0, C, n)
    cv = r.integers(0, C, m)
    X = centres[ci] + r.normal(size=(n, d))
    Xv = centres[cv] + r.normal(size=(m, d))
    return X, labels[ci], Xv, labels[cv]


def _import_pydvl(module):
    with warnings.catch_warnings():  # pyDVL 0.10 emits FutureWarnings from its own decorators
        warnings.simplefilter("ignore")
        return pytest.importorskip(
            module,
            reason="pyDVL is not importable (pip install 'pydvl[influence]'); peer check skipped",
        )


# ---------------------------------------------------------------------------------------------
# KNN-Shapley vs pyDVL's KNNShapleyValuation
# ---------------------------------------------------------------------------------------------
def _pydvl_knn_shapley(X, y, Xv, yv, k):
    """pyDVL's exact KNN-Shapley values (n,), in training-index order."""
    methods = _import_pydvl("pydvl.valuation.methods")
    from pydvl.valuation.dataset import Dataset
    from sklearn.neighbors import KNeighborsClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valuation = methods.KNNShapleyValuation(
            KNeighborsClassifier(n_neighbors=k),  # minkowski p=2: Euclidean, like ours
            test_data=Dataset(Xv, yv),
            progress=False,
        )
        valuation.fit(Dataset(X, y))
    res = valuation.result
    out = np.empty(X.shape[0])
    out[np.asarray(res.indices, dtype=int)] = res.values
    return out


def _brute_knn_shapley(X, y, Xv, yv, k):
    """Shapley values of U(S) = mean_val (1/k) #{label matches among the min(k,|S|) nearest in S},
    by enumerating every subset (small n only)."""
    n = X.shape[0]
    d2 = ((Xv[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d2, axis=1, kind="stable")

    def utility(S):
        if not S:
            return 0.0
        total = 0.0
        for j in range(Xv.shape[0]):
            near = [i for i in order[j] if i in S][:k]
            total += sum(y[i] == yv[j] for i in near) / k
        return total / Xv.shape[0]

    phi = np.zeros(n)
    for i in range(n):
        rest = [t for t in range(n) if t != i]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for S in itertools.combinations(rest, size):
                s = set(S)
                phi[i] += w * (utility(s | {i}) - utility(s))
    return phi, utility(set(range(n)))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_knn_shapley_matches_pydvl(k):
    """n >= k: same utility (Jia et al.'s unweighted K-NN accuracy, divided by k, averaged over
    the validation points), same Euclidean metric, no distance ties -> identical values.

    Labels are non-contiguous integers (ours encodes them as indices; pyDVL compares raw labels).
    """
    X, y, Xv, yv = _gauss(40, 15, 3, 3, seed=k, labels=[2, 5, 9])
    ours = KNNShapley(k=k).fit(X, y, Xv, yv).values_
    theirs = _pydvl_knn_shapley(X, y, Xv, yv, k)
    assert np.abs(ours).max() > 1e-3  # not a trivially zero comparison
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_knn_shapley_fewer_points_than_k_differs_from_pydvl_by_a_constant():
    """n < k: the definitions part, and ours is the exact one.

    With fewer training points than k every point is always a neighbour, so U is additive and the
    Shapley value of a_i is 1[y_i = t] / k (our recursion's start ``min(k, n) / (k n)``). pyDVL
    starts its recursion at the farthest point with ``1[y = t] / n`` (Jia et al.'s Theorem 1 as
    printed, which assumes n >= k) and steps by ``1 / max(k, i)``, so for each validation point all
    its values are shifted by ``1[y(a_n) = t] (1/n - 1/k)``. Averaged: theirs = ours + c, one
    constant for every training point, with c = (1/n - 1/k) * (share of validation points whose
    farthest training point matches their label); pyDVL's values then break efficiency.
    """
    n, k = 6, 9
    X, y, Xv, yv = _gauss(n, 5, 2, 2, seed=12)
    ours = KNNShapley(k=k).fit(X, y, Xv, yv).values_
    theirs = _pydvl_knn_shapley(X, y, Xv, yv, k)
    brute, u_all = _brute_knn_shapley(X, y, Xv, yv, k)
    np.testing.assert_allclose(ours, brute, rtol=0, atol=1e-12)
    assert ours.sum() == pytest.approx(u_all, abs=1e-12)  # efficiency
    d2 = ((Xv[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    farthest_matches = np.mean(y[np.argmax(d2, axis=1)] == yv)
    c = (1.0 / n - 1.0 / k) * farthest_matches
    assert c != 0.0
    np.testing.assert_allclose(theirs - ours, np.full(n, c), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [2, 5])
def test_knn_shapley_brute_force_when_n_at_least_k(k):
    """The common case n >= k against subset enumeration (no ties: the case pyDVL agrees on)."""
    X, y, Xv, yv = _gauss(7, 4, 2, 2, seed=20 + k)
    ours = KNNShapley(k=k).fit(X, y, Xv, yv).values_
    brute, _ = _brute_knn_shapley(X, y, Xv, yv, k)
    np.testing.assert_allclose(ours, brute, rtol=0, atol=1e-12)


def test_knn_shapley_distance_ties_broken_by_training_index():
    """Why the pyDVL comparisons use tie-free data: with equal distances the K-NN utility itself
    depends on the tie-breaking. Ours breaks ties by training index (documented), and is then exact
    (subset enumeration with the same rule); pyDVL inherits scikit-learn's ``kneighbors`` order,
    which is not the index order, so on tied data the two value vectors (and even U(all), their
    sum) differ. Integer grid points: the distances are exact, the ties real.
    """
    r = np.random.default_rng(4)
    X = r.integers(0, 2, size=(7, 2)).astype(float)
    y = r.integers(0, 2, 7)
    Xv = r.integers(0, 2, size=(4, 2)).astype(float)
    yv = r.integers(0, 2, 4)
    ours = KNNShapley(k=2).fit(X, y, Xv, yv).values_
    brute, u_all = _brute_knn_shapley(X, y, Xv, yv, 2)
    np.testing.assert_allclose(ours, brute, rtol=0, atol=1e-12)
    assert ours.sum() == pytest.approx(u_all, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# TracIn-CP vs captum.influence.TracInCP
# ---------------------------------------------------------------------------------------------
def _captum_tracin_on_our_checkpoints(est, X, y, Xv, yv, last_only):
    """captum's TracInCP scores (n,) on ``est.checkpoints_``, averaged over the validation points.

    captum's ``influence((Xv, yv))`` is the (m, n) matrix sum_c lr_c <grad l(val_j; w_c),
    grad l(train_i; w_c)> (per-example cross-entropy gradients); ``lr_c`` is what the checkpoint
    loader returns, here our constant ``lr``.
    """
    pytest.importorskip(
        "captum.influence",
        reason="captum is not installed (pip install captum); peer check skipped",
    )
    import torch
    from captum.influence import TracInCP as CaptumTracInCP
    from torch import nn

    d = X.shape[1]
    C = est.classes_.size

    class Net(nn.Module):  # captum wants every layer as an attribute
        def __init__(self, hidden):
            super().__init__()
            self.hidden = hidden
            if hidden:
                self.fc1 = nn.Linear(d, hidden)
                self.relu = nn.ReLU()
            self.fc2 = nn.Linear(hidden or d, C)

        def forward(self, x):
            return self.fc2(self.relu(self.fc1(x)) if self.hidden else x)

    hidden = est.hidden
    model = Net(hidden).double()
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"][(0 if hidden else 2) :]
    states = [
        {nm: torch.as_tensor(a, dtype=torch.float64) for nm, a in zip(names, ck, strict=True)}
        for ck in est.checkpoints_
    ]

    def load(net, state):
        net.load_state_dict(state)
        return float(est.lr)

    enc = np.searchsorted(est.classes_, y)
    enc_v = np.searchsorted(est.classes_, yv)
    train = torch.utils.data.TensorDataset(
        torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(enc)
    )
    tracin = CaptumTracInCP(
        model,
        train,
        checkpoints=states,
        checkpoints_load_func=load,
        layers=["fc2"] if last_only else None,
        loss_fn=nn.CrossEntropyLoss(reduction="none"),
        batch_size=X.shape[0],
    )
    scores = tracin.influence((torch.as_tensor(Xv, dtype=torch.float64), torch.as_tensor(enc_v)))
    return scores.detach().numpy().mean(0)


@pytest.mark.parametrize(
    ("hidden", "gradients"),
    [(0, "all"), (0, "last"), (6, "all"), (6, "last")],
)
def test_tracin_matches_captum_on_our_checkpoints(hidden, gradients):
    """Ours: value_i = sum_c lr <grad l(z_i; w_c), mean_j grad l(z_j^val; w_c)> at the checkpoints
    our SGD saved (``checkpoints_``), gradients w.r.t. all parameters ("all": double-backward JVP)
    or the last linear layer's weight and bias ("last": factored closed form). captum: the same
    checkpoints loaded into an equivalent nn.Module (float64), ``layers=None`` resp. ``["fc2"]``,
    per-example cross-entropy, learning rate ``lr`` per checkpoint; its (m, n) scores averaged
    over the m validation points. Equal up to float64 round-off.
    """
    X, y, Xv, yv = _gauss(30, 12, 4, 3, seed=3, labels=[1, 4, 6])
    est = TracInCP(
        hidden=hidden, epochs=6, n_checkpoints=3, lr=0.2, batch_size=8, gradients=gradients, seed=0
    ).fit(X, y, Xv, yv)
    assert len(est.checkpoints_) == 3
    theirs = _captum_tracin_on_our_checkpoints(est, X, y, Xv, yv, last_only=gradients == "last")
    ours = est.values_
    assert np.abs(ours).max() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12 * np.abs(theirs).max())


# ---------------------------------------------------------------------------------------------
# influence functions vs pyDVL's DirectInfluence
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "l2", "max_iter", "rtol"),
    [("direct", 0.05, 1, 1e-9), ("cg", 0.05, 200, 1e-9), ("lissa", 0.5, 2000, 1e-7)],
)
def test_influence_matches_pydvl_direct_influence(method, l2, max_iter, rtol):
    """Ours: values_i = g_val^T (H + (l2 + damping) I)^{-1} g_i with H the Hessian of the mean
    training cross-entropy at our fitted optimum (the l2 term's Hessian is l2 I, bias included),
    g_i the cross-entropy gradient of training point i, g_val the mean validation gradient;
    higher = up-weighting z_i lowers the validation loss.

    pyDVL: ``DirectInfluence(nn.Linear(d, C), F.cross_entropy, regularization=l2 + damping)``
    fitted on the whole training set as one batch (Hessian of the mean loss + regularization * I,
    every parameter, bias included), with our fitted [W, b] loaded into the layer.
    ``influences(Xv, yv, X, y, mode=up)`` is the (m, n) matrix <H^{-1} grad l(val_j),
    grad l(train_i)>: no minus sign, so it has our sign ("higher = more valuable"); its mean over
    the m validation points is our value. Both float64: the direct solve agrees to round-off
    (condition number of H well under 1e3), CG (rtol 1e-12, p = 15 unknowns) likewise; full-batch
    LiSSA stops when a step changes its estimate by < 1e-12 relative, leaving an error of about
    that times scale / lambda_min(H) (< 1e2 here; l2 = 0.5 keeps LiSSA's iterations few), so 1e-7
    relative on the values is safe.
    """
    torch = pytest.importorskip("torch")
    infl_mod = _import_pydvl("pydvl.influence.torch")
    from pydvl.influence import InfluenceMode

    X, y, Xv, yv = _gauss(40, 10, 4, 3, seed=5)
    damping = 0.01
    est = InfluenceFunction(
        method=method, l2=l2, damping=damping, rtol=1e-12, max_iter=max_iter, seed=0
    ).fit(X, y, Xv, yv)
    assert est.grad_norm_ < 1e-6  # at the optimum (both sides use these parameters)
    C, d = est.params_.shape[0], X.shape[1]
    model = torch.nn.Linear(d, C).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(est.params_[:, :d]))
        model.bias.copy_(torch.as_tensor(est.params_[:, d]))
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(Xt, yt), batch_size=X.shape[0]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = infl_mod.DirectInfluence(
            model, torch.nn.functional.cross_entropy, regularization=l2 + damping
        ).fit(loader)
        scores = peer.influences(torch.as_tensor(Xv), torch.as_tensor(yv), Xt, yt, InfluenceMode.Up)
    theirs = scores.detach().numpy().mean(0)
    ours = est.values_
    assert np.abs(ours).max() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * 1e-3 * np.abs(theirs).max())
