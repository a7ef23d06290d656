"""FacilityLocationLP: both solvers against HiGHS (linprog), the native solver against the exact
smoothed problem and finite differences, gradient agreement between the solvers, bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from subsel.valuation import FacilityLocationLP, FacilityLPResult

scipy_optimize = pytest.importorskip("scipy.optimize")
sparse = pytest.importorskip("scipy.sparse")

try:  # the reference solver is optional
    import cvxpy  # noqa: F401
    import cvxpylayers  # noqa: F401

    HAVE_CVXPYLAYERS = True
except ImportError:  # pragma: no cover
    HAVE_CVXPYLAYERS = False
needs_cvxpylayers = pytest.mark.skipif(not HAVE_CVXPYLAYERS, reason="needs cvxpylayers")


def instance(n, m, seed, dim=3, batch=None):
    """l1 distances between random Gaussian points: d_new_old (n, m), d_new_new (n, n)."""
    g = torch.Generator().manual_seed(seed)
    shape = (n + m, dim) if batch is None else (batch, n + m, dim)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    d = torch.cdist(x, x, p=1)
    return d[..., :n, n:].contiguous(), d[..., :n, :n].contiguous()


def linprog_optimum(d_old, d_new, k, relaxation):
    """The LP optimum by HiGHS; variables [z_old (n m), z_new (n n), u (n) for 'budget']."""
    d_old, d_new = np.asarray(d_old), np.asarray(d_new)
    n, m = d_old.shape
    nz = n * m + n * n
    nu = n if relaxation == "budget" else 0
    c = np.concatenate([d_old.ravel(), d_new.ravel(), np.zeros(nu)])
    rows = np.repeat(np.arange(n), m + n)
    cols = np.concatenate(
        [np.concatenate([i * m + np.arange(m), n * m + i * n + np.arange(n)]) for i in range(n)]
    )
    a_eq = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, nz + nu))
    if relaxation == "budget":
        ij = np.arange(n * n)
        r = np.concatenate([ij, ij, np.full(n, n * n)])
        cc = np.concatenate([n * m + ij, nz + ij % n, nz + np.arange(n)])
        v = np.concatenate([np.ones(n * n), -np.ones(n * n), np.ones(n)])
        a_ub = sparse.coo_matrix((v, (r, cc)), shape=(n * n + 1, nz + nu))
        b_ub = np.concatenate([np.zeros(n * n), [k]])
        bounds = [(0, None)] * nz + [(0, 1)] * n
    else:
        a_ub = sparse.coo_matrix(
            (np.ones(n * n), (np.zeros(n * n, int), n * m + np.arange(n * n))), shape=(1, nz)
        )
        b_ub = np.array([k])
        bounds = [(0, None)] * nz
    res = scipy_optimize.linprog(
        c,
        A_ub=a_ub.tocsr(),
        b_ub=b_ub,
        A_eq=a_eq.tocsr(),
        b_eq=np.ones(n),
        bounds=bounds,
        method="highs",
    )
    assert res.status == 0, res.message
    return res.fun


def check_feasible(res, k, relaxation, atol):
    rows = res.z_old.sum(-1) + res.z_new.sum(-1)
    assert torch.allclose(rows, torch.ones_like(rows), atol=atol)
    assert float(res.z_new.min()) >= -atol and (
        res.z_old.numel() == 0 or float(res.z_old.min()) >= -atol
    )
    assert float(res.u.min()) >= -atol and float(res.u.max()) <= 1 + atol
    if relaxation == "budget":
        assert float(res.u.sum()) <= k + atol * max(k, 1)
        assert float((res.z_new - res.u.unsqueeze(-2)).max()) <= atol
    else:
        assert float(res.z_new.sum()) <= k + atol * max(k, 1)


CASES = [(6, 0, 0.5), (8, 3, 0.25), (12, 10, 0.2), (15, 5, 0.3), (10, 1, 1.0)]


# ---------------------------------------------------------------------------------------------
@needs_cvxpylayers
@pytest.mark.parametrize("relaxation", ["budget", "mass"])
@pytest.mark.parametrize("n,m,frac", CASES)
def test_reference_matches_linprog(n, m, frac, relaxation):
    if relaxation == "mass" and m == 0:
        frac = 1.0
    d_old, d_new = instance(n, m, seed=n + m)
    res = FacilityLocationLP(frac, solver="cvxpylayers", relaxation=relaxation)(
        d_old, d_new, return_all=True
    )
    opt = linprog_optimum(d_old, d_new, frac * n, relaxation)
    assert abs(float(res.objective) - opt) <= 1e-4 * max(abs(opt), 1e-12) + 1e-7
    check_feasible(res, frac * n, relaxation, atol=1e-5)


@pytest.mark.parametrize("relaxation", ["budget", "mass"])
@pytest.mark.parametrize("n,m,frac", CASES)
@pytest.mark.parametrize("smoothing", [0.01, 0.001])
def test_native_objective_within_smoothing_bound(n, m, frac, relaxation, smoothing):
    """The smoothed solution is feasible (to the solver tolerance), so its LP objective is at
    least the optimum; it is at most the optimum + eps/2 * max over the feasible set of the
    quadratic, <= eps/2 (n + k) (budget: each row of z has |z_i|^2 <= 1, |u|^2 <= sum u <= k)
    or eps/2 n (mass)."""
    if relaxation == "mass" and m == 0:
        frac = 1.0
    d_old, d_new = instance(n, m, seed=100 + n + m)
    k = frac * n
    res = FacilityLocationLP(frac, relaxation=relaxation, smoothing=smoothing)(
        d_old, d_new, return_all=True
    )
    assert isinstance(res, FacilityLPResult) and float(res.residual) <= 1e-7
    check_feasible(res, k, relaxation, atol=1e-6)
    opt = linprog_optimum(d_old, d_new, k, relaxation)
    eps = smoothing * float(torch.cat([d_old.flatten(), d_new.flatten()]).mean())
    bound = 0.5 * eps * (n + k if relaxation == "budget" else n)
    obj = float(res.objective)
    slack = 1e-6 * (float(d_old.sum()) + float(d_new.sum()))  # row sums are exact to 1e-7
    assert opt - slack <= obj <= opt + bound + slack
    assert torch.equal(res.selected, res.u >= 0.9)


@needs_cvxpylayers
@pytest.mark.parametrize("relaxation", ["budget", "mass"])
def test_native_solves_the_smoothed_problem_exactly(relaxation):
    """Against the same smoothed QP solved by Clarabel through cvxpy (an independent solver)."""
    import cvxpy as cp

    n, m, frac, s = 10, 4, 0.3, 0.05
    d_old, d_new = instance(n, m, seed=7)
    eps = s * float(torch.cat([d_old.flatten(), d_new.flatten()]).mean())
    zo, zn = cp.Variable((n, m), nonneg=True), cp.Variable((n, n), nonneg=True)
    obj = cp.sum(cp.multiply(d_old.numpy(), zo)) + cp.sum(cp.multiply(d_new.numpy(), zn))
    quad = cp.sum_squares(zo) + cp.sum_squares(zn)
    cons = [cp.sum(zo, 1) + cp.sum(zn, 1) == 1]
    if relaxation == "budget":
        u = cp.Variable(n)
        quad = quad + cp.sum_squares(u)
        cons += [zn <= cp.reshape(u, (1, n), order="C"), u <= 1, cp.sum(u) <= frac * n]
    else:
        cons += [cp.sum(zn) <= frac * n]
    cp.Problem(cp.Minimize(obj + eps / 2 * quad), cons).solve(solver="CLARABEL")
    res = FacilityLocationLP(frac, relaxation=relaxation, smoothing=s)(
        d_old, d_new, return_all=True
    )
    np.testing.assert_allclose(res.z_new.numpy(), zn.value, atol=2e-5)
    np.testing.assert_allclose(res.z_old.numpy(), zo.value, atol=2e-5)
    if relaxation == "budget":
        np.testing.assert_allclose(res.u.numpy(), u.value, atol=2e-5)


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("relaxation", ["budget", "mass"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_native_gradient_matches_finite_differences(relaxation, seed):
    """Directional derivatives of a fixed linear function of (u, z_new) along a random
    direction, against central differences of the smoothed solution map, in float64. The map is
    piecewise smooth; with h = 1e-6 a kink is crossed with negligible probability; truncation
    error is O(h^2) and the solver's error enters as tol / h, so we solve to tol = 1e-12 and
    compare with rtol 1e-4. Seed 1 (budget) is dual-degenerate: two new points represent each
    other, only the sum of their duals is determined, and the solver stops on a kink at an end
    of the optimal face; it checks the tie rule of _lp_native._implicit_point (a tie counts as
    "at the bound"), without which the derivative there is 22% off."""
    n, m = 9, 4
    d_old, d_new = instance(n, m, seed=50 + seed)
    # the mass LP puts whole rows on the diagonal, and its smoothed solution is flat in the
    # distances unless the smoothing spreads rows over several representatives: use more of it
    smoothing = 0.1 if relaxation == "budget" else 0.5
    layer = FacilityLocationLP(0.3, relaxation=relaxation, smoothing=smoothing, tol=1e-12)
    g = torch.Generator().manual_seed(seed)
    wu, wz = (
        torch.randn(n, generator=g, dtype=torch.float64),
        torch.randn(n, n, generator=g, dtype=torch.float64),
    )
    vo = torch.randn(n, m, generator=g, dtype=torch.float64)
    vn = torch.randn(n, n, generator=g, dtype=torch.float64)
    vn.fill_diagonal_(0.0)  # d(i, i) = 0 must stay >= 0

    def f(do, dn):
        r = layer(do, dn, return_all=True)
        return (r.u * wu).sum() + (r.z_new * wz).sum()

    do, dn = d_old.clone().requires_grad_(), d_new.clone().requires_grad_()
    f(do, dn).backward()
    analytic = float((do.grad * vo).sum() + (dn.grad * vn).sum())
    h = 1e-6
    with torch.no_grad():
        fd = (
            float(f(d_old + h * vo, d_new + h * vn)) - float(f(d_old - h * vo, d_new - h * vn))
        ) / (2 * h)
    assert abs(analytic) > 1e-3  # the test would be vacuous on a flat piece
    assert analytic == pytest.approx(fd, rel=1e-4, abs=1e-6)


@needs_cvxpylayers
@pytest.mark.parametrize("relaxation", ["budget", "mass"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_direction_agrees_with_reference(relaxation, seed):
    """Same smoothed problem (s = 0.05) in both solvers: gradients of a fixed linear function of
    u w.r.t. both distance inputs. cvxpylayers solves to 1e-9 and differentiates by diffcp, so
    anything but a near-identical direction would be a bug: we require cosine >= 0.99."""
    n, m = 8, 5
    d_old, d_new = instance(n, m, seed=200 + seed)
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    grads = []
    for solver in ("native", "cvxpylayers"):
        do, dn = d_old.clone().requires_grad_(), d_new.clone().requires_grad_()
        s = 0.05 if relaxation == "budget" else 0.5  # see the finite-difference test
        layer = FacilityLocationLP(0.3, solver=solver, relaxation=relaxation, smoothing=s)
        r = layer(do, dn, return_all=True)
        (r.u * w + r.z_new.sum(0) * w).sum().backward()
        grads.append(torch.cat([do.grad.flatten(), dn.grad.flatten()]))
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert float(grads[0].norm()) > 1e-3
    assert float(cos) >= 0.99


# ---------------------------------------------------------------------------------------------
def test_batched_equals_one_by_one_and_scale_invariance():
    d_old, d_new = instance(7, 3, seed=3, batch=4)
    layer = FacilityLocationLP(0.3)
    u = layer(d_old, d_new)
    assert u.shape == (4, 7)
    for b in range(4):
        torch.testing.assert_close(u[b], layer(d_old[b], d_new[b]), atol=1e-7, rtol=0)
    torch.testing.assert_close(layer(3.0 * d_old, 3.0 * d_new), u, atol=1e-7, rtol=0)
    u32 = layer(d_old.float(), d_new.float())
    assert u32.dtype == torch.float32
    torch.testing.assert_close(u32.double(), u, atol=1e-5, rtol=0)


def test_distances_to_embedding_gradient_flows():
    h = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    old = torch.randn(2, 3, dtype=torch.float64)
    u = FacilityLocationLP(0.5, smoothing=0.1)(torch.cdist(h, old, p=1), torch.cdist(h, h, p=1))
    (u * torch.arange(6.0, dtype=torch.float64)).sum().backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and float(h.grad.abs().sum()) > 0


def test_import_does_not_import_cvxpy():
    code = "import sys, subsel.valuation; assert 'cvxpy' not in sys.modules, 'cvxpy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frac", [0.0, -0.1, 1.5, float("nan")])
def test_bad_budget_fraction(frac):
    with pytest.raises(
        ValueError,
        match=r"The 'budget_fraction' parameter of FacilityLocationLP "
        r"must be a finite float in \(0, 1\]\. Got",
    ):
        FacilityLocationLP(frac)


@pytest.mark.parametrize("xi", [0.0, 1.01, -1])
def test_bad_xi(xi):
    with pytest.raises(ValueError, match=r"The 'xi' parameter of FacilityLocationLP must be"):
        FacilityLocationLP(0.2, xi)


def test_bad_options():
    with pytest.raises(ValueError, match="'solver' parameter of FacilityLocationLP must be one of"):
        FacilityLocationLP(solver="scs")
    with pytest.raises(ValueError, match="'relaxation' parameter"):
        FacilityLocationLP(relaxation="exact")
    with pytest.raises(
        ValueError, match="'smoothing' parameter of FacilityLocationLP must be a finite float > 0"
    ):
        FacilityLocationLP(smoothing=0.0)  # the native solver needs s > 0
    with pytest.raises(TypeError, match="'budget_fraction'"):
        FacilityLocationLP("0.2")


def test_bad_distances():
    d_old, d_new = instance(5, 2, seed=0)
    layer = FacilityLocationLP(0.4)
    bad = d_new.clone()
    bad[1, 2] = -0.5
    with pytest.raises(
        ValueError,
        match=r"Input 'd_new_new' of FacilityLocationLP contains 1 "
        r"negative values \(min -0\.5\); distances must be >= 0\.",
    ):
        layer(d_old, bad)
    bad = d_old.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(
        ValueError, match="Input 'd_new_old' of FacilityLocationLP contains NaN at 1 positions"
    ):
        layer(bad, d_new)
    with pytest.raises(ValueError, match="Input 'd_new_old' .* must have shape"):
        layer(d_old[:4], d_new)
    with pytest.raises(ValueError, match="Input 'd_new_new' .* must be square"):
        layer(d_old, d_new[:, :4])
    with pytest.raises(ValueError, match="same leading"):
        layer(d_old.expand(2, 5, 2), d_new.expand(3, 5, 5))
    with pytest.raises(TypeError, match="Input 'd_new_new' .* must be a torch.Tensor"):
        layer(d_old, d_new.numpy())
    with pytest.raises(TypeError, match="floating dtype"):
        layer(d_old, d_new.long())
    with pytest.raises(ValueError, match="at least 1/n"):
        FacilityLocationLP(0.1)(d_old[:, :0], d_new)  # m = 0 and k = 0.5 < 1: infeasible
    with pytest.raises(ValueError, match="relaxation='mass' when there are no old points"):
        FacilityLocationLP(0.5, relaxation="mass")(d_old[:, :0], d_new)
    with pytest.raises(TypeError, match="'return_all'"):
        layer(d_old, d_new, return_all=1)


@pytest.mark.parametrize("relaxation", ["budget", "mass"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_cpu_evaluation_equals_torch(seed, relaxation):
    """The numba kernels of the dual against the torch maths they replace, at random dual
    points (not only at the solution): u, the residual g, the generalized Hessian, the dual
    value and the KKT residual."""
    from subsel.valuation import _lp_native as native

    kernels = native._numba_kernels()
    if kernels is None:
        pytest.skip("numba missing")
    kernel = kernels[relaxation]
    n, m, B = 9, 4, 3
    d_old, d_new = instance(n, m, seed=seed, batch=B)
    g = torch.Generator().manual_seed(seed)
    eps = 0.05 * torch.ones(B, dtype=torch.float64)
    k = torch.full((B,), 2.5, dtype=torch.float64)
    alpha = 0.5 * torch.rand(B, n, generator=g, dtype=torch.float64)
    lam = torch.tensor([0.0, 0.01, 0.3], dtype=torch.float64)
    arrays = [x.contiguous().numpy() for x in (d_old, d_new, eps, k)]
    u, grad, H, value, res = native._fused_evaluate(kernel, alpha, lam, *arrays, None)
    o = native._PRIMAL[relaxation](
        alpha, lam, d_old, d_new, eps, k, hessian=True, differentiable=False
    )
    torch.testing.assert_close(u, o[2], rtol=0, atol=1e-12)
    torch.testing.assert_close(grad[:, :n], 1.0 - o[3], rtol=0, atol=1e-10)
    torch.testing.assert_close(grad[:, n], o[4] - k, rtol=0, atol=1e-10)
    torch.testing.assert_close(H, o[5], rtol=0, atol=1e-12)
    v = native._dual_value(*o[:5], alpha, lam, d_old, d_new, eps, k, relaxation)
    torch.testing.assert_close(value, v, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(res, native._residuals(o[3], o[4], lam, k), rtol=0, atol=1e-10)
