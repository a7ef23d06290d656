"""Atomic file output: a temporary file in the target folder, then a rename.

A reader never sees a half-written file, and an interrupted run leaves the old file in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "read_array", "write_table"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (same-folder temporary file, fsync, ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode(encoding))


# ----------------------------------------------------------------------------- arrays and tables
_READABLE = (".npy", ".csv", ".parquet")
_WRITABLE = (".parquet", ".csv", ".npz")


def _need_pyarrow(what: str):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError(
            f"{what} needs pyarrow, which is not installed; install it with "
            f"pip install pyarrow (a dependency of subsel: reinstall with pip install -e .)."
        ) from exc
    return pq


def read_array(path: str | os.PathLike, name: str = "input"):
    """Read a numeric array from ``.npy`` (never unpickling), ``.csv`` or ``.parquet``.

    A CSV may have one header line; a Parquet file's numeric columns are stacked as features.
    Raises ``ValueError`` with the path and the reason when the file cannot be read.
    """
    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READABLE:
        raise ValueError(
            f"{name} {path}: unsupported file type '{suffix}'; use one of {', '.join(_READABLE)}."
        )
    if not path.is_file():
        raise ValueError(f"{name} {path}: no such file.")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".csv":
            with open(path, encoding="utf-8") as fh:
                first = fh.readline()
            try:
                [float(v) for v in first.strip().split(",") if v.strip()]
                skip = 0
            except ValueError:
                skip = 1
            return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
        pq = _need_pyarrow(f"reading {path}")
        table = pq.read_table(path)
        return np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])
    except ValueError as exc:
        if "pyarrow" in str(exc):
            raise
        raise ValueError(f"{name} {path}: cannot read it ({exc}).") from exc
    except OSError as exc:
        raise ValueError(f"{name} {path}: cannot read it ({exc}).") from exc


def write_table(path: str | os.PathLike, columns: dict) -> Path:
    """Write equal-length 1-d columns atomically as ``.parquet``, ``.csv`` or ``.npz``."""
    import io

    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITABLE:
        raise ValueError(
            f"output {path}: unsupported file type '{suffix}'; use one of {', '.join(_WRITABLE)}."
        )
    if not path.parent.is_dir():
        raise ValueError(f"output {path}: the folder {path.parent} does not exist.")
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    buf = io.BytesIO()
    if suffix == ".npz":
        np.savez(buf, **arrays)
    elif suffix == ".csv":
        names = list(arrays)
        rows = zip(*(arrays[n].tolist() for n in names), strict=True)
        text = ",".join(names) + "\n" + "".join(",".join(repr(v) for v in r) + "\n" for r in rows)
        buf.write(text.encode("utf-8"))
    else:
        pq = _need_pyarrow(f"writing {path}")
        import pyarrow as pa

        pq.write_table(pa.table(arrays), buf)
    return atomic_write_bytes(path, buf.getvalue())
