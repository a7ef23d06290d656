"""Influence functions (private): the influence of up-weighting each training point on the
validation loss of an L2-regularised multinomial logistic regression (Koh & Liang 2017)."""

from __future__ import annotations

import numpy as np

from .._validation import (
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

__all__ = ["InfluenceFunction"]


# ---------------------------------------------------------------------------------------------
# influence functions
# ---------------------------------------------------------------------------------------------
def _cg(hvp, b, max_iter: int, rtol: float):
    """Conjugate gradient for A x = b with A symmetric positive definite given by ``hvp``."""
    x = b.new_zeros(b.shape)
    r = b.clone()
    p = r.clone()
    rs = float(r @ r)
    bnorm = max(float(b.norm()), 1e-300)
    history = [np.sqrt(rs) / bnorm]
    for _ in range(max_iter):
        if history[-1] <= rtol:
            break
        Ap = hvp(p)
        alpha = rs / float(p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = float(r @ r)
        history.append(np.sqrt(rs_new) / bnorm)
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, history


class InfluenceFunction(_Valuation):
    """Influence functions (Koh & Liang 2017) of an L2-regularised logistic regression.

    The model: multinomial logistic regression theta = [W, b] (C, d + 1) fitted by L-BFGS (float64)
    on ``L(theta) = mean_i CE(z_i; theta) + l2 / 2 * |theta|^2``. With ``H`` the Hessian of L at the
    optimum plus ``damping * I``, the influence of up-weighting z_i on the mean validation loss is
    ``I_i = - g_val^T H^{-1} g_i`` (g_i the gradient of the cross-entropy of z_i, g_val the mean
    validation gradient); ``values_ = -I_i = g_val^T H^{-1} g_i``: positive when up-weighting z_i
    lowers the validation loss, so higher = more valuable.

    ``s = H^{-1} g_val`` is solved once: by conjugate gradient (``"cg"``) or LiSSA (``"lissa"``,
    Agarwal et al. 2017: ``h <- g_val + h - (H_B h) / scale``, ``H^{-1} g_val ~ h / scale``,
    with H_B the Hessian on a minibatch B, or the full set when ``batch_size=None``), with
    Hessian-vector products by double backpropagation; ``"direct"`` forms H and solves (small d
    only). Then ``values_ = G s`` with the per-sample gradients in closed form.

    Parameters
    ----------
    method : {"cg", "lissa", "direct"}, default "cg"
    damping : float >= 0, default 0.001
        Added to the Hessian's diagonal.
    l2 : float > 0, default 0.01
        The model's L2 penalty (makes the loss strongly convex, so H is invertible).
    max_iter : int >= 1, default 100
        CG iterations, or LiSSA's recursion depth.
    rtol : float > 0, default 1e-8
        CG stops at relative residual ``rtol``; full-batch LiSSA when a step changes the estimate
        by less than ``rtol`` relative.
    scale : None or float > 0, default None
        LiSSA's scale; must exceed H's largest eigenvalue. None uses the bound
        ``0.5 * lambda_max(X~^T X~ / n) + l2 + damping`` (softmax curvature is at most 1/2),
        which guarantees convergence.
    batch_size : None or int >= 1, default None
        LiSSA's minibatch (None: full-batch, deterministic).
    n_repeats : int >= 1, default 1
        LiSSA estimates averaged.
    fit_max_iter : int >= 1, default 500
        L-BFGS iterations of the model fit.
    seed : None, int >= 0 or numpy.random.Generator
        LiSSA's minibatches.

    Attributes
    ----------
    values_ : ndarray of shape (n,)
    params_ : ndarray of shape (C, d + 1)
        The fitted [W, b].
    s_test_ : ndarray of shape (C, d + 1)
        The inverse-Hessian-vector product H^{-1} g_val.
    grad_norm_ : float
        The norm of the gradient of L at the fitted parameters (near 0 at the optimum).
    history_ : ndarray
        CG's relative residuals, or LiSSA's relative change per step (empty for "direct").
    n_fits_ : int
        Models fitted (1).
    seconds_ : float

    Notes
    -----
    With p = C (d + 1) parameters: fit O(fit_max_iter n p); each HVP O(n p) (O(|B| p) for LiSSA's
    minibatches); CG needs at most ``max_iter`` HVPs, LiSSA ``n_repeats * max_iter``; "direct"
    O(n p^2 + p^3). The values O(n p).
    """

    def __init__(
        self,
        *,
        method="cg",
        damping=0.001,
        l2=0.01,
        max_iter=100,
        rtol=1e-8,
        scale=None,
        batch_size=None,
        n_repeats=1,
        fit_max_iter=500,
        seed=None,
    ):
        self.method = method
        self.damping = damping
        self.l2 = l2
        self.max_iter = max_iter
        self.rtol = rtol
        self.scale = scale
        self.batch_size = batch_size
        self.n_repeats = n_repeats
        self.fit_max_iter = fit_max_iter
        self.seed = seed

    def _settings(self, func: str) -> dict:
        method = check_choice(self.method, ("cg", "lissa", "direct"), "method", func)
        damping = check_real(self.damping, "damping", func, low=0.0)
        l2 = check_real(self.l2, "l2", func, low=0.0, low_open=True)
        max_iter = check_int(self.max_iter, "max_iter", func, low=1)
        rtol = check_real(self.rtol, "rtol", func, low=0.0, low_open=True)
        scale = None
        if self.scale is not None:
            scale = check_real(self.scale, "scale", func, low=0.0, low_open=True)
        batch_size = None
        if self.batch_size is not None:
            batch_size = check_int(self.batch_size, "batch_size", func, low=1)
        n_repeats = check_int(self.n_repeats, "n_repeats", func, low=1)
        fit_max_iter = check_int(self.fit_max_iter, "fit_max_iter", func, low=1)
        rng = check_seed(self.seed, func)
        return {
            "method": method,
            "damping": damping,
            "l2": l2,
            "max_iter": max_iter,
            "rtol": rtol,
            "scale": scale,
            "batch_size": batch_size,
            "n_repeats": n_repeats,
            "fit_max_iter": fit_max_iter,
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
        method,
        damping,
        l2,
        max_iter,
        rtol,
        scale,
        batch_size,
        n_repeats,
        fit_max_iter,
        rng,
    ) -> None:
        torch = _import_torch(func)
        gen = _torch_generator(rng)
        dt = torch.float64
        n, d = Xtr.shape
        C = classes.size
        Xt = torch.cat([torch.as_tensor(Xtr, dtype=dt), torch.ones(n, 1, dtype=dt)], 1)
        yt = torch.as_tensor(ytr)
        Xvt = torch.cat([torch.as_tensor(Xv, dtype=dt), torch.ones(Xv.shape[0], 1, dtype=dt)], 1)
        yvt = torch.as_tensor(yv)
        shape = (C, d + 1)

        def objective(theta, idx=None):
            A, b = (Xt, yt) if idx is None else (Xt[idx], yt[idx])
            loss = torch.nn.functional.cross_entropy(A @ theta.view(shape).T, b)
            return loss + 0.5 * l2 * (theta @ theta)

        # fit by L-BFGS
        theta = torch.zeros(C * (d + 1), dtype=dt, requires_grad=True)
        opt = torch.optim.LBFGS(
            [theta],
            lr=1.0,
            max_iter=fit_max_iter,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            loss = objective(theta)
            loss.backward()
            return loss

        opt.step(closure)
        theta = theta.detach()
        th = theta.clone().requires_grad_(True)
        grad_norm = float(torch.autograd.grad(objective(th), th)[0].norm())

        # the full-batch gradient graph is built once and reused by every HVP
        t_full = theta.clone().requires_grad_(True)
        (g_full,) = torch.autograd.grad(objective(t_full), t_full, create_graph=True)

        def hvp(v, idx=None):
            """(H_B + damping I) v by double backpropagation (B: the batch ``idx``, or all)."""
            if idx is None:
                t, g = t_full, g_full
            else:
                t = theta.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(objective(t, idx), t, create_graph=True)
            (hv,) = torch.autograd.grad(g, t, v, retain_graph=idx is None)
            return hv + damping * v

        # mean validation gradient (cross-entropy only), closed form
        with torch.no_grad():
            Pv = torch.softmax(Xvt @ theta.view(shape).T, 1)
            Pv[torch.arange(Xvt.shape[0]), yvt] -= 1.0
            g_val = (Pv.T @ Xvt / Xvt.shape[0]).reshape(-1)

        history: list[float] = []
        if method == "cg":
            s, history = _cg(hvp, g_val, max_iter, rtol)
        elif method == "direct":
            t = theta.clone().requires_grad_(True)
            Hm = torch.autograd.functional.hessian(lambda u: objective(u), t)
            Hm = Hm + damping * torch.eye(Hm.shape[0], dtype=dt)
            s = torch.linalg.solve(Hm, g_val)
        else:
            if scale is None:
                gram = (Xt.T @ Xt / n).numpy()
                scale = 0.5 * float(np.linalg.eigvalsh(gram)[-1]) + l2 + damping
            estimates = []
            for _ in range(n_repeats):
                h = g_val.clone()
                for _ in range(max_iter):
                    idx = None
                    if batch_size is not None and batch_size < n:
                        idx = torch.randperm(n, generator=gen)[:batch_size]
                    h_new = g_val + h - hvp(h, idx) / scale
                    change = float((h_new - h).norm()) / max(float(h_new.norm()), 1e-300)
                    history.append(change)
                    h = h_new
                    if idx is None and change <= rtol:
                        break  # full-batch recursion converged
                estimates.append(h / scale)
            s = torch.stack(estimates).mean(0)
        with torch.no_grad():
            P = torch.softmax(Xt @ theta.view(shape).T, 1)
            P[torch.arange(n), yt] -= 1.0
            S = s.view(shape)
            values = ((P @ S) * Xt).sum(1)  # <g_i, s> with g_i = outer(P_i, x~_i)
        self.values_ = values.numpy()
        self.params_ = theta.view(shape).numpy().copy()
        self.s_test_ = s.view(shape).numpy().copy()
        self.grad_norm_ = grad_norm
        self.history_ = np.asarray(history, dtype=np.float64)
        self.n_fits_ = 1
