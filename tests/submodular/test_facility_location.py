"""FacilityLocation.from_features: dense similarities against their formulas, the kNN graph against
the dense matrix restricted to its edges, faiss against scikit-learn; storage layouts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from subsel.submodular import FacilityLocation, maximize

try:
    import faiss  # noqa: F401

    HAVE_FAISS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_FAISS = False


def _data(n=60, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _distance(X, metric):
    if metric == "cosine":
        return cdist(X, X, "cosine")
    D = cdist(X, X, "euclidean")
    return D**2 if metric == "sqeuclidean" else D


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("kernel", ["shift", "exp"])
def test_dense_similarity_matches_formula(metric, kernel):
    X = _data() * 3 + 10  # offset: centring must not change distances
    D = _distance(X, metric)
    want = D.max() - D if kernel == "shift" else np.exp(-0.3 * D)
    f = FacilityLocation.from_features(X, metric=metric, kernel=kernel, gamma=0.3, dtype=np.float64)
    S = f.similarity
    assert S.dtype == np.float64 and not f.is_sparse
    np.testing.assert_allclose(S, want, atol=1e-9 * max(1.0, D.max()))
    np.testing.assert_array_equal(S, S.T)  # exactly symmetric
    f32 = FacilityLocation.from_features(X, metric=metric, kernel=kernel, gamma=0.3)
    assert f32.similarity.dtype == np.float32
    np.testing.assert_allclose(f32.similarity, want, rtol=1e-4, atol=1e-4 * max(1.0, D.max()))


def test_default_gamma_is_one_over_d_as_submodlib():
    X = _data(d=8)
    f = FacilityLocation.from_features(X, kernel="exp", dtype=np.float64)
    np.testing.assert_allclose(f.similarity, np.exp(-cdist(X, X) / 8), rtol=1e-10)


def test_sqeuclidean_shift_is_apricot_euclidean():
    """apricot: S = max(D^2) - D^2 with D^2 squared euclidean distances."""
    X = _data(d=4, seed=3)
    D2 = cdist(X, X, "sqeuclidean")
    f = FacilityLocation.from_features(X, metric="sqeuclidean", dtype=np.float64)
    np.testing.assert_allclose(f.similarity, D2.max() - D2, atol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("kernel", ["shift", "exp"])
def test_knn_graph_is_dense_restricted_to_knn_edges(metric, kernel):
    X = _data(n=80)
    k = 6
    sparse = FacilityLocation.from_features(
        X, metric=metric, kernel=kernel, n_neighbors=k, backend="sklearn", dtype=np.float64
    )
    S = sparse.similarity
    assert sparse.is_sparse and sp.isspmatrix_csc(S) and S.nnz == 80 * k
    # edges: row i holds its k nearest points (itself included)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else X
    _, ind = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors(Z)
    coo = S.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == {
        (i, int(j)) for i in range(80) for j in ind[i]
    }
    assert np.all(ind[:, 0] == np.arange(80))
    D = _distance(X, metric)
    rows, cols = coo.row, coo.col
    if kernel == "exp":
        want = np.exp(-D[rows, cols] / X.shape[1])
    else:  # the shift is the largest stored distance, not the largest of all pairs
        want = D[rows, cols].max() - D[rows, cols]
    np.testing.assert_allclose(coo.data, want, rtol=1e-7, atol=1e-9)
    # and the function is facility location on that sparse matrix
    dense_equiv = FacilityLocation(S.toarray())
    for s in ([0], [3, 50], list(range(0, 80, 7))):
        assert sparse.evaluate(s) == pytest.approx(dense_equiv.evaluate(s), rel=1e-12)


def test_knn_memory_is_n_times_k():
    X = _data(n=500, d=3)
    f = FacilityLocation.from_features(X, n_neighbors=10)
    S = f.similarity
    assert S.nnz == 5000 and S.data.dtype == np.float32
    assert S.data.nbytes + S.indices.nbytes + S.indptr.nbytes < 500 * 10 * 16


@pytest.mark.skipif(not HAVE_FAISS, reason="faiss is not installed")
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_faiss_and_sklearn_knn_agree(metric):
    X = _data(n=300, d=8, seed=5)
    kw = dict(metric=metric, n_neighbors=7, kernel="exp")
    a = FacilityLocation.from_features(X, backend="sklearn", **kw).similarity.tocoo()
    b = FacilityLocation.from_features(X, backend="faiss", **kw).similarity.tocoo()
    ea = dict(zip(zip(a.row.tolist(), a.col.tolist(), strict=True), a.data.tolist(), strict=True))
    eb = dict(zip(zip(b.row.tolist(), b.col.tolist(), strict=True), b.data.tolist(), strict=True))
    assert ea.keys() == eb.keys()
    np.testing.assert_allclose([eb[key] for key in ea], list(ea.values()), rtol=1e-5)
    # IVF probing every list is exact too
    c = FacilityLocation.from_features(
        X, backend="faiss-ivf", ivf_nlist=4, ivf_nprobe=4, seed=0, **kw
    ).similarity.tocoo()
    assert set(zip(c.row.tolist(), c.col.tolist(), strict=True)) == ea.keys()
    sa = maximize(FacilityLocation.from_features(X, backend="sklearn", **kw), 10)
    sb = maximize(FacilityLocation.from_features(X, backend="faiss", **kw), 10)
    assert len(set(sa.indices) & set(sb.indices)) >= 8


def test_layouts_read_columns():
    """Gains use columns of S (f = sum_i max_j in S s_ij) whatever the memory layout."""
    rng = np.random.default_rng(2)
    A = rng.random((7, 7))
    brute = A[:, [1, 4]].max(axis=1).sum()
    for S in (A, np.asfortranarray(A), A.astype(np.float32), sp.csr_matrix(A), A[:, :]):
        f = FacilityLocation(S)
        assert f.evaluate([1, 4]) == pytest.approx(brute, rel=1e-6)
        st = f.init_state([1])
        assert f.gains(st, [4])[0] == pytest.approx(brute - A[:, 1].sum(), rel=1e-6)
    sym = A + A.T
    f = FacilityLocation(sym)  # checked symmetric: used in place
    assert f.similarity.base is sym or f.similarity is sym or np.shares_memory(f.similarity, sym)
    g = FacilityLocation(A, symmetric=False)
    np.testing.assert_array_equal(g.similarity, A)


def test_from_features_errors():
    X = _data(n=10)
    with pytest.raises(ValueError, match="'metric' parameter of FacilityLocation.from_features"):
        FacilityLocation.from_features(X, metric="manhattan")
    with pytest.raises(ValueError, match="'kernel' parameter"):
        FacilityLocation.from_features(X, kernel="rbf")
    with pytest.raises(ValueError, match=r"'n_neighbors' parameter .* must be an int in \[1, n\]"):
        FacilityLocation.from_features(X, n_neighbors=11)
    with pytest.raises(ValueError, match="'n_neighbors'"):
        FacilityLocation.from_features(X, n_neighbors=0)
    with pytest.raises(ValueError, match="'backend' parameter"):
        FacilityLocation.from_features(X, n_neighbors=3, backend="annoy")
    with pytest.raises(ValueError, match="'gamma' parameter"):
        FacilityLocation.from_features(X, kernel="exp", gamma=-1.0)
    with pytest.raises(ValueError, match="'dtype' parameter"):
        FacilityLocation.from_features(X, dtype=np.int32)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(
        ValueError, match="Input 'X' of FacilityLocation.from_features contains NaN"
    ):
        FacilityLocation.from_features(bad)
    with pytest.raises(ValueError, match="must be 2-d"):
        FacilityLocation.from_features(np.ones(5))


def test_large_gram_path_matches_numpy(monkeypatch):
    """Beyond 2^31 entries the Gram matrix comes from gemm blocks plus a blockwise mirror."""
    import subsel.submodular._similarity as sim

    X = _data(n=1100, d=6, seed=4)
    want = FacilityLocation.from_features(X, dtype=np.float64).similarity
    monkeypatch.setattr(sim, "_NUMPY_GRAM_MAX", 0)
    got = FacilityLocation.from_features(X, dtype=np.float64).similarity
    assert got.T.flags.c_contiguous  # stored C-ordered (rows = columns of S)
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_float64_recomputed_blocks_are_mirrored_exactly(monkeypatch, metric):
    """Rows 0-299: a tight cluster far away (float32 cancels, its blocks are recomputed in
    float64); rows 300-599: spread points (kept in float32). Small blocks and tiles mix both."""
    import subsel.submodular._similarity as sim

    rng = np.random.default_rng(6)
    X = np.concatenate([rng.normal(size=(300, 4)) + 3e3, 1e3 * rng.normal(size=(300, 4))])
    X = X.astype(np.float32)
    monkeypatch.setattr(sim, "_BLOCK_BYTES", 4 * 600 * 64)  # 64 rows a block
    monkeypatch.setattr(sim, "_MIRROR_TILE", 100)
    S = FacilityLocation.from_features(X, metric=metric).similarity
    np.testing.assert_array_equal(S, S.T)
    D = _distance(X.astype(np.float64), metric)
    want = D.max() - D
    scale = D.max()
    # float32 arithmetic where the cancellation factor is below 1000: a few float32 ulps more
    np.testing.assert_allclose(S, want, rtol=0, atol=1e-5 * scale)
    # the far cluster (cancellation factor about 1e6): float32 storage rounding only
    np.testing.assert_allclose(S[:300, :300], want[:300, :300], rtol=0, atol=2**-23 * scale)
