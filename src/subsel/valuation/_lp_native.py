"""Native batched solver of the quadratically smoothed online facility-location LP.

The problem (one instance; ``Do`` is ``(n, m)``, ``Dn`` is ``(n, n)``, ``eps > 0``)::

    budget:  min <Do, Zo> + <Dn, Zn> + eps/2 (|Zo|^2 + |Zn|^2 + |u|^2)
             s.t. Zo 1 + Zn 1 = 1,  Zo, Zn >= 0,  Zn[i, j] <= u[j] <= 1,  sum(u) <= k
    mass:    min <Do, Zo> + <Dn, Zn> + eps/2 (|Zo|^2 + |Zn|^2)
             s.t. Zo 1 + Zn 1 = 1,  Zo, Zn >= 0,  sum(Zn) <= k        (u = min(Zn^T 1, 1))

is solved in its dual, which has only ``n + 1`` variables: ``alpha`` (one per row-sum constraint)
and ``lam >= 0`` (the budget). Given ``(alpha, lam)`` the primal minimizer is explicit:

- old entries: ``Zo[i, o] = max(alpha_i - Do[i, o], 0) / eps``;
- budget, column ``j``: with ``a_i = (alpha_i - Dn[i, j]) / eps``, ``u_j`` is the root of
  ``sum_i (a_i - u)_+ - u = lam / eps`` clipped to ``[0, 1]`` (exact, by a few warm-started
  Newton passes over the column, :func:`_u_budget`), and
  ``Zn[i, j] = clip(a_i, 0, u_j)``;
- mass: ``Zn[i, j] = max(alpha_i - Dn[i, j] - lam, 0) / eps``.

The dual function is concave and piecewise quadratic; its gradient is the constraint residual ``(1 -
row sums, budget used - k)``. We maximize it by a semismooth Newton method: the generalized Hessian
is assembled exactly (a diagonal plus one rank-one term per column whose ``u_j`` is strictly inside
``(0, 1)``, i.e. a batched ``(n + 1) x (n + 1)`` matrix built with one ``bmm``), the step is damped
by a backtracking line search on the dual objective, and ``lam`` is kept ``>= 0`` by projection
(with its row frozen while it sits at 0 and the budget is slack). Every dual evaluation costs ``O(p
n (n + m))`` element work (``p``, the passes that find ``u``, is 2-3 on average), every iteration
1-4 evaluations plus ``O(n^3)`` for the batched solve. The line search starts from the full Newton
step and backtracks by a safeguarded quadratic fit of the dual along the step (t <- clip(fit, 0.1 t,
0.5 t)); on random 40 x 40 and 100 x 100 instances at the default smoothing a solve takes 10-60 dual
evaluations (from a greedy starting point, :func:`_initial_alpha`).

Differentiation is implicit: at the solution ``y* = (alpha*, lam*)`` we take one extra Newton step
``y = y* + H^{-1} g(y*, D)`` with the (detached) Hessian ``H`` and the residual ``g`` recomputed
with autograd on, and map ``y`` back to the primal. Since ``g(y*, D) = 0`` this changes the values
by at most the solver tolerance, and its derivative is exactly the implicit-function derivative
``dy/dD = H^{-1} dg/dD`` of the smoothed problem; the primal map's own dependence on ``D`` and
``eps`` is differentiated by autograd. (With autograd on, entries within ``10 tol`` of a kink are
snapped to it, so values differ from a no-grad call by at most that.) The dual solution need not be
unique (then ``H`` is singular and Newton's method tends to stop on a kink of the optimal face): see
:func:`_implicit_point` for how ties are resolved and why a pseudo-inverse is exact there.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

__all__ = ["NativeSolution", "solve_native"]

# Below this many distance entries per call, the solver's tensors are too small for torch's
# intra-op threads to help (elementwise kernels split work above 32768 elements), and the small
# LAPACK solves can spin for milliseconds on OpenMP barriers when the cores are shared (measured:
# 14 ms per 41 x 41 LU with 2 threads on a loaded 2-core machine, ~20 us with 1). The CPU solve
# then runs on one thread (restored afterwards).
SINGLE_THREAD_BELOW = 1 << 18


@contextlib.contextmanager
def _cpu_threads_for(numel: int, device: torch.device):
    if device.type != "cpu" or numel >= SINGLE_THREAD_BELOW or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class NativeSolution:
    z_old: torch.Tensor  # (B, n, m)
    z_new: torch.Tensor  # (B, n, n)
    u: torch.Tensor  # (B, n)
    alpha: torch.Tensor  # (B, n)
    lam: torch.Tensor  # (B,)
    n_iter: int
    residual: torch.Tensor  # (B,) final max-norm constraint residual
    converged: torch.Tensor  # (B,) bool


# ---------------------------------------------------------------------------------------------
# primal maps: (alpha, lam) -> (Zo, Zn, u, row sums, budget used) and, optionally, the Hessian
# ---------------------------------------------------------------------------------------------
def _u_budget(
    a: torch.Tensor, t: torch.Tensor, u0: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column j of ``a`` (B, n_i, n_j): the root of sum_i (a_ij - u)_+ - u = t, and u clipped.

    Returns ``(u_raw, u)``, both (B, n_j); ``u_raw`` is exact where it lies in (0, 1) and only
    says which side it is on otherwise. ``t`` is (B,). No autograd (called on detached values).

    The left side h(u) is convex, decreasing and piecewise linear in u, so Newton's method lands
    left of the root after at most one step from any start ``u0`` (a warm start, default 0), then
    increases monotonically and stops exactly on the root as soon as the set {i : a_ij > u}
    stops changing: at most n + 2 passes, typically 1-3 when warm. (A sort per column would do it
    in one pass, but torch's CPU sort costs ~60 ns an element, 10x more than a pass.)
    """
    n = a.shape[1]
    tt = t.view(-1, 1)
    if u0 is None:
        u = torch.zeros(a.shape[0], a.shape[2], dtype=a.dtype, device=a.device)
    else:
        u = u0
    u_raw = u
    zero = a.new_zeros(())
    for _ in range(n + 3):
        above = a > u.unsqueeze(1)
        u_raw = (torch.where(above, a, zero).sum(1) - tt) / (above.sum(1) + 1)
        u_new = u_raw.clamp(0.0, 1.0)
        if torch.equal(u_new, u):
            break
        u = u_new
    return u_raw, u


def _primal_budget(
    alpha, lam, d_old, d_new, eps, k, *, hessian: bool, differentiable: bool, warm=None, gap=0.0
):
    inv = 1.0 / eps.view(-1, 1, 1)
    a_old = (alpha.unsqueeze(-1) - d_old) * inv  # (B, n, m)
    a_new = (alpha.unsqueeze(-1) - d_new) * inv  # (B, n, n): rows i, columns j
    t = lam / eps
    with torch.no_grad():
        u_raw, u_clip = _u_budget(a_new.detach(), t.detach(), warm)
        # gap > 0 (differentiation): a tie counts as "at its bound" (see _implicit_point)
        interior = (u_raw > gap) & (u_raw < 1 - gap)  # (B, n_j)
        capped = a_new.detach() > u_clip.unsqueeze(1) - gap  # (B, n_i, n_j)
        cap_int = capped & interior.unsqueeze(1)
        free_old = a_old.detach() > gap
        free_new = (a_new.detach() > gap) & ~capped
    if differentiable:
        # u_j = (sum_{i capped} a_ij - t) / (s_j + 1) on interior columns, else its clipped value
        s_cnt = cap_int.sum(dim=1).to(a_new.dtype)
        u_int = ((a_new * cap_int).sum(dim=1) - t.view(-1, 1)) / (s_cnt + 1.0)
        u = torch.where(interior, u_int, u_clip)
    else:
        u = u_clip
    zero = a_new.new_zeros(())
    z_old = torch.where(free_old, a_old, zero)
    z_new = torch.where(capped, u.unsqueeze(1).expand_as(a_new), torch.where(free_new, a_new, zero))
    rows = z_old.sum(-1) + z_new.sum(-1)
    used = u.sum(-1)
    if not hessian:
        return z_old, z_new, u, rows, used, None
    with torch.no_grad():
        free = free_old.sum(-1) + free_new.sum(-1)  # (B, n)
        wcol = interior.to(a_new.dtype) / (cap_int.sum(dim=1).to(a_new.dtype) + 1.0)  # (B, n_j)
        S = cap_int.to(a_new.dtype)
        Sw = S * wcol.unsqueeze(1)
        top_left = torch.bmm(Sw, S.transpose(1, 2)) + torch.diag_embed(free.to(a_new.dtype))
        w = Sw.sum(-1)  # (B, n)
        c = wcol.sum(-1)  # (B,)
        H = _bordered(top_left, -w, c)
    return z_old, z_new, u, rows, used, H


def _primal_mass(
    alpha, lam, d_old, d_new, eps, k, *, hessian: bool, differentiable: bool, warm=None, gap=0.0
):
    inv = 1.0 / eps.view(-1, 1, 1)
    a_old = (alpha.unsqueeze(-1) - d_old) * inv
    a_new = (alpha.unsqueeze(-1) - d_new - lam.view(-1, 1, 1)) * inv
    zero = a_new.new_zeros(())
    z_old = torch.where(a_old.detach() > gap, a_old, zero)
    z_new = torch.where(a_new.detach() > gap, a_new, zero)
    rows = z_old.sum(-1) + z_new.sum(-1)
    used = z_new.sum((-1, -2))
    u = z_new.sum(1).clamp(max=1.0)
    if not hessian:
        return z_old, z_new, u, rows, used, None
    with torch.no_grad():
        f_old = (a_old > gap).sum(-1).to(a_new.dtype)
        f_new = (a_new > gap).sum(-1).to(a_new.dtype)
        H = _bordered(torch.diag_embed(f_old + f_new), -f_new, f_new.sum(-1))
    return z_old, z_new, u, rows, used, H


def _bordered(top_left, border, corner):
    """[[top_left, border], [border^T, corner]] for batched (B, n, n), (B, n), (B,)."""
    B, n, _ = top_left.shape
    H = top_left.new_empty(B, n + 1, n + 1)
    H[:, :n, :n] = top_left
    H[:, :n, n] = border
    H[:, n, :n] = border
    H[:, n, n] = corner
    return H


_PRIMAL = {"budget": _primal_budget, "mass": _primal_mass}


def _dual_value(z_old, z_new, u, rows, used, alpha, lam, d_old, d_new, eps, k, relaxation):
    """The Lagrangian at the primal minimizer: the dual objective (to be maximized)."""
    quad = z_old.square().sum((-1, -2)) + z_new.square().sum((-1, -2))
    if relaxation == "budget":
        quad = quad + u.square().sum(-1)
    lin = (z_old * d_old).sum((-1, -2)) + (z_new * d_new).sum((-1, -2))
    return lin + 0.5 * eps * quad + (alpha * (1.0 - rows)).sum(-1) + lam * (used - k)


def _residuals(rows, used, lam, k):
    """Max-norm KKT residual per instance: row sums, budget feasibility and complementarity."""
    r_rows = (1.0 - rows).abs().amax(-1)
    r_budget = torch.where(lam > 0, (used - k).abs(), (used - k).clamp_min(0.0))
    return torch.maximum(r_rows, r_budget / k.clamp_min(1.0))


def _initial_alpha(do, dn, ep, k, relaxation):
    """A starting dual: alpha_i = (distance to i's representative in a greedy solution) + eps.

    Budget relaxation with old points: open the floor(k) new points farthest from the old set
    and let every new point take the nearest of the old and the opened points (on 6 random
    instances each this cut the dual evaluations by 27% at 40 x 40 and 30% at 100 x 100 against
    the plain start below). Otherwise: every point's nearest point (itself, at distance 0 when
    the diagonal of ``dn`` is 0).
    """
    n, m = do.shape[-2], do.shape[-1]
    nearest = torch.cat([do, dn], dim=-1).amin(-1)
    if relaxation != "budget" or m == 0:
        return nearest + ep.view(-1, 1)
    to_old = do.amin(-1)  # (B, n)
    count = min(n, max(1, int(float(k.min()))))
    opened = torch.zeros_like(to_old, dtype=torch.bool)
    opened.scatter_(-1, to_old.topk(count, dim=-1).indices, True)
    to_opened = torch.where(opened.unsqueeze(-2), dn, torch.inf).amin(-1)
    return torch.minimum(to_old, to_opened) + ep.view(-1, 1)


def _masked_hessian(H, lam):
    """Freeze lam's row and column where lam sits at its bound 0 (the budget is inactive)."""
    n = H.shape[-1] - 1
    H = H.clone()
    at_bound = lam <= 0
    H[at_bound, n, :] = 0.0
    H[at_bound, :, n] = 0.0
    H[at_bound, n, n] = 1.0
    return H, at_bound


def _implicit_point(alpha, lam, do, dn, ep, k, primal, gap):
    """The Hessian (its pseudo-inverse) for implicit differentiation at the dual solution.

    The dual optimum need not be unique (e.g. two new points that represent each other: only
    the sum of their duals is determined), while the primal is; Newton's method then tends to
    stop at a vertex of the optimal face, where some entries sit exactly on a kink (``a = 0``,
    ``a = u_j``, ``u_j``'s root at 0 or 1). Seen from the primal, each such tie is a constraint
    that holds with equality and stays active under small perturbations (it is strictly active
    for duals inside the face), so we count every tie within ``gap`` as "at its bound" (fixed)
    when building the Hessian and the differentiable primal map. With that choice the
    derivative matches finite differences of the solution map on such instances; where no tie
    occurs it changes nothing. The minimum-norm solve (pinv) gives the primal's derivative,
    which does not depend on the Hessian's null-space component (the directions of the face).
    """
    out = primal(alpha, lam, do, dn, ep, k, hessian=True, differentiable=False, gap=gap)
    H, at_bound = _masked_hessian(out[5], lam)
    return torch.linalg.pinv(H, hermitian=True, rtol=1e-10), at_bound


def _solve(
    d_old: torch.Tensor,
    d_new: torch.Tensor,
    eps: torch.Tensor,
    k: torch.Tensor,
    relaxation: str,
    *,
    tol: float = 1e-7,
    max_iter: int = 100,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    continuation: float = 1.0,
    fused: bool = True,
) -> NativeSolution:
    """Solve a batch of smoothed problems; differentiable in ``d_old``, ``d_new`` and ``eps``.

    Parameters
    ----------
    d_old : Tensor (B, n, m)
    d_new : Tensor (B, n, n)
    eps : Tensor (B,), > 0
    k : Tensor (B,), the budget (sum of u for "budget", total new mass for "mass")
    relaxation : "budget" or "mass"
    tol : stop when every instance's KKT residual (max-norm) is below ``tol``
    max_iter : at most this many Newton iterations (per stage)
    init : a dual starting point ``(alpha (B, n), lam (B,))``, e.g. a previous solution
    fused : on CPU in float64, evaluate the dual with one compiled numba kernel (the same
        maths, checked against the torch evaluation in the tests) instead of ~100 torch ops
    continuation : when > 1 (and no ``init``), first solve with ``continuation * eps`` to a
        loose tolerance (1e-4) and start from its solution. Off by default: with the quadratic
        backtracking it changed the dual evaluations by -12% (40 x 40) and +10% (100 x 100)
        on 4 random instances each.
    """
    n_pre = 0
    if init is None and continuation > 1.0:
        with torch.no_grad():
            pre = _solve(
                d_old.detach(),
                d_new.detach(),
                eps.detach() * continuation,
                k,
                relaxation,
                tol=max(tol, 1e-4),
                max_iter=max_iter,
                continuation=1.0,
                fused=fused,
            )
        init, n_pre = (pre.alpha, pre.lam), pre.n_iter
    primal = _PRIMAL[relaxation]
    B, n, m = d_old.shape
    dt = d_old.dtype
    with torch.no_grad():
        do, dn, ep = d_old.detach(), d_new.detach(), eps.detach()
        # start: every row puts mass about 1 on its nearest point
        if init is None:
            alpha = _initial_alpha(do, dn, ep, k, relaxation)
            lam = torch.zeros(B, dtype=dt, device=d_old.device)
        else:
            alpha, lam = init[0].detach().clone(), init[1].detach().clamp_min(0.0)
        eye = torch.eye(n + 1, dtype=dt, device=d_old.device)
        last = torch.arange(n + 1, device=d_old.device) == n  # lam's coordinate
        n_iter = n_pre

        kernel = None
        if do.device.type == "cpu" and dt == torch.float64 and fused:
            kernels = _numba_kernels()
            kernel = None if kernels is None else kernels[relaxation]
        if kernel is not None:
            arrays = [x.contiguous().numpy() for x in (do, dn, ep, k.to(dt))]

        def evaluate(a, lm, warm):
            if kernel is not None:
                return _fused_evaluate(kernel, a, lm, *arrays, warm)
            o = primal(a, lm, do, dn, ep, k, hessian=True, differentiable=False, warm=warm)
            v = _dual_value(*o[:5], a, lm, do, dn, ep, k, relaxation)
            g = torch.cat([1.0 - o[3], (o[4] - k).unsqueeze(-1)], dim=-1)  # ascent direction
            return o[2], g, o[5], v, _residuals(o[3], o[4], lm, k)

        u, g, H, value, res = evaluate(alpha, lam, None)
        # the largest useful move of alpha in one step: the spread of the distances
        span = (torch.cat([do, dn], dim=-1).amax((-1, -2)) + ep * (n + m + 1)).view(-1, 1)
        while n_iter < max_iter + n_pre and bool((res > tol).any()):
            n_iter += 1
            # lam at its bound with the budget slack: keep lam = 0 (freeze its row and column)
            frozen = ((lam <= 0) & (g[:, n] < 0)).view(-1, 1, 1)
            fr_rc = frozen & (last.view(1, -1, 1) | last.view(1, 1, -1))
            Hf = torch.where(fr_rc, eye.expand_as(H) * last.view(1, 1, -1), H)
            gf = torch.where(frozen.view(-1, 1) & last, 0.0, g)
            ridge = 1e-9 * Hf.diagonal(dim1=-2, dim2=-1).abs().amax(-1).clamp_min(1.0)
            step = torch.linalg.solve(Hf + ridge.view(-1, 1, 1) * eye, gf.unsqueeze(-1))
            step = step.squeeze(-1) * ep.view(-1, 1)
            big = step.abs().amax(-1, keepdim=True)
            step = step * (span / big.clamp_min(1e-300)).clamp(max=1.0)
            slope = (gf * step).sum(-1)
            t = torch.ones(B, dtype=dt, device=d_old.device)
            accepted = res <= tol
            for _ in range(40):
                a_try = alpha + t.view(-1, 1) * step[:, :n]
                l_try = (lam + t * step[:, n]).clamp_min(0.0)
                u_t, g_t, H_t, v_t, r_t = evaluate(a_try, l_try, u)
                ok = ~accepted & (v_t >= value + 1e-4 * t * slope - 1e-14 * value.abs())
                if bool(ok.any()):
                    ok1 = ok.view(-1, 1)
                    alpha = torch.where(ok1, a_try, alpha)
                    lam = torch.where(ok, l_try, lam)
                    u = torch.where(ok1, u_t, u)
                    g = torch.where(ok1, g_t, g)
                    H = torch.where(ok.view(-1, 1, 1), H_t, H)
                    value = torch.where(ok, v_t, value)
                    res = torch.where(ok, r_t, res)
                    accepted = accepted | ok
                if bool(accepted.all()):
                    break
                # backtrack by a safeguarded quadratic fit of the dual along the step
                curv = v_t - value - t * slope  # <= 0 for a concave dual
                t_q = -slope * t * t / (2.0 * curv.clamp(max=-1e-300))
                t = torch.where(accepted, t, torch.minimum(0.5 * t, torch.maximum(0.1 * t, t_q)))
            if not bool(accepted.all()):  # no ascent possible: stalled at the tolerance floor
                break
        out = primal(alpha, lam, do, dn, ep, k, hessian=False, differentiable=False, warm=u)
    needs_grad = torch.is_grad_enabled() and (
        d_old.requires_grad or d_new.requires_grad or eps.requires_grad
    )
    if not needs_grad:
        z_old, z_new, u = out[0], out[1], out[2]
        return NativeSolution(z_old, z_new, u, alpha, lam, n_iter, res, res <= tol)
    with torch.no_grad():
        gap = max(1e-9, 10.0 * tol)
        H_pinv, at_bound = _implicit_point(alpha, lam, do, dn, ep, k, primal, gap)
    # implicit differentiation: one Newton step from the solution, with autograd on
    _, _, _, rows, used, _ = primal(
        alpha, lam, d_old, d_new, eps, k, hessian=False, differentiable=True, gap=gap
    )
    g = torch.cat([1.0 - rows, (used - k).unsqueeze(-1)], dim=-1)
    g = torch.where(
        torch.cat([torch.zeros_like(alpha, dtype=torch.bool), at_bound.view(-1, 1)], -1),
        torch.zeros_like(g),
        g,
    )
    step = (H_pinv @ g.unsqueeze(-1)).squeeze(-1) * ep.view(-1, 1)
    alpha_d = alpha + step[:, :n]
    lam_d = lam + step[:, n]
    z_old, z_new, u, _, _, _ = primal(
        alpha_d, lam_d, d_old, d_new, eps, k, hessian=False, differentiable=True, gap=gap
    )
    return NativeSolution(z_old, z_new, u, alpha, lam, n_iter, res, res <= tol)


def solve_native(d_old, d_new, eps, k, relaxation, **kwargs) -> NativeSolution:
    """:func:`_solve` (same arguments), on one CPU thread for small problems (see above)."""
    with _cpu_threads_for(d_old.numel() + d_new.numel(), d_old.device):
        return _solve(d_old, d_new, eps, k, relaxation, **kwargs)


# ---------------------------------------------------------------------------------------------
# fused CPU evaluation of the dual (numba): the same maths as _primal_budget / _primal_mass +
# _dual_value + _residuals, one pass over each instance instead of ~100 small torch ops
# ---------------------------------------------------------------------------------------------
_NUMBA_EVAL = None


def _numba_kernels():
    """The compiled kernels by relaxation, or None where numba is missing (then torch runs)."""
    global _NUMBA_EVAL
    if _NUMBA_EVAL is not None:
        return _NUMBA_EVAL or None
    try:
        import numba
        import numpy as np
    except ImportError:  # pragma: no cover - numba is a dependency; fall back quietly
        _NUMBA_EVAL = False
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(alpha, lam, do, dn, eps, k, u0, u_out, g_out, h_out, v_out, r_out):
        B, n, m = do.shape
        for b in range(B):
            inv = 1.0 / eps[b]
            t = lam[b] * inv
            rows = np.zeros(n)
            free = np.zeros(n)
            lin = 0.0
            quad = 0.0
            for i in range(n):
                for o in range(m):
                    a = (alpha[b, i] - do[b, i, o]) * inv
                    if a > 0.0:
                        rows[i] += a
                        free[i] += 1.0
                        quad += a * a
                        lin += a * do[b, i, o]
            h = h_out[b]
            h[:, :] = 0.0
            used = 0.0
            capped = np.zeros(n, dtype=np.bool_)
            for j in range(n):
                u = u0[b, j]
                u_raw = u
                for _ in range(n + 3):
                    s = 0
                    sm = 0.0
                    for i in range(n):
                        a = (alpha[b, i] - dn[b, i, j]) * inv
                        if a > u:
                            s += 1
                            sm += a
                    u_raw = (sm - t) / (s + 1.0)
                    un = min(max(u_raw, 0.0), 1.0)
                    if un == u:
                        break
                    u = un
                interior = u_raw > 0.0 and u_raw < 1.0
                s = 0
                for i in range(n):
                    a = (alpha[b, i] - dn[b, i, j]) * inv
                    if a > u:
                        z = u
                        capped[i] = True
                        s += 1
                    else:
                        capped[i] = False
                        if a > 0.0:
                            z = a
                            free[i] += 1.0
                        else:
                            z = 0.0
                    rows[i] += z
                    quad += z * z
                    lin += z * dn[b, i, j]
                u_out[b, j] = u
                used += u
                quad += u * u
                if interior:
                    w = 1.0 / (s + 1.0)
                    for i in range(n):
                        if capped[i]:
                            h[i, n] -= w
                            for i2 in range(n):
                                if capped[i2]:
                                    h[i, i2] += w
                    h[n, n] += w
            for i in range(n):
                h[i, i] += free[i]
                h[n, i] = h[i, n]
            value = lin + 0.5 * eps[b] * quad + lam[b] * (used - k[b])
            res = 0.0
            for i in range(n):
                value += alpha[b, i] * (1.0 - rows[i])
                g_out[b, i] = 1.0 - rows[i]
                res = max(res, abs(1.0 - rows[i]))
            g_out[b, n] = used - k[b]
            if lam[b] > 0.0:
                rb = abs(used - k[b])
            else:
                rb = max(used - k[b], 0.0)
            v_out[b] = value
            r_out[b] = max(res, rb / max(k[b], 1.0))

    @numba.njit(cache=True, nogil=True)
    def kernel_mass(alpha, lam, do, dn, eps, k, u0, u_out, g_out, h_out, v_out, r_out):
        B, n, m = do.shape
        for b in range(B):
            inv = 1.0 / eps[b]
            h = h_out[b]
            h[:, :] = 0.0
            lin = 0.0
            quad = 0.0
            used = 0.0
            res = 0.0
            value = 0.0
            for j in range(n):
                u_out[b, j] = 0.0
            for i in range(n):
                row = 0.0
                free = 0.0
                free_new = 0.0
                for o in range(m):
                    a = (alpha[b, i] - do[b, i, o]) * inv
                    if a > 0.0:
                        row += a
                        free += 1.0
                        quad += a * a
                        lin += a * do[b, i, o]
                for j in range(n):
                    a = (alpha[b, i] - dn[b, i, j] - lam[b]) * inv
                    if a > 0.0:
                        row += a
                        free_new += 1.0
                        quad += a * a
                        lin += a * dn[b, i, j]
                        used += a
                        u_out[b, j] += a
                h[i, i] = free + free_new
                h[i, n] = -free_new
                h[n, i] = -free_new
                h[n, n] += free_new
                g_out[b, i] = 1.0 - row
                value += alpha[b, i] * (1.0 - row)
                res = max(res, abs(1.0 - row))
            for j in range(n):
                u_out[b, j] = min(u_out[b, j], 1.0)
            value += lin + 0.5 * eps[b] * quad + lam[b] * (used - k[b])
            g_out[b, n] = used - k[b]
            if lam[b] > 0.0:
                rb = abs(used - k[b])
            else:
                rb = max(used - k[b], 0.0)
            v_out[b] = value
            r_out[b] = max(res, rb / max(k[b], 1.0))

    _NUMBA_EVAL = {"budget": kernel, "mass": kernel_mass}
    return _NUMBA_EVAL


def _fused_evaluate(kernel, alpha, lam, do_np, dn_np, ep_np, k_np, warm):
    """Run the kernel on CPU float64 tensors; returns (u, g, H, value, residual) as tensors."""
    B, n = alpha.shape
    u = torch.empty(B, n, dtype=torch.float64)
    g = torch.empty(B, n + 1, dtype=torch.float64)
    H = torch.empty(B, n + 1, n + 1, dtype=torch.float64)
    v = torch.empty(B, dtype=torch.float64)
    r = torch.empty(B, dtype=torch.float64)
    u0 = torch.zeros(B, n, dtype=torch.float64) if warm is None else warm.contiguous()
    kernel(
        alpha.contiguous().numpy(),
        lam.contiguous().numpy(),
        do_np,
        dn_np,
        ep_np,
        k_np,
        u0.numpy(),
        u.numpy(),
        g.numpy(),
        H.numpy(),
        v.numpy(),
        r.numpy(),
    )
    return u, g, H, v, r
