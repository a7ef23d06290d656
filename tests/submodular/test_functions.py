"""Set functions: evaluate against the definitions, gains against evaluate, batch invariance,
submodularity and monotonicity (hypothesis), the state API."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from subsel.submodular import (
    Coverage,
    FacilityLocation,
    FeatureBased,
    GraphCut,
    GroupCoverage,
    Mixture,
    Modular,
    SetState,
)

PHI = {"sqrt": np.sqrt, "log1p": np.log1p, "min1": lambda x: np.minimum(x, 1.0)}


# --------------------------------------------------------------------------------------------------
# random instances, each with an independent brute-force definition of f
# --------------------------------------------------------------------------------------------------


def _sym(rng, n, density=None):
    A = rng.random((n, n))
    if density is not None:
        A *= rng.random((n, n)) < density
    return (A + A.T) / 2


def make_instances(seed: int, n: int = 9):
    """[(name, f, brute(S) -> float, monotone)] on a ground set of size n."""
    rng = np.random.default_rng(seed)
    out = []

    # facility location: dense symmetric, dense non-symmetric (float32), sparse
    S = _sym(rng, n)
    out.append(("fl-dense", FacilityLocation(S), _fl_brute(S), True))
    A = rng.random((n, n)).astype(np.float32)
    out.append(("fl-dense-nonsym-f32", FacilityLocation(A), _fl_brute(A.astype(np.float64)), True))
    B = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
    out.append(("fl-sparse", FacilityLocation(sp.csr_matrix(B)), _fl_brute(B), True))
    X = rng.normal(size=(n, 3))
    knn = FacilityLocation.from_features(X, n_neighbors=3, kernel="exp", dtype=np.float64)
    out.append(("fl-knn", knn, _fl_brute(knn.similarity.toarray()), True))

    # feature based: dense with weights, sparse, callable
    F = rng.random((n, 4)) * (rng.random((n, 4)) < 0.7)
    w = rng.random(4) + 0.1
    for name in ("sqrt", "log1p", "min1"):
        out.append(
            (
                f"fb-{name}",
                FeatureBased(F, concave=name, weights=w),
                _fb_brute(F, PHI[name], w),
                True,
            )
        )
    out.append(
        (
            "fb-sparse",
            FeatureBased(sp.csr_matrix(F), concave="log1p"),
            _fb_brute(F, np.log1p, np.ones(4)),
            True,
        )
    )

    def cube_root(x):
        return np.cbrt(x + 1.0)  # phi(0) = 1: evaluate subtracts it

    out.append(
        (
            "fb-callable",
            FeatureBased(F, concave=cube_root),
            _fb_brute(F, cube_root, np.ones(4)),
            True,
        )
    )

    # coverage: dense and sparse incidence with weights
    inc = rng.random((n, 6)) < 0.3
    cw = rng.integers(1, 5, size=6).astype(float)
    out.append(("cov-dense", Coverage(inc, weights=cw), _cov_brute(inc, cw), True))
    out.append(
        (
            "cov-sparse",
            Coverage(sp.csr_matrix(inc.astype(float))),
            _cov_brute(inc, np.ones(6)),
            True,
        )
    )

    # group coverage: list form (one or several groups per item) and matrix form, each h
    groups = [list(rng.choice(5, size=rng.integers(0, 3), replace=False)) for _ in range(n)]
    groups[0] = 2  # a bare int id
    for h in ("min1", "sqrt", "log1p"):
        out.append(
            (f"gc-{h}", GroupCoverage(groups, h=h, n_groups=5), _gc_brute(groups, 5, PHI[h]), True)
        )
    member = rng.random((n, 4)) < 0.4
    out.append(
        (
            "gc-matrix",
            GroupCoverage(sp.csr_matrix(member.astype(float)), h="sqrt"),
            _gc_brute([list(np.flatnonzero(r)) for r in member], 4, np.sqrt),
            True,
        )
    )

    # graph cut: monotone (lam <= 1/2) and not, dense and sparse
    G = _sym(rng, n)
    out.append(("gcut-0.4", GraphCut(G, lam=0.4), _gcut_brute(G, 0.4), True))
    out.append(("gcut-1.0", GraphCut(G, lam=1.0), _gcut_brute(G, 1.0), False))
    Gs = _sym(rng, n, density=0.5)
    out.append(("gcut-sparse", GraphCut(sp.csr_matrix(Gs), lam=0.5), _gcut_brute(Gs, 0.5), True))

    # modular (negative weights: not monotone) and a mixture
    mw = rng.normal(size=n)
    out.append(("modular", Modular(mw), lambda s: float(mw[list(s)].sum()), False))
    rel = rng.random(n)
    mix = Modular(rel) + 0.7 * FacilityLocation(S)
    fl = _fl_brute(S)
    out.append(("mixture", mix, lambda s: float(rel[list(s)].sum()) + 0.7 * fl(s), True))
    return out


def _fl_brute(S):
    S = np.asarray(S, dtype=np.float64)

    def f(s):
        s = list(s)
        return 0.0 if not s else float(sum(max(S[i, j] for j in s) for i in range(S.shape[0])))

    return f


def _fb_brute(F, phi, w):
    def f(s):
        m = F[list(s)].sum(axis=0) if len(s) else np.zeros(F.shape[1])
        return float(np.dot(w, phi(m) - phi(np.zeros_like(m))))

    return f


def _cov_brute(inc, w):
    def f(s):
        covered = set()
        for i in s:
            covered |= set(np.flatnonzero(inc[i]).tolist())
        return float(sum(w[c] for c in covered))

    return f


def _gc_brute(groups, n_groups, h):
    def f(s):
        counts = np.zeros(n_groups)
        for i in s:
            ids = [groups[i]] if isinstance(groups[i], (int, np.integer)) else groups[i]
            for g in set(int(x) for x in ids):
                counts[g] += 1
        return float(h(counts).sum())

    return f


def _gcut_brute(S, lam):
    def f(s):
        s = list(s)
        n = S.shape[0]
        return float(
            sum(S[i, j] for i in range(n) for j in s) - lam * sum(S[i, j] for i in s for j in s)
        )

    return f


INSTANCE_NAMES = [name for name, *_ in make_instances(0)]


def instance(name, seed=0, n=9):
    for got, f, brute, mono in make_instances(seed, n):
        if got == name:
            return f, brute, mono
    raise KeyError(name)


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", INSTANCE_NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_matches_definition(name, seed):
    f, brute, _ = instance(name, seed)
    rng = np.random.default_rng(seed + 100)
    assert f.evaluate([]) == 0.0
    for size in (1, 2, 4, 9):
        s = rng.choice(f.n, size=size, replace=False)
        assert f.evaluate(s) == pytest.approx(brute(s), rel=1e-5, abs=1e-6)
    mask = np.zeros(f.n, dtype=bool)
    mask[[1, 3]] = True
    assert f.evaluate(mask) == pytest.approx(brute([1, 3]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", INSTANCE_NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_gains_are_differences_of_evaluate(name, seed):
    f, brute, _ = instance(name, seed)
    rng = np.random.default_rng(seed + 7)
    for size in (0, 1, 3, 6):
        s = [int(x) for x in rng.choice(f.n, size=size, replace=False)]
        state = f.init_state(s)
        assert isinstance(state, SetState)
        assert state.selected == s and state.mask.sum() == size
        assert state.value == pytest.approx(brute(s), rel=1e-5, abs=1e-6)
        g = f.gains(state, np.arange(f.n))
        assert g.dtype == np.float64 and g.shape == (f.n,)
        base = brute(s)
        want = [0.0 if i in s else brute(s + [i]) - base for i in range(f.n)]
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", INSTANCE_NAMES)
def test_gains_are_batch_invariant(name):
    """A candidate's gain does not depend on the batch it is evaluated in (bit for bit)."""
    f, _, _ = instance(name, seed=3, n=12)
    state = f.init_state([2, 7])
    every = f.gains(state, np.arange(f.n))
    one_by_one = np.array([f.gains(state, np.array([i]))[0] for i in range(f.n)])
    np.testing.assert_array_equal(every, one_by_one)
    pick = np.array([11, 0, 5, 5, 3])  # any order, repeats allowed
    np.testing.assert_array_equal(f.gains(state, pick), every[pick])


@pytest.mark.parametrize("name", INSTANCE_NAMES)
def test_update_tracks_value_and_rejects_members(name):
    f, brute, _ = instance(name, seed=4)
    state = f.init_state()
    for i in (4, 0, 8):
        gain = f.gains(state, [i])[0]
        before = state.value
        assert f.update(state, i) is state
        assert state.value == pytest.approx(before + gain)
    assert state.value == pytest.approx(brute([4, 0, 8]), rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match="already in the set"):
        f.update(state, 0)
    with pytest.raises(ValueError, match="'i' parameter"):
        f.update(state, f.n)
    with pytest.raises(ValueError, match="'candidates'"):
        f.gains(state, [f.n])
    with pytest.raises(TypeError, match="'candidates'"):
        f.gains(state, [0.5])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_submodular_and_monotone(seed, data):
    """f(a | S) >= f(a | T) for S subset of T, a not in T; and f(a | S) >= 0 when monotone."""
    name = data.draw(st.sampled_from(INSTANCE_NAMES))
    n = data.draw(st.integers(4, 8))
    f, _, monotone = instance(name, seed, n)
    T = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n - 1))
    S = data.draw(st.lists(st.sampled_from(T), unique=True) if T else st.just([]))
    rest = np.array([a for a in range(n) if a not in T])
    gS = f.gains(f.init_state(S), rest)
    gT = f.gains(f.init_state(T), rest)
    assert np.all(gS >= gT - 1e-9 * (1 + np.abs(gS))), (name, S, T)
    if monotone:
        assert np.all(gT >= -1e-9), (name, T)


def test_graph_cut_monotone_threshold():
    """lam <= c_a / (2 c_a - s_aa) keeps every gain >= 0 up to S = V - a; beyond, not."""
    rng = np.random.default_rng(0)
    S = _sym(rng, 6)
    c, d = S.sum(axis=0), np.diag(S)
    lam_max = float(np.min(c / (2 * c - d)))
    for lam, ok in ((lam_max * 0.999, True), (lam_max * 1.05, False)):
        f = GraphCut(S, lam=lam)
        worst = min(
            f.gains(f.init_state([j for j in range(6) if j != a]), [a])[0] for a in range(6)
        )
        assert (worst >= 0) == ok


def test_group_coverage_min1_counts_groups_and_equals_coverage():
    groups = [[0, 1], [1], [2], [], [0]]
    f = GroupCoverage(groups, h="min1")
    assert f.n_groups == 3
    assert f.evaluate([0]) == 2 and f.evaluate([0, 1, 4]) == 2 and f.evaluate([0, 2]) == 3
    inc = np.zeros((5, 3), dtype=bool)
    for i, g in enumerate(groups):
        inc[i, g] = True
    cov = Coverage(inc)
    for s in ([0], [1, 2], [3], [0, 1, 2, 3, 4]):
        assert cov.evaluate(s) == f.evaluate(s)
    # gains follow eq. 7: sqrt(1 + c) - sqrt(c) per group of the item
    g = GroupCoverage(groups, h="sqrt")
    st_ = g.init_state([1])  # counts: group 1 -> 1
    np.testing.assert_allclose(g.gains(st_, [0, 4]), [1 + np.sqrt(2) - 1, 1.0])


def test_group_coverage_accepts_1d_ids_and_weights():
    f = GroupCoverage(np.array([0, 0, 1, 2]), h="log1p", weights=[1.0, 2.0, 3.0])
    assert f.evaluate([0, 1]) == pytest.approx(np.log1p(2))
    assert f.evaluate([2, 3]) == pytest.approx(2 * np.log1p(1) + 3 * np.log1p(1))


def test_feature_based_float32_features_and_sparse_equal_dense():
    rng = np.random.default_rng(1)
    F = (rng.random((20, 5)) * (rng.random((20, 5)) < 0.5)).astype(np.float32)
    dense, sparse = FeatureBased(F), FeatureBased(sp.csr_matrix(F))
    s = dense.init_state([3, 4])
    np.testing.assert_allclose(
        dense.gains(s, np.arange(20)),
        sparse.gains(sparse.init_state([3, 4]), np.arange(20)),
        rtol=1e-12,
    )


def test_state_from_another_function_is_refused():
    f, g = Modular(np.ones(3)), Modular(np.ones(3))
    with pytest.raises(ValueError, match="another function"):
        f.gains(g.init_state(), [0])
    with pytest.raises(TypeError, match="SetState"):
        f.gains({"cur": 0}, [0])


# --------------------------------------------------------------------------------------------------
# mixtures
# --------------------------------------------------------------------------------------------------


def test_mixture_equals_weighted_sum_of_parts():
    rng = np.random.default_rng(2)
    S = _sym(rng, 10)
    f1, f2 = FacilityLocation(S), GroupCoverage([i % 3 for i in range(10)], h="sqrt")
    mix = Mixture([f1, f2], weights=[1.0, 0.25])
    sugar = f1 + 0.25 * f2
    assert isinstance(sugar, Mixture)
    np.testing.assert_array_equal(sugar.weights, [1.0, 0.25])
    assert sugar.functions == (f1, f2)
    for s in ([], [0], [1, 4, 7]):
        want = f1.evaluate(s) + 0.25 * f2.evaluate(s)
        assert mix.evaluate(s) == pytest.approx(want)
        assert sugar.evaluate(s) == pytest.approx(want)
        st1, st2, stm = f1.init_state(s), f2.init_state(s), mix.init_state(s)
        np.testing.assert_allclose(
            mix.gains(stm, np.arange(10)),
            f1.gains(st1, np.arange(10)) + 0.25 * f2.gains(st2, np.arange(10)),
        )


def test_mixture_sugar_flattens_and_scales():
    a, b, c = Modular(np.ones(4)), Modular(np.arange(4.0)), Modular(np.full(4, 2.0))
    m = 2 * (a + 0.5 * b) + c
    assert m.functions == (a, b, c)
    np.testing.assert_allclose(m.weights, [2.0, 1.0, 1.0])
    assert m.evaluate([3]) == pytest.approx(2 + 3 + 2)
    assert sum([a, b]).evaluate([1]) == pytest.approx(2.0)
    assert Mixture([(a, 3.0), (c, 1.0)]).evaluate([0]) == pytest.approx(5.0)


def test_mixture_errors():
    a = Modular(np.ones(4))
    with pytest.raises(ValueError, match="share one ground set"):
        a + Modular(np.ones(5))
    with pytest.raises(ValueError, match="'weights' of Mixture must be >= 0"):
        Mixture([a, a], weights=[1.0, -1.0])
    with pytest.raises(TypeError, match="item 1"):
        Mixture([a, "b"])
    with pytest.raises(ValueError, match="is empty"):
        Mixture([])


# --------------------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------------------


def test_facility_location_errors():
    with pytest.raises(ValueError, match="'similarity' of FacilityLocation must be a square"):
        FacilityLocation(np.ones((3, 4)))
    bad = np.ones((3, 3))
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="'similarity' of FacilityLocation contains NaN at 1"):
        FacilityLocation(bad)
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match="'similarity'.*infinite"):
        FacilityLocation(bad)
    bad[0, 1] = -0.5
    with pytest.raises(
        ValueError, match=r"'similarity' of FacilityLocation must be >= 0; got 1 negative"
    ):
        FacilityLocation(bad)
    with pytest.raises(ValueError, match="'similarity'.*>= 0"):
        FacilityLocation(sp.csr_matrix(bad))
    with pytest.raises(ValueError, match="must be 2-d"):
        FacilityLocation(np.ones(3))
    with pytest.raises(TypeError, match="'similarity'"):
        FacilityLocation("abc")
    with pytest.raises(TypeError, match="'symmetric'"):
        FacilityLocation(np.ones((2, 2)), symmetric="yes")


def test_other_function_errors():
    with pytest.raises(ValueError, match="'features' of FeatureBased must be >= 0"):
        FeatureBased(-np.ones((3, 2)))
    with pytest.raises(ValueError, match="'concave' parameter of FeatureBased must be one of"):
        FeatureBased(np.ones((3, 2)), concave="cube")
    with pytest.raises(TypeError, match="'concave'"):
        FeatureBased(np.ones((3, 2)), concave=3)
    with pytest.raises(ValueError, match="'weights' of FeatureBased must have shape \\(2,\\)"):
        FeatureBased(np.ones((3, 2)), weights=[1.0])
    with pytest.raises(ValueError, match="'incidence' of Coverage must hold only 0 and 1"):
        Coverage(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="'weights' of Coverage must be >= 0"):
        Coverage(np.ones((3, 2)), weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="'h' parameter of GroupCoverage"):
        GroupCoverage([0, 1], h="square")
    with pytest.raises(ValueError, match="group ids must be ints >= 0"):
        GroupCoverage([0, -1])
    with pytest.raises(ValueError, match="out of range for n_groups=2"):
        GroupCoverage([0, 5], n_groups=2)
    with pytest.raises(ValueError, match="'similarity' of GraphCut must be symmetric"):
        GraphCut(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="'lam' parameter of GraphCut"):
        GraphCut(np.ones((2, 2)), lam=-1.0)
    with pytest.raises(ValueError, match="'weights' of Modular contains NaN"):
        Modular([1.0, np.nan])
    with pytest.raises(ValueError, match="'indices' of Modular.evaluate must hold distinct"):
        Modular(np.ones(3)).evaluate([1, 1])
    with pytest.raises(ValueError, match="'indices' of Modular.evaluate must hold indices in"):
        Modular(np.ones(3)).evaluate([3])


def test_brute_force_helpers_agree_on_tiny_case():
    """The test's own definitions, checked by hand on one tiny case."""
    S = np.array([[1.0, 0.2], [0.3, 1.0]])
    assert _fl_brute(S)([0]) == pytest.approx(1.3)
    assert _gcut_brute(S, 0.5)([0]) == pytest.approx(1.3 - 0.5)
    assert _gc_brute([[0], [0, 1]], 2, np.sqrt)([0, 1]) == pytest.approx(np.sqrt(2) + 1)
    assert list(itertools.combinations(range(3), 2))[0] == (0, 1)
