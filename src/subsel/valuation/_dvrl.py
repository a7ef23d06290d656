"""DVRL, the REINFORCE data value estimator of Yoon et al. 2020 (private)."""

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

__all__ = ["DVRL"]


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(1, keepdims=True)


def _fit_logreg(X: np.ndarray, onehot: np.ndarray, weights: np.ndarray, steps: int, lr: float):
    """Full-batch gradient descent on the weighted mean cross-entropy of a multinomial logistic
    regression (numpy, zero init, closed-form gradient); returns W (C, d), b (C,).

    X (n, d), onehot (n, C), weights (n,) >= 0; O(steps n d C). Deterministic.
    """
    C = onehot.shape[1]
    W = np.zeros((C, X.shape[1]))
    b = np.zeros(C)
    w = (weights / max(weights.sum(), 1.0))[:, None]
    for _ in range(steps):
        R = w * (_softmax(X @ W.T + b) - onehot)  # (n, C)
        W -= lr * (R.T @ X)
        b -= lr * R.sum(0)
    return W, b


class DVRL(_Valuation):
    """Data valuation by reinforcement learning (Yoon, Arik & Pfister 2020), in PyTorch.

    A data value estimator, an MLP on ``(x, one-hot y, |one-hot y - p_val(x)|)`` with a sigmoid
    output (``p_val``: the class probabilities of a logistic regression fitted on the validation
    set, DVRL's "validation model"), outputs a selection probability ``h_i`` per training point.
    Each iteration draws a batch of ``batch_size`` training points, samples a selection
    ``s_i ~ Bernoulli(h_i)``, fits the inner predictor (multinomial logistic regression,
    ``inner_steps`` full-batch gradient steps of size ``inner_lr`` on the selected points) and
    takes its validation performance as the reward: minus the mean validation cross-entropy
    (``reward="log_loss"``, the default) or the validation accuracy (``"accuracy"``). Accuracy
    is the paper's choice but saturates on easy data (every subset scores the same, so there is
    nothing to learn); the log-loss keeps a signal. The estimator follows REINFORCE::

        loss = -(reward - baseline) * sum_i log p(s_i | h_i)
               + penalty * (max(mean h - threshold, 0) + max(1 - threshold - mean h, 0))

    (Adam, step ``lr``) with the baseline a moving average of past rewards over ``window``
    iterations; the penalty keeps the mean selection probability in
    ``[1 - threshold, threshold]``, as in the paper. ``values_`` are the final ``h_i``.

    Parameters
    ----------
    hidden : int >= 1, default 32
        Width of the estimator's two hidden layers.
    n_iter : int >= 1, default 1000
        REINFORCE iterations (on 2,000 points of 5 Gaussian classes with 10% flipped labels,
        200 iterations left the values near random, mislabel AUC 0.54; 1,000 gave 0.99).
    batch_size : int >= 1, default 256
        Training points per iteration (all of them when n is smaller).
    lr : float > 0, default 0.01
    inner_steps : int >= 1, default 30
    inner_lr : float > 0, default 0.5
    window : int >= 1, default 20
        The moving-average baseline's horizon.
    threshold : float in (0.5, 1], default 0.9
    penalty : float >= 0, default 1e3
    reward : {"log_loss", "accuracy"}, default "log_loss"
    seed : None, int >= 0 or numpy.random.Generator
        Estimator initialisation, batches and the Bernoulli selections.
    progress : bool, default False

    Attributes
    ----------
    values_ : ndarray of shape (n,)
        Selection probabilities in (0, 1).
    history_ : ndarray of shape (n_iter,)
        The reward of each iteration.
    n_fits_ : int
        Inner predictors fitted (n_iter, plus the validation model).
    seconds_ : float

    Notes
    -----
    Features are standardised with the training set's mean and standard deviation for the
    networks. Per iteration O(inner_steps B d C) for the predictor on a batch of B and
    O(B (d + C) hidden) for the estimator; the final values O(n (d + C) hidden).
    """

    def __init__(
        self,
        *,
        hidden=32,
        n_iter=1000,
        batch_size=256,
        lr=0.01,
        inner_steps=30,
        inner_lr=0.5,
        window=20,
        threshold=0.9,
        penalty=1e3,
        reward="log_loss",
        seed=None,
        progress=False,
    ):
        self.reward = reward
        self.hidden = hidden
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.lr = lr
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.window = window
        self.threshold = threshold
        self.penalty = penalty
        self.seed = seed
        self.progress = progress

    def _settings(self, func: str) -> dict:
        hidden = check_int(self.hidden, "hidden", func, low=1)
        n_iter = check_int(self.n_iter, "n_iter", func, low=1)
        batch_size = check_int(self.batch_size, "batch_size", func, low=1)
        lr = check_real(self.lr, "lr", func, low=0.0, low_open=True)
        inner_steps = check_int(self.inner_steps, "inner_steps", func, low=1)
        inner_lr = check_real(self.inner_lr, "inner_lr", func, low=0.0, low_open=True)
        window = check_int(self.window, "window", func, low=1)
        threshold = check_real(self.threshold, "threshold", func, low=0.5, high=1.0, low_open=True)
        penalty = check_real(self.penalty, "penalty", func, low=0.0)
        reward_kind = check_choice(self.reward, ("accuracy", "log_loss"), "reward", func)
        progress = check_bool(self.progress, "progress", func)
        rng = check_seed(self.seed, func)
        return {
            "hidden": hidden,
            "n_iter": n_iter,
            "batch_size": batch_size,
            "lr": lr,
            "inner_steps": inner_steps,
            "inner_lr": inner_lr,
            "window": window,
            "threshold": threshold,
            "penalty": penalty,
            "reward_kind": reward_kind,
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
        n_iter,
        batch_size,
        lr,
        inner_steps,
        inner_lr,
        window,
        threshold,
        penalty,
        reward_kind,
        progress,
        rng,
    ) -> None:
        torch = _import_torch(func)
        gen = _torch_generator(rng)
        dt = torch.float64
        n, d = Xtr.shape
        C = classes.size
        mu = Xtr.mean(0)
        sd = Xtr.std(0)
        sd[sd == 0] = 1.0
        Xs, Xvs = (Xtr - mu) / sd, (Xv - mu) / sd
        E, Ev = np.eye(C)[ytr], np.eye(C)[yv]
        # DVRL's validation model: its disagreement with the label is an input of the estimator
        Wv, bv = _fit_logreg(Xvs, Ev, np.ones(Xv.shape[0]), 100, inner_lr)
        p_val = _softmax(Xs @ Wv.T + bv)
        inputs = torch.as_tensor(np.hstack([Xs, E, np.abs(E - p_val)]), dtype=dt)

        sizes = [inputs.shape[1], hidden, hidden, 1]
        params = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            W = torch.randn(b, a, generator=gen, dtype=dt) * np.sqrt(2.0 / a)
            params += [W.requires_grad_(True), torch.zeros(b, dtype=dt, requires_grad=True)]

        def estimator(Z):
            h = Z
            for i in range(0, len(params) - 2, 2):
                h = torch.relu(h @ params[i].T + params[i + 1])
            return torch.sigmoid(h @ params[-2].T + params[-1]).squeeze(1)

        opt = torch.optim.Adam(params, lr=lr)
        B = min(batch_size, n)
        baseline = None
        rewards = []
        for _ in progress_range(n_iter, progress, "DVRL"):
            idx = torch.randperm(n, generator=gen)[:B]
            h = estimator(inputs[idx]).clamp(1e-6, 1 - 1e-6)
            s = torch.bernoulli(h.detach(), generator=gen)
            ib = idx.numpy()
            Wp, bp = _fit_logreg(Xs[ib], E[ib], s.numpy(), inner_steps, inner_lr)
            logits_val = Xvs @ Wp.T + bp
            if reward_kind == "accuracy":
                reward = float(np.mean(logits_val.argmax(1) == yv))
            else:  # minus the mean validation cross-entropy
                z = logits_val - logits_val.max(1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(1, keepdims=True))
                reward = float(np.mean(logp[np.arange(yv.size), yv]))
            if baseline is None:
                baseline = reward
            log_prob = (s * torch.log(h) + (1 - s) * torch.log(1 - h)).sum()
            mean_h = h.mean()
            loss = -(reward - baseline) * log_prob + penalty * (
                torch.relu(mean_h - threshold) + torch.relu(1 - threshold - mean_h)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            baseline = (1 - 1 / window) * baseline + reward / window
            rewards.append(reward)
        with torch.no_grad():
            self.values_ = estimator(inputs).numpy().copy()
        self.history_ = np.asarray(rewards)
        self.n_fits_ = n_iter + 1
