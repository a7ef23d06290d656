"""TracIn-CP (private; the gradient-based baseline of checkpoints); influence functions are in
``_influence.py``."""

from __future__ import annotations

import numpy as np

from .._progress import progress_range
from .._validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)
from ._valuation_base import (
    _import_torch,
    _torch_generator,
    _Valuation,
)

__all__ = ["TracInCP"]


def _init_params(torch, d: int, C: int, hidden: int, gen, dtype) -> list:
    """Parameters [W1, b1,] W, b with W (C, m): zeros for logistic regression, He init for MLP."""
    if hidden == 0:
        return [torch.zeros(C, d, dtype=dtype), torch.zeros(C, dtype=dtype)]
    W1 = torch.randn(hidden, d, generator=gen, dtype=dtype) * np.sqrt(2.0 / d)
    W2 = torch.randn(C, hidden, generator=gen, dtype=dtype) * np.sqrt(1.0 / hidden)
    return [W1, torch.zeros(hidden, dtype=dtype), W2, torch.zeros(C, dtype=dtype)]


def _features(torch, params: list, X):
    """The input (n, m) of the last linear layer."""
    if len(params) == 2:
        return X
    return torch.relu(X @ params[0].T + params[1])


def _logits(torch, params: list, X):
    return _features(torch, params, X) @ params[-2].T + params[-1]


def _last_layer_grads(torch, params: list, X, y):
    """Per-sample gradients of the cross-entropy w.r.t. the last layer, in factored form.

    Returns ``R`` (n, C) = softmax - one-hot and ``H`` (n, m + 1) = [features, 1]; the gradient
    of point i w.r.t. [W, b] is the outer product R_i H_i^T, and <g_i, g_j> = (R_i . R_j)(H_i . H_j).
    """
    with torch.no_grad():
        h = _features(torch, params, X)
        p = torch.softmax(h @ params[-2].T + params[-1], dim=1)
        R = p.clone()
        R[torch.arange(X.shape[0]), y] -= 1.0
        H = torch.cat([h, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)
    return R, H


def _jvp_inner_products(torch, params: list, X, y, Xv, yv):
    """<grad loss(z_i), mean_j grad loss(z_j^val)> over all parameters, for every i: (n,).

    The mean validation gradient g_val by one backward pass, then the directional derivatives
    J g_val of the n per-point losses (J: their (n, p) Jacobian) by the double-backward JVP:
    J g_val = d/du <J^T u, g_val>, never forming J.
    """
    ps = [p.detach().requires_grad_(True) for p in params]
    val_loss = torch.nn.functional.cross_entropy(_logits(torch, ps, Xv), yv)
    g_val = torch.autograd.grad(val_loss, ps)
    losses = torch.nn.functional.cross_entropy(_logits(torch, ps, X), y, reduction="none")
    u = torch.zeros_like(losses, requires_grad=True)
    vjp = torch.autograd.grad(losses, ps, grad_outputs=u, create_graph=True)  # J^T u
    inner = sum((a * b).sum() for a, b in zip(vjp, g_val, strict=True))
    (dots,) = torch.autograd.grad(inner, u)
    return dots.detach()


# ---------------------------------------------------------------------------------------------
# TracIn-CP
# ---------------------------------------------------------------------------------------------
class TracInCP(_Valuation):
    """TracIn with checkpoints (Pruthi et al. 2020) on a small torch classifier.

    A multinomial logistic regression (``hidden=0``) or a one-hidden-layer ReLU MLP is trained by
    minibatch SGD with a constant learning rate ``lr`` on the cross-entropy; after the epochs
    spread evenly by ``n_checkpoints`` the parameters are kept as checkpoints. The value of
    training point z_i is::

        value_i = sum_c lr * < grad loss(z_i; w_c), mean_j grad loss(z_j^val; w_c) >

    Sign convention: an SGD step on z_i changes the mean validation loss by about
    ``-lr <g_i, g_val>``, so ``value_i`` is the loss *reduction* on the validation set that
    training on z_i brought about along the trajectory (TracIn's "proponents" score high,
    "opponents" such as mislabelled points low): higher = more valuable.

    ``gradients="all"`` uses the gradients with respect to every parameter: the n inner products
    with g_val are one Jacobian-vector product of the per-point losses in the direction g_val
    (by double backpropagation), so no per-point gradient is ever stored. ``gradients="last"`` keeps only the last
    linear layer's (weights and bias), in closed form (the common cheap TracIn variant; the same
    as "all" for logistic regression).

    Parameters
    ----------
    hidden : int >= 0, default 0
        Hidden units (0: logistic regression).
    epochs : int >= 1, default 20
    lr : float > 0, default 0.1
    batch_size : int >= 1, default 32
    n_checkpoints : int in [1, epochs], default 5
    gradients : {"all", "last"}, default "all"
        Which parameters' gradients enter the inner products.
    seed : None, int >= 0 or numpy.random.Generator
        Initialisation and minibatch order.
    progress : bool, default False

    Attributes
    ----------
    values_ : ndarray of shape (n,)
    checkpoints_ : list of list of ndarray
        The parameters at each checkpoint ([W, b], or [W1, b1, W, b] for the MLP); W is (C, m).
    checkpoint_epochs_ : ndarray of shape (n_checkpoints,)
        The epoch (1-based) after which each checkpoint was taken.
    history_ : ndarray of shape (epochs,)
        The mean training loss of each epoch.
    n_fits_ : int
        Models trained (1).
    seconds_ : float

    Notes
    -----
    Training costs O(epochs n p) for p parameters; the values O(n_checkpoints (n + m) p), about
    a few passes per checkpoint (one backward over the validation set, a double backward over
    the training set), or O(n_checkpoints (n + m) (m_last + 1) C) for "last", with m_last the last
    layer's input size, thanks to the factored gradients.
    """

    def __init__(
        self,
        *,
        hidden=0,
        epochs=20,
        lr=0.1,
        batch_size=32,
        n_checkpoints=5,
        gradients="all",
        seed=None,
        progress=False,
    ):
        self.gradients = gradients
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.n_checkpoints = n_checkpoints
        self.seed = seed
        self.progress = progress

    def _settings(self, func: str) -> dict:
        hidden = check_int(self.hidden, "hidden", func, low=0)
        epochs = check_int(self.epochs, "epochs", func, low=1)
        lr = check_real(self.lr, "lr", func, low=0.0, low_open=True)
        batch_size = check_int(self.batch_size, "batch_size", func, low=1)
        n_ckpt = check_int(
            self.n_checkpoints, "n_checkpoints", func, low=1, high=epochs, high_label="epochs"
        )
        gradients = check_choice(self.gradients, ("all", "last"), "gradients", func)
        progress = check_bool(self.progress, "progress", func)
        rng = check_seed(self.seed, func)
        return {
            "hidden": hidden,
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "n_ckpt": n_ckpt,
            "gradients": gradients,
            "progress": progress,
            "rng": rng,
        }

    def _fit(
        self,
        func,
        Xtr,
        ytr,
        Xv,
        yv,
        classes,
        *,
        hidden,
        epochs,
        lr,
        batch_size,
        n_ckpt,
        gradients,
        progress,
        rng,
    ) -> None:
        torch = _import_torch(func)
        gen = _torch_generator(rng)
        dt = torch.float64
        Xt = torch.as_tensor(Xtr, dtype=dt)
        yt = torch.as_tensor(ytr)
        Xvt = torch.as_tensor(Xv, dtype=dt)
        yvt = torch.as_tensor(yv)
        n, d = Xtr.shape
        C = classes.size
        params = _init_params(torch, d, C, hidden, gen, dt)
        ckpt_epochs = np.unique(np.round(np.linspace(epochs / n_ckpt, epochs, n_ckpt)).astype(int))
        values = np.zeros(n)
        checkpoints = []
        history = []
        for epoch in progress_range(epochs, progress, "TracIn-CP"):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, batch_size):
                b = order[start : start + batch_size]
                for p in params:
                    p.requires_grad_(True)
                loss = torch.nn.functional.cross_entropy(_logits(torch, params, Xt[b]), yt[b])
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    params = [p - lr * g for p, g in zip(params, grads, strict=True)]
                total += float(loss.detach()) * b.numel()
            history.append(total / n)
            if epoch + 1 in ckpt_epochs:
                params = [p.detach() for p in params]
                checkpoints.append([p.numpy().copy() for p in params])
                if gradients == "last" or hidden == 0:
                    R, H = _last_layer_grads(torch, params, Xt, yt)
                    Rv, Hv = _last_layer_grads(torch, params, Xvt, yvt)
                    G_val = Rv.T @ Hv / Xv.shape[0]  # (C, m+1): mean validation gradient
                    values += lr * ((R @ G_val) * H).sum(1).numpy()
                else:
                    values += lr * _jvp_inner_products(torch, params, Xt, yt, Xvt, yvt).numpy()
        self.values_ = values
        self.checkpoints_ = checkpoints
        self.checkpoint_epochs_ = ckpt_epochs
        self.history_ = np.asarray(history)
        self.n_fits_ = 1
