"""The differentiable online facility-location LP selection layer of HOST-CP (eq. 13).

New points ``i`` (a minibatch of ``n``) must each be represented, by old points ``o`` (``m`` of
them, already selected) or by new points ``j``; representing ``i`` by ``j`` costs the distance
``d(i, j)``; at most ``budget_fraction * n`` new points may be opened as representatives. The
layer solves a linear relaxation of this choice and returns how much each new point is opened,
``u`` in ``[0, 1]``, differentiably in the distances (and so in the embedding that made them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from subsel._validation import (
    check_choice,
    check_int,
    check_real,
    input_error,
    param_error,
)

__all__ = ["FacilityLocationLP", "FacilityLPResult"]

_FUNC = "FacilityLocationLP"
_EXTRA = "valuation"
DEFAULT_SMOOTHING = 0.01  # native solver: eps = 0.01 * (mean distance of the instance)


@dataclass
class FacilityLPResult:
    """What :class:`FacilityLocationLP` returns with ``return_all=True``.

    Attributes
    ----------
    u : Tensor (..., n)
        How much each new point is opened as a representative, in ``[0, 1]``.
    z_new : Tensor (..., n, n)
        ``z_new[i, j]``: the share of new point ``i`` represented by new point ``j``.
    z_old : Tensor (..., n, m)
        ``z_old[i, o]``: the share of new point ``i`` represented by old point ``o``.
    objective : Tensor (...)
        The LP objective at the returned ``z``: ``sum z_old * d_new_old + sum z_new * d_new_new``
        (without the smoothing term).
    selected : Tensor (..., n) bool
        ``u >= xi``.
    residual : Tensor (...)
        Max-norm violation of the row-sum and budget constraints at the solution (native
        solver; zeros for cvxpylayers, whose own tolerance applies).
    n_iter : int
        Newton iterations of the native solver (0 for cvxpylayers).
    """

    u: torch.Tensor
    z_new: torch.Tensor
    z_old: torch.Tensor
    objective: torch.Tensor
    selected: torch.Tensor
    residual: torch.Tensor
    n_iter: int = 0


class FacilityLocationLP:
    r"""Differentiable online facility-location LP (the selection layer of HOST-CP).

    For ``n`` new points with distances ``d_new_new`` (n, n) among themselves and ``d_new_old``
    (n, m) to ``m`` old (already selected) points, with budget ``k = budget_fraction * n``:

    ``relaxation="budget"`` (default; the budgeted facility-location relaxation that eq. 13 of
    the paper intends)::

        minimize    sum_io z_old[i,o] d_new_old[i,o] + sum_ij z_new[i,j] d_new_new[i,j]
        subject to  sum_o z_old[i,o] + sum_j z_new[i,j] = 1    for every new point i
                    z_old >= 0,  0 <= z_new[i,j] <= u[j] <= 1,  sum_j u[j] <= k

    ``u[j]`` is how much new point ``j`` is opened; it is returned.

    ``relaxation="mass"`` (what the authors' code solves: ``cp.norm(cp.norm(Zn, 1, axis=0), 1)
    <= fraction * D_in``, i.e. a cap on the total mass of ``z_new``)::

        minimize    the same objective
        subject to  the same row sums,  z_old >= 0,  z_new >= 0,  sum_ij z_new[i,j] <= k

    and ``u[j] = min(sum_i z_new[i,j], 1)`` (the column mass the authors threshold). When the
    diagonal of ``d_new_new`` is the smallest entry of its row (as for any distance, ``d(i, i) =
    0``), putting mass on ``z_new[i, i]`` is always at least as good as on ``z_new[i, j]``, so this
    LP opens the ``k`` new points farthest from the old set and ignores redundancy among the new
    points; it needs ``m >= 1`` unless ``k >= n``. (The upper bounds ``z <= 1`` of the authors'
    code are implied by the row sums.)

    A new point ``j`` is selected when ``u[j] >= xi``.

    Parameters
    ----------
    budget_fraction : float in (0, 1], default 0.2
        ``gamma``: at most ``gamma * n`` new points are opened (the budget ``k = gamma * n``,
        not rounded). With ``m = 0`` the budget LP needs ``k >= 1``.
    xi : float in (0, 1], default 0.9
        Selection threshold on ``u``.
    solver : {"native", "cvxpylayers"}, default "native"
        ``"cvxpylayers"``: the reference, a ``CvxpyLayer`` (DPP, distances as parameters, sums
        written with ``cp.sum``) solved by SCS through diffcp and differentiated by diffcp;
        the compiled layer is cached per ``(n, m, relaxation, k, smoothed)``. Needs the extra
        ``subsel[valuation]`` (cvxpy, cvxpylayers). ``"native"``: a batched PyTorch solver
        (CPU or CUDA) of the quadratically smoothed problem below, a semismooth Newton method
        on its ``n + 1``-variable dual, differentiated implicitly.
    relaxation : {"budget", "mass"}, default "budget"
    smoothing : float >= 0 or None, default None
        Relative weight ``s`` of the quadratic smoothing: the solvers minimize the objective plus
        ``eps / 2 * (|z_old|^2 + |z_new|^2 + |u|^2)`` (``|u|^2`` for ``"budget"`` only), with
        ``eps = s * mean(distances of the instance)``, so the solution does not change when all
        distances are scaled (``eps`` is differentiated through, too). ``None`` means
        ``0.01`` for the native solver (which needs ``s > 0``) and ``0`` (the exact LP, as the
        authors) for cvxpylayers. Effect on the objective: the smoothed solution's LP objective
        exceeds the LP optimum by at most ``eps / 2 * R^2`` with ``R^2 = n + k`` (budget) or
        ``n`` (mass), the largest value of the quadratic over the feasible set; measured on
        random 40 x 40 and 100 x 100 instances (l1 distances of Gaussian points) with
        ``s = 0.01`` the relative gap is 3e-4 to 1e-3 (``benchmarks/facility_lp.py``), and 5
        to 8 of the 8 budgeted points at 40 x 40 get ``u >= 0.9``. Larger ``s`` gives softer
        ``u`` (at ``s = 0.03`` few points reach ``xi = 0.9``; at ``s = 0.1`` almost none)
        and more non-zero gradients; smaller ``s`` the reverse (and more Newton iterations:
        about 2x at ``s = 0.001``). The LP's solution is piecewise constant in the distances,
        so its derivative is zero almost everywhere (cvxpylayers returns gradients of norm
        ~1e-5 of the smoothed ones, in random directions, for ``s = 0``); ``s > 0`` makes
        ``u`` a smooth, informative function of the distances.
    tol : float > 0, default 1e-7
        Native solver: stop when every instance's constraint residual (max-norm of row sums
        minus 1, and of the budget's violation or, if its multiplier is positive, slack
        relative to ``max(k, 1)``) is below ``tol``. Computation is in float64.
    max_iter : int >= 1, default 100
        Native solver: at most this many Newton iterations (typical: 10-30 at ``s = 0.01``).

    Notes
    -----
    Call as ``layer(d_new_old, d_new_new)`` with tensors ``(n, m)`` and ``(n, n)`` or batched
    ``(..., n, m)`` and ``(..., n, n)`` (the same leading shape); ``m`` may be 0. Returns ``u``
    ``(..., n)`` (in the dtype and on the device of the input), or a :class:`FacilityLPResult`
    with ``return_all=True``.

    Complexity, per instance: native, ``O(T (n (n + m) p + n^3))`` for ``T`` Newton iterations
    (each with 1-4 evaluations of the dual, each ``p`` passes of ``O(n (n + m))`` to find ``u``;
    ``p`` is 1-3 once warm) and a ``(n + 1) x (n + 1)`` solve; memory ``O(n (n + m))``. The
    backward pass costs one more evaluation, a pseudo-inverse and autograd through one
    evaluation. A batch runs until its slowest instance converges, so batching pays at small
    ``n`` (per-op overhead dominates) and not at ``n = 100`` (see the benchmark).
    cvxpylayers: an SCS solve of a conic program with ``n (n + m) + n`` variables per instance,
    one after the other.

    Gradients: implicit differentiation of the smoothed problem (agreeing with central finite
    differences to 1e-4 relative on 120 random instances, and with cvxpylayers on the same
    smoothed problem, cosine >= 0.99, in the tests). Where the dual optimum is not unique the
    solver resolves ties as "constraint active" (see ``_lp_native``).

    Examples
    --------
    >>> import torch
    >>> from subsel.valuation import FacilityLocationLP
    >>> h = torch.randn(10, 4, requires_grad=True)          # embeddings of 10 new points
    >>> d_new_new = torch.cdist(h, h, p=1)
    >>> d_new_old = torch.cdist(h, torch.randn(5, 4), p=1)
    >>> u = FacilityLocationLP(budget_fraction=0.2)(d_new_old, d_new_new)
    >>> u.shape, bool(u.sum() <= 2 + 1e-5)
    (torch.Size([10]), True)
    >>> u.sum().backward()
    """

    def __init__(
        self,
        budget_fraction: float = 0.2,
        xi: float = 0.9,
        *,
        solver: str = "native",
        relaxation: str = "budget",
        smoothing: float | None = None,
        tol: float = 1e-7,
        max_iter: int = 100,
    ):
        self.budget_fraction = budget_fraction
        self.xi = xi
        self.solver = solver
        self.relaxation = relaxation
        self.smoothing = smoothing
        self.tol = tol
        self.max_iter = max_iter
        self._checked()  # fail early; the values are stored as given

    def get_params(self) -> dict:
        """The settings, as given."""
        return {
            "budget_fraction": self.budget_fraction,
            "xi": self.xi,
            "solver": self.solver,
            "relaxation": self.relaxation,
            "smoothing": self.smoothing,
            "tol": self.tol,
            "max_iter": self.max_iter,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"FacilityLocationLP({args})"

    def _checked(self) -> dict:
        p = {
            "budget_fraction": check_real(
                self.budget_fraction, "budget_fraction", _FUNC, low=0.0, high=1.0, low_open=True
            ),
            "xi": check_real(self.xi, "xi", _FUNC, low=0.0, high=1.0, low_open=True),
            "solver": check_choice(self.solver, ("native", "cvxpylayers"), "solver", _FUNC),
            "relaxation": check_choice(self.relaxation, ("budget", "mass"), "relaxation", _FUNC),
            "tol": check_real(self.tol, "tol", _FUNC, low=0.0, low_open=True),
            "max_iter": check_int(self.max_iter, "max_iter", _FUNC, low=1),
        }
        if self.smoothing is None:
            p["smoothing"] = DEFAULT_SMOOTHING if p["solver"] == "native" else 0.0
        elif p["solver"] == "native":
            p["smoothing"] = check_real(self.smoothing, "smoothing", _FUNC, low=0.0, low_open=True)
        else:
            p["smoothing"] = check_real(self.smoothing, "smoothing", _FUNC, low=0.0)
        return p

    # -----------------------------------------------------------------------------------------
    def __call__(self, d_new_old, d_new_new, *, return_all: bool = False):
        """Solve the LP for one instance or a batch; see the class docstring.

        Parameters
        ----------
        d_new_old : Tensor (..., n, m), finite, >= 0
        d_new_new : Tensor (..., n, n), finite, >= 0
        return_all : bool
            Return a :class:`FacilityLPResult` instead of ``u``.

        Returns
        -------
        u : Tensor (..., n), or FacilityLPResult
        """
        from subsel._validation import check_bool

        p = self._checked()
        return_all = check_bool(return_all, "return_all", _FUNC)
        d_old, d_new, batch = _check_distances(d_new_old, d_new_new)
        n, m = d_old.shape[-2], d_old.shape[-1]
        k = p["budget_fraction"] * n
        if m == 0 and p["relaxation"] == "budget" and k < 1.0 - 1e-12:
            raise param_error(
                _FUNC,
                "budget_fraction",
                f"at least 1/n = {1.0 / n:g} when there are no old points (m=0), so that the "
                f"budget k = budget_fraction * n can represent every new point",
                self.budget_fraction,
            )
        if m == 0 and p["relaxation"] == "mass" and k < n - 1e-9:
            raise param_error(
                _FUNC,
                "budget_fraction",
                "1.0 for relaxation='mass' when there are no old points (m=0): every new point "
                "must then be represented by new points, with total mass n; pass old points or "
                "use relaxation='budget'",
                self.budget_fraction,
            )
        in_dtype = d_new.dtype
        # internal float64: Newton's method and the KKT checks want the precision
        nb = math.prod(batch)
        do = d_old.reshape(nb, n, m).to(torch.float64)
        dn = d_new.reshape(nb, n, n).to(torch.float64)
        eps = p["smoothing"] * _mean_distance(do, dn)
        if p["solver"] == "native":
            from ._lp_native import solve_native

            kk = torch.full((do.shape[0],), k, dtype=torch.float64, device=do.device)
            sol = solve_native(
                do, dn, eps, kk, p["relaxation"], tol=p["tol"], max_iter=p["max_iter"]
            )
            z_old, z_new, u, residual, n_iter = (
                sol.z_old,
                sol.z_new,
                sol.u,
                sol.residual,
                sol.n_iter,
            )
        else:
            z_old, z_new, u = _solve_cvxpylayers(do, dn, eps, k, p["relaxation"], p["smoothing"])
            residual, n_iter = torch.zeros(do.shape[0], dtype=torch.float64, device=do.device), 0
        u = u.to(in_dtype).reshape(*batch, n)
        if not return_all:
            return u
        objective = (z_old * do).sum((-1, -2)) + (z_new * dn).sum((-1, -2))
        return FacilityLPResult(
            u=u,
            z_new=z_new.to(in_dtype).reshape(*batch, n, n),
            z_old=z_old.to(in_dtype).reshape(*batch, n, m),
            objective=objective.to(in_dtype).reshape(batch),
            selected=u >= p["xi"],
            residual=residual.reshape(batch),
            n_iter=n_iter,
        )


# ---------------------------------------------------------------------------------------------
def _mean_distance(do: torch.Tensor, dn: torch.Tensor) -> torch.Tensor:
    """Mean of all distances of each instance (B,); 1 where they are all 0."""
    total = do.sum((-1, -2)) + dn.sum((-1, -2))
    mean = total / (do.shape[-1] * do.shape[-2] + dn.shape[-1] * dn.shape[-2])
    return torch.where(mean > 0, mean, torch.ones_like(mean))


def _check_distances(d_new_old, d_new_new):
    """Validate the two distance inputs; return them and the batch shape."""
    for name, x in (("d_new_old", d_new_old), ("d_new_new", d_new_new)):
        if not isinstance(x, torch.Tensor):
            raise input_error(
                _FUNC,
                name,
                f"must be a torch.Tensor; got {type(x).__name__}",
                "convert it with torch.as_tensor(..., dtype=torch.float64)",
                kind=TypeError,
            )
        if not x.is_floating_point():
            raise input_error(
                _FUNC,
                name,
                f"must have a floating dtype; got {x.dtype}",
                "convert it with .float() or .double()",
                kind=TypeError,
            )
        if x.ndim < 2:
            raise input_error(
                _FUNC,
                name,
                f"must have at least 2 axes (..., n, {'m' if name == 'd_new_old' else 'n'}); "
                f"got shape {tuple(x.shape)}",
                "pass a matrix, or a batch of matrices on leading axes",
            )
    n = d_new_new.shape[-1]
    if d_new_new.shape[-2] != n or n == 0:
        raise input_error(
            _FUNC,
            "d_new_new",
            f"must be square (..., n, n) with n >= 1; got shape {tuple(d_new_new.shape)}",
            "pass the distances among the new points",
        )
    if d_new_old.shape[-2] != n or d_new_old.shape[:-2] != d_new_new.shape[:-2]:
        raise input_error(
            _FUNC,
            "d_new_old",
            f"must have shape (..., n, m) = {tuple(d_new_new.shape[:-2]) + (n, 'm')} to match "
            f"'d_new_new' of shape {tuple(d_new_new.shape)}; got shape {tuple(d_new_old.shape)}",
            "give one row per new point and the same leading (batch) shape",
        )
    if d_new_old.device != d_new_new.device:
        raise input_error(
            _FUNC,
            "d_new_old",
            f"is on {d_new_old.device} but 'd_new_new' is on {d_new_new.device}",
            "move both to one device",
        )
    for name, x in (("d_new_old", d_new_old), ("d_new_new", d_new_new)):
        xd = x.detach()
        bad = ~torch.isfinite(xd)
        if bool(bad.any()):
            what = "NaN" if bool(torch.isnan(xd).any()) else "infinite values"
            raise input_error(
                _FUNC,
                name,
                f"contains {what} at {int(bad.sum())} positions",
                "distances must be finite; remove or impute them",
            )
        neg = xd < 0
        if bool(neg.any()):
            raise input_error(
                _FUNC,
                name,
                f"contains {int(neg.sum())} negative values (min {float(xd.min()):g})",
                "distances must be >= 0",
            )
    return d_new_old, d_new_new, tuple(d_new_new.shape[:-2])


# ---------------------------------------------------------------------------------------------
# the cvxpylayers reference
# ---------------------------------------------------------------------------------------------
_LAYERS: dict = {}
SCS_ARGS = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 100_000}


def _import_cvxpylayers():
    try:
        import cvxpy as cp
        from cvxpylayers.torch import CvxpyLayer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "FacilityLocationLP(solver='cvxpylayers') needs cvxpy and cvxpylayers; install the "
            f"extra with `pip install 'subsel[{_EXTRA}]'` (or `pip install cvxpylayers`), or use "
            "solver='native'."
        ) from exc
    return cp, CvxpyLayer


def _layer(n: int, m: int, relaxation: str, k: float, smoothed: bool):
    key = (n, m, relaxation, float(k), smoothed)
    if key in _LAYERS:
        return _LAYERS[key]
    cp, CvxpyLayer = _import_cvxpylayers()
    d_new = cp.Parameter((n, n), nonneg=True)
    z_new = cp.Variable((n, n), nonneg=True)
    params, variables = [d_new], [z_new]
    objective = cp.sum(cp.multiply(d_new, z_new))
    rows = cp.sum(z_new, axis=1)
    quad = cp.sum_squares(z_new)
    if m > 0:
        d_old = cp.Parameter((n, m), nonneg=True)
        z_old = cp.Variable((n, m), nonneg=True)
        params.insert(0, d_old)
        variables.insert(0, z_old)
        objective = objective + cp.sum(cp.multiply(d_old, z_old))
        rows = rows + cp.sum(z_old, axis=1)
        quad = quad + cp.sum_squares(z_old)
    constraints = [rows == 1]
    if relaxation == "budget":
        u = cp.Variable(n)
        variables.append(u)
        constraints += [z_new <= cp.reshape(u, (1, n), order="C"), u <= 1, cp.sum(u) <= k]
        quad = quad + cp.sum_squares(u)
    else:
        constraints.append(cp.sum(z_new) <= k)
    if smoothed:
        eps = cp.Parameter(nonneg=True)
        params.append(eps)
        objective = objective + 0.5 * eps * quad
    problem = cp.Problem(cp.Minimize(objective), constraints)
    layer = CvxpyLayer(problem, parameters=params, variables=variables)
    _LAYERS[key] = layer
    return layer


def _solve_cvxpylayers(do, dn, eps, k, relaxation, smoothing):
    """Batched reference solve; returns z_old (B, n, m), z_new (B, n, n), u (B, n)."""
    B, n, m = do.shape
    smoothed = smoothing > 0
    layer = _layer(n, m, relaxation, k, smoothed)
    args = ([do] if m > 0 else []) + [dn] + ([eps] if smoothed else [])
    if B == 1:  # cvxpylayers batches by the leading axis only when every parameter has it
        args = [a[0] for a in args]
    out = layer(*args, solver_args=SCS_ARGS)
    out = [o if B > 1 else o.unsqueeze(0) for o in out]
    if m > 0:
        z_old, z_new = out[0], out[1]
    else:
        z_old, z_new = do.new_zeros(B, n, 0), out[0]
    z_new = z_new.to(torch.float64)
    if relaxation == "budget":
        u = out[-1].to(torch.float64)
    else:
        u = z_new.sum(-2).clamp(max=1.0)
    return z_old.to(torch.float64), z_new, u
