"""The Dask engine: the in-memory selection for the same seed, exact draw distribution, unbiased
estimates with sampled centres, Parquet and dataframe inputs, a worker killed mid-run."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from subsel.selection import SensitivitySampling, Uniform, assign, total_loss_estimate
from tests.common.stats import assert_matches_distribution, mean_within

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from subsel.distributed.dask import as_dask_array, read_parquet_embeddings, select  # noqa: E402


def _data(n=2400, d=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[: n // 3] += 5.0
    X[n // 3 : n // 2] -= 3.0
    losses = rng.gamma(2.0, size=n)
    return X, losses


def _oracle(losses, calls=None):
    def oracle(idx):
        if calls is not None:
            calls.append(np.array(idx))
        return losses[idx]

    return oracle


@pytest.mark.parametrize("z", [2, 1])
@pytest.mark.parametrize("rows", [2400, 700, 97])
def test_full_fit_equals_in_memory(z, rows):
    X, losses = _data()
    sel = SensitivitySampling(n_clusters=12, budget=400, z=z, lam=0.5, seed=7)
    ref = sel.select(X, _oracle(losses))
    got = select(sel, da.from_array(X, chunks=(rows, 2)), _oracle(losses), fit_size=10**9)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.center_indices, ref.center_indices)
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-12)
    np.testing.assert_allclose(got.probabilities, ref.probabilities, rtol=1e-12)
    assert got.n_queries == ref.n_queries == 12
    assert got.extra["n_blocks"] == -(-2400 // rows)
    assert got.extra["phi"] == pytest.approx(ref.extra["phi"], rel=1e-12)


def test_uniform_equals_in_memory():
    X, _ = _data()
    u = Uniform(budget=50, seed=3)
    np.testing.assert_array_equal(
        select(u, da.from_array(X, chunks=300)).indices, u.select(X).indices
    )


def test_oracle_called_once_on_the_centres_only():
    X, losses = _data()
    calls = []
    sel = SensitivitySampling(n_clusters=9, budget=100, seed=0)
    got = select(sel, da.from_array(X, chunks=500), _oracle(losses, calls), fit_size=600)
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], got.center_indices)
    assert np.unique(calls[0]).size == 9


def test_sampled_fit_draws_follow_p_exactly():
    """With centres fitted on a sample the draws still follow p_e over all n points."""
    X, losses = _data()
    s = 40_000
    sel = SensitivitySampling(n_clusters=6, budget=s, lam=2.0, seed=11)
    got = select(sel, da.from_array(X, chunks=(333, 4)), _oracle(losses), fit_size=500)
    labels, cost = assign(X, X[got.center_indices], 2.0)
    num = losses[got.center_indices][labels] + 2.0 * cost
    p = num / num.sum()
    np.testing.assert_allclose(got.probabilities, p[got.indices], rtol=1e-10)
    np.testing.assert_allclose(got.weights, 1.0 / (s * p[got.indices]), rtol=1e-10)
    # counts per (cluster, distance decile) cell against the exact cell masses
    cell = labels * 10 + np.minimum((10 * cost / cost.max()).astype(int), 9)
    counts = np.bincount(cell[got.indices], minlength=60)
    mass = np.bincount(cell, weights=p, minlength=60)
    assert counts[mass == 0].sum() == 0
    keep = mass * s >= 5
    small = (~keep) & (mass > 0)  # pooled into one cell when they carry enough mass together
    counts = np.concatenate([counts[keep], [counts[small].sum()]])
    mass = np.concatenate([mass[keep], [mass[small].sum()]])
    if mass[-1] * s < 5:
        counts, mass = counts[:-1], mass[:-1] / mass[:-1].sum()
    assert_matches_distribution(counts, mass)


def test_sampled_fit_estimate_is_unbiased():
    X, losses = _data(n=1200)
    Xd = da.from_array(X, chunks=400)
    est = []
    for seed in range(80):
        sel = SensitivitySampling(n_clusters=5, budget=30, seed=seed)
        got = select(sel, Xd, _oracle(losses), fit_size=300, client=None)
        est.append(total_loss_estimate(got, losses[got.indices]))
    mean_within(np.array(est), losses.sum())


def test_dataframe_and_parquet_folder_give_the_array_result(tmp_path):
    X, losses = _data(n=900, d=3)
    sel = SensitivitySampling(n_clusters=5, budget=60, seed=2)
    ref = select(sel, da.from_array(X, chunks=300), _oracle(losses), fit_size=200)
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=["x"] * 900)
    ddf = dd.from_pandas(frame, npartitions=3)
    # a text column is refused, as the in-memory engine refuses it; the features are chosen
    with pytest.raises(TypeError, match=r"Input 'X' of .*non-numeric columns \['label'\]"):
        select(sel, ddf, _oracle(losses), fit_size=200)
    by_frame = select(sel, ddf[["a", "b", "c"]], _oracle(losses), fit_size=200)
    np.testing.assert_array_equal(by_frame.indices, ref.indices)
    folder = tmp_path / "emb"
    ddf[["a", "b", "c"]].to_parquet(str(folder))
    assert len(list(folder.glob("*.parquet"))) == 3
    by_path = select(sel, folder, _oracle(losses), fit_size=200)
    np.testing.assert_array_equal(by_path.indices, ref.indices)
    arr = read_parquet_embeddings(folder)
    assert arr.shape == (900, 3) and sum(arr.chunks[0]) == 900
    labelled = tmp_path / "labelled"
    ddf.to_parquet(str(labelled))
    with pytest.raises(TypeError, match="non-numeric"):
        read_parquet_embeddings(labelled)
    picked = read_parquet_embeddings(labelled, columns=["a", "b", "c"])
    np.testing.assert_array_equal(
        select(sel, picked, _oracle(losses), fit_size=200).indices, ref.indices
    )


def test_bad_input_is_named():
    X, losses = _data(n=300)
    Xd = da.from_array(X, chunks=100)
    sel = SensitivitySampling(n_clusters=5, budget=10, seed=0)
    with pytest.raises(TypeError, match="dask array"):
        select(sel, X, _oracle(losses))
    with pytest.raises(ValueError, match="rounds=1"):
        select(SensitivitySampling(n_clusters=5, budget=10, rounds=2), Xd, _oracle(losses))
    with pytest.raises(ValueError, match="fit_size"):
        select(sel, Xd, _oracle(losses), fit_size=3)
    with pytest.raises(ValueError, match="n_clusters"):
        select(SensitivitySampling(n_clusters=301, budget=10), Xd, _oracle(losses))
    with pytest.raises(TypeError, match="KMeans"):
        from sklearn.cluster import KMeans

        select(KMeans(), Xd)
    bad = X.copy()
    bad[250, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):  # outside the fitted sample
        select(sel, da.from_array(bad, chunks=100), _oracle(losses), fit_size=50)
    with pytest.raises(ValueError, match="NaN"):  # inside it
        select(sel, da.from_array(bad, chunks=100), _oracle(losses))
    with pytest.raises(ValueError, match="empty"):
        as_dask_array(da.zeros((0, 3), chunks=1))
    with pytest.raises(ValueError, match="non-negative|negative"):
        select(sel, Xd, lambda idx: -losses[idx])
    with pytest.raises(ValueError, match="no such"):
        read_parquet_embeddings("/nonexistent/folder")


def _message(call):
    """The exception type and message of ``call()``."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return type(info.value), str(info.value)


_SAME_CHECKS = [
    ("NaN rows, Uniform", lambda X: X, lambda: Uniform(budget=5, seed=0)),
    ("NaN rows, sensitivity", lambda X: X, lambda: SensitivitySampling(n_clusters=4, budget=5)),
    ("huge values", lambda X: X * 1e155, lambda: SensitivitySampling(n_clusters=4, budget=5)),
    ("flag", lambda X: X, lambda: SensitivitySampling(n_clusters=4, budget=5, progress="yes")),
    ("budget", lambda X: X, lambda: Uniform(budget=0)),
    ("seed", lambda X: X, lambda: Uniform(budget=3, seed="x")),
    ("z", lambda X: X, lambda: SensitivitySampling(n_clusters=4, budget=5, z=0.5)),
    ("epsilon", lambda X: X, lambda: SensitivitySampling(n_clusters=4, epsilon=1e-7)),
]


@pytest.mark.parametrize("case,transform,make", _SAME_CHECKS, ids=[c[0] for c in _SAME_CHECKS])
@pytest.mark.parametrize("fit_size", [50, 10**6])
def test_both_engines_refuse_the_same_input_with_the_same_message(case, transform, make, fit_size):
    """The dask engine accepted NaN rows with Uniform (and NaN outside the fitted sample gave
    another message): it now runs the selector's own parameter check and the same value checks,
    so both engines raise the same error."""
    X, losses = _data(n=300)
    X = transform(X)
    if case.startswith("NaN"):
        X[[250, 251], 1] = np.nan
    Xd = da.from_array(X, chunks=100)
    want = _message(lambda: make().select(X, _oracle(losses)))
    got = _message(lambda: select(make(), Xd, _oracle(losses), fit_size=fit_size))
    assert got == want


def test_losses_whose_sum_overflows_give_the_in_memory_draws():
    """Losses near 1e308: the sums overflow; both engines scale and draw the same points."""
    X, losses = _data(n=600)
    huge = losses * 1e307
    sel = SensitivitySampling(n_clusters=6, budget=50, seed=3)
    ref = sel.select(X, _oracle(huge))
    got = select(sel, da.from_array(X, chunks=200), _oracle(huge), fit_size=10**6)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.probabilities, ref.probabilities, rtol=1e-9)
    assert np.isfinite(got.weights).all()


def test_wrong_types_are_named():
    X, losses = _data(n=300)
    Xd = da.from_array(X, chunks=100)
    sel = SensitivitySampling(n_clusters=5, budget=10, seed=0)
    with pytest.raises(TypeError, match="^The 'client' parameter of .* must be None or a"):
        select(sel, Xd, _oracle(losses), client="tcp://127.0.0.1:8786")  # AttributeError before
    with pytest.raises(TypeError, match="^The 'fit_size' parameter"):
        select(sel, Xd, _oracle(losses), fit_size=100.5)
    with pytest.raises(TypeError, match="^The 'oracle' parameter of SensitivitySampling.select"):
        select(sel, Xd, losses)
    with pytest.raises(TypeError, match="^Input 'X' of .* must be real numbers; got dtype complex"):
        select(sel, da.from_array(X * 1j, chunks=100), _oracle(losses))
    with pytest.raises(TypeError, match="^The 'selector' parameter"):
        select(None, Xd)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_local_cluster_equals_in_memory(cluster):
    X, losses = _data()
    sel = SensitivitySampling(n_clusters=10, budget=300, seed=4)
    ref = sel.select(X, _oracle(losses))
    with distributed.Client(cluster) as client:
        got = select(
            sel, da.from_array(X, chunks=300), _oracle(losses), fit_size=10**9, client=client
        )
        where = client.has_what()
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-12)
    assert len(where) == 2


def test_worker_killed_mid_run_still_selects_correctly(cluster):
    """The oracle runs while the assignment is held on the workers; killing one loses its share,
    which the scheduler recomputes, and the selection is still the in-memory one."""
    X, losses = _data()
    sel = SensitivitySampling(n_clusters=10, budget=300, seed=5)
    ref = sel.select(X, _oracle(losses))
    with distributed.Client(cluster) as client:
        before = set(client.scheduler_info()["workers"])

        def killing_oracle(idx):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait until both workers hold assigned blocks
                held = [w for w, keys in client.has_what().items() if keys]
                if len(held) == 2:
                    break
                time.sleep(0.05)
            victim = held[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            return losses[idx]

        got = select(
            sel, da.from_array(X, chunks=200), killing_oracle, fit_size=10**9, client=client
        )
        client.wait_for_workers(2, timeout=60)
        after = set(client.scheduler_info()["workers"])
    assert before - after, "a worker should have been replaced"
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-12)
