"""Numerical robustness: similarities symmetric up to rounding, huge and offset features, float32
cancellation, complex input (issue 9). Most of these failed on the code before the issue; the
float32 offset test and the refusal of a truly asymmetric similarity guard what already held."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances

from subsel.submodular import (
    Coverage,
    FacilityLocation,
    FeatureBased,
    GraphCut,
    GroupCoverage,
    Mixture,
    Modular,
    SubmodularSelector,
    maximize,
)


def _exact_picks(X, k, metric="euclidean", kernel="shift", gamma=None):
    """Greedy on similarities from float64 differences of the given values (no cancellation)."""
    X = np.asarray(X, dtype=np.float64)
    D = cdist(X, X, "sqeuclidean" if metric == "sqeuclidean" else "euclidean")
    S = D.max() - D if kernel == "shift" else np.exp(-(gamma or 1 / X.shape[1]) * D)
    return maximize(FacilityLocation(S), k, optimizer="naive").indices


# --------------------------------------------------------------------------------------------------
# graph cut: symmetric up to rounding
# --------------------------------------------------------------------------------------------------


def _pairwise_similarity():
    """A real similarity from sklearn's pairwise_distances: asymmetric by about 3e-14."""
    X = np.random.default_rng(0).normal(size=(300, 20)) + 10
    D = pairwise_distances(X)
    S = D.max() - D
    if np.array_equal(S, S.T):  # a BLAS that happens to be symmetric here: one ulp, as others do
        S[3, 7] = np.nextafter(S[3, 7], np.inf)
    return S


def test_graph_cut_accepts_pairwise_distances_rounding_and_symmetrizes():
    S = _pairwise_similarity()
    worst = np.abs(S - S.T).max()
    assert 0 < worst < 1e-12 * np.abs(S).max()  # the premise: not exactly symmetric
    sym = (S + S.T) / 2
    for given, want in ((S, sym), (sp.csr_matrix(S), sym)):
        f = GraphCut(given, lam=0.3)
        ref = GraphCut(want, lam=0.3)
        sel, ref_sel = maximize(f, 10, optimizer="naive"), maximize(ref, 10, optimizer="naive")
        np.testing.assert_array_equal(sel.indices, ref_sel.indices)
        np.testing.assert_allclose(sel.gains, ref_sel.gains, rtol=1e-12)
        assert f.evaluate(sel.indices) == pytest.approx(ref.evaluate(sel.indices), rel=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_graph_cut_still_refuses_a_truly_asymmetric_similarity(sparse):
    S = _pairwise_similarity()
    S[3, 7] += 1e-6 * S.max()
    with pytest.raises(ValueError, match="Input 'similarity' of GraphCut must be symmetric"):
        GraphCut(sp.csr_matrix(S) if sparse else S)


# --------------------------------------------------------------------------------------------------
# huge finite values
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype,scale", [(np.float32, 2.0**64), (np.float64, 2.0**515)]
)  # |x| near 3e19 and 1e155
@pytest.mark.parametrize("n_neighbors", [None, 6])
def test_from_features_works_near_the_top_of_the_float_range(dtype, scale, n_neighbors):
    X = np.random.default_rng(1).normal(size=(60, 5)).astype(dtype)
    big = (X * dtype(scale)).astype(dtype)
    assert np.isfinite(big).all()
    kw = dict(n_neighbors=n_neighbors, dtype=dtype)
    for kernel in ("shift", "exp"):
        small_sel = maximize(FacilityLocation.from_features(X, kernel=kernel, **kw), 8)
        f = FacilityLocation.from_features(big, kernel=kernel, gamma=1 / (5 * scale), **kw)
        sel = maximize(f, 8)
        assert np.isfinite(sel.gains).all() and len(set(sel.indices.tolist())) == 8
        if kernel == "shift":  # distances scale exactly by a power of two
            np.testing.assert_array_equal(sel.indices, small_sel.indices)
            np.testing.assert_allclose(sel.gains, small_sel.gains * scale, rtol=1e-5)
        else:  # gamma scaled down with X: the same similarities
            want = maximize(FacilityLocation.from_features(X, kernel="exp", gamma=0.2, **kw), 8)
            np.testing.assert_array_equal(sel.indices, want.indices)


def test_from_features_refuses_similarities_the_dtype_cannot_hold():
    X = np.random.default_rng(1).normal(size=(30, 5)).astype(np.float32) * np.float32(3e19)
    # squared distances near 1e40 do not fit float32 storage: a clear error, not NaN gains
    with pytest.raises(ValueError, match="Input 'X' of FacilityLocation.from_features spans"):
        FacilityLocation.from_features(X, metric="sqeuclidean")
    f = FacilityLocation.from_features(X, metric="sqeuclidean", dtype=np.float64)  # the fix
    assert np.isfinite(maximize(f, 3).gains).all()


def test_direct_similarities_whose_sums_overflow_are_refused():
    S = np.full((4, 4), 1e308)
    for cls in (FacilityLocation, GraphCut):
        with pytest.raises(ValueError, match="Input 'similarity' of .* overflow float64"):
            cls(S)


# --------------------------------------------------------------------------------------------------
# float32 cancellation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [1e2, 1e4])
def test_float32_points_around_a_large_offset_pick_as_exact_float64(offset):
    X = (np.random.default_rng(2).normal(size=(300, 8)) + offset).astype(np.float32)
    sel = maximize(FacilityLocation.from_features(X), 30, optimizer="naive")
    np.testing.assert_array_equal(sel.indices, _exact_picks(X, 30))


@pytest.mark.parametrize("kernel", ["shift", "exp"])
def test_float32_clusters_far_from_the_mean_pick_as_exact_float64(kernel):
    """Two tight clusters at +-1e3: |x|^2 - 2 x.c + |c|^2 in float32 cancels (old: 2 common
    first picks of 40); distances with float64 accumulation give the exact picks."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    X[:200] += 1e3
    X[200:] -= 1e3
    X = X.astype(np.float32)
    sel = maximize(FacilityLocation.from_features(X, kernel=kernel), 40, optimizer="naive")
    np.testing.assert_array_equal(sel.indices, _exact_picks(X, 40, kernel=kernel))


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
def test_knn_distances_of_far_clusters_are_exact(backend):
    """The searches' |x|^2 - 2 x.c + |c|^2 is recomputed from differences where it cancels."""
    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    X[:150] += 1e3
    X[150:] -= 1e3
    X = X.astype(np.float32)
    f = FacilityLocation.from_features(
        X, metric="sqeuclidean", n_neighbors=6, backend=backend, dtype=np.float64
    )
    S = f.similarity.tocoo()
    D2 = cdist(X.astype(np.float64), X.astype(np.float64), "sqeuclidean")
    d2 = D2[S.row, S.col]
    np.testing.assert_allclose(S.data, d2.max() - d2, rtol=0, atol=1e-12 * d2.max())
    assert np.all(D2[S.row[S.row == S.col], S.col[S.row == S.col]] == 0)


# --------------------------------------------------------------------------------------------------
# complex input is refused, never cast
# --------------------------------------------------------------------------------------------------

C5 = np.ones((5, 5)) * (1 + 1j)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: FacilityLocation(C5), "similarity"),
        (lambda: FacilityLocation(sp.csr_matrix(C5)), "similarity"),
        (lambda: FacilityLocation.from_features(C5), "X"),
        (lambda: GraphCut(C5), "similarity"),
        (lambda: FeatureBased(C5), "features"),
        (lambda: FeatureBased(np.ones((5, 2)), weights=[1j, 1]), "weights"),
        (lambda: Coverage(C5), "incidence"),
        (lambda: GroupCoverage(C5), "groups"),
        (lambda: Modular(np.ones(5) * 1j), "weights"),
        (lambda: Mixture([Modular(np.ones(5))], weights=[1j]), "weights"),
        (lambda: maximize(Modular(np.ones(5)), 2.0, costs=np.ones(5) * 1j), "costs"),
        (lambda: maximize(Modular(np.ones(5)), 2 + 0j), "budget"),
        (lambda: Modular(np.ones(5)).evaluate(np.array([1j])), "indices"),
        (lambda: SubmodularSelector(2).select(C5), "X"),
        (
            lambda: SubmodularSelector(2, function="graph_cut", lam=0.5j).select(np.ones((5, 2))),
            "lam",
        ),
    ],
)
def test_complex_input_is_refused(call, name):
    with pytest.raises(TypeError, match=f"'{name}'"):
        call()
