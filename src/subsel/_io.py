"""Atomic file output: a temporary file in the target folder, then a rename.

A reader never sees a half-written file, and an interrupted run leaves the old file in place. The
temporary file is named ``.NAME.subsel-tmp-PID-XXXXXXXX`` beside the target ``NAME``, so that it is
recognisable; one left behind by a killed run (its process is gone) is removed by the next write of
the same target.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_file",
    "check_output_folder",
    "clean_stale_temporaries",
    "read_array",
    "read_image",
    "write_png",
    "write_table",
]

_TMP_TAG = ".subsel-tmp-"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep the file
    return True


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by killed writes (their process is gone)."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}{_TMP_TAG}"
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for tmp in candidates:
        pid_text = tmp.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (same-folder temporary file, fsync, ``os.replace``).

    Temporary files of the same target left by killed runs are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(path))
    clean_stale_temporaries(path)
    tmp = _tmp_name(path)
    # O_EXCL: never follow or reuse an existing name; mode 0o666 & ~umask, as a plain open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
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


def _probe_writable(folder: Path, name: str, what: str) -> None:
    """Create and remove a temporary file in ``folder``: the only sure test that it is writable."""
    probe = _tmp_name(folder / name)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{what}: cannot write in the folder {folder} ({reason}).") from exc


def check_output_file(path: str | os.PathLike, suffixes, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written: a known suffix, an existing parent
    folder that is writable, and not an existing folder. Raises ``ValueError`` naming ``what``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{what} {path} is a folder; give a file name such as {path / 'out'}{suffixes[0]}."
        )
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise ValueError(
            f"{what} {path}: unsupported file type '{suffix}'; use one of {', '.join(suffixes)}."
        )
    parent = path.parent
    if not parent.exists():
        raise ValueError(f"{what} {path}: the folder {parent} does not exist.")
    if not parent.is_dir():
        raise ValueError(f"{what} {path}: {parent} is a file, not a folder.")
    _probe_writable(parent, path.name, f"{what} {path}")
    return path


def check_output_folder(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check that ``path`` is a folder, or can be created as one, and is writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a folder.")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} {path}: {existing} is a file, not a folder.")
    _probe_writable(existing, "probe", f"{what} {path}")
    return path


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
    _check_input_file(path, name)
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
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name} {path}: cannot read it ({exc or type(exc).__name__}).") from exc


def _check_input_file(path: Path, name: str) -> None:
    if path.is_dir():
        raise ValueError(f"{name} {path} is a folder, not a file.")
    if not path.exists():
        raise ValueError(f"{name} {path}: no such file.")
    if not path.is_file():
        raise ValueError(f"{name} {path} is not a regular file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{name} {path} is empty (0 bytes).")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{name} {path}: permission denied.")


_IMAGES = (".png", ".jpg", ".jpeg")


def read_image(path: str | os.PathLike, name: str = "image", *, mode: str = "RGB"):
    """Read a PNG or JPEG file as a uint8 array: (H, W, 3) for ``mode="RGB"``, (H, W) for "L"."""
    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _IMAGES:
        raise ValueError(
            f"{name} {path}: unsupported image type '{suffix}'; use one of {', '.join(_IMAGES)}."
        )
    _check_input_file(path, name)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"{name} {path}: cannot read it as an image ({exc}).") from exc


def write_png(path: str | os.PathLike, array) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as a PNG, atomically."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


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
    if path.is_dir():
        raise ValueError(f"output {path} is a folder, not a file.")
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
