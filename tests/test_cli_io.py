"""Atomic writes of the command line: recognisable temporary files, cleaned after a killed run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from subsel._io import (
    atomic_write_bytes,
    check_output_file,
    check_output_folder,
    read_array,
    read_image,
    write_table,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kills a process with SIGKILL")

KILLED_WRITE = """
import os, signal, sys
import subsel._io as io
real_fsync = os.fsync
def die(fd):
    os.kill(os.getpid(), signal.SIGKILL)
os.fsync = die
io.write_table(sys.argv[1], {"index": [1, 2, 3]})
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_write_leaves_a_recognisable_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "sel.csv"
    target.write_text("old\n")
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "old\n"  # the old file is intact
    left = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].startswith(".sel.csv.subsel-tmp-"), left
    write_table(target, {"index": [4, 5]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sel.csv"]
    assert target.read_text() == "index\n4\n5\n"


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    names = [
        f".a.bin.subsel-tmp-{dead}-0badf00d",  # a killed write of a.bin: removed
        f".a.bin.subsel-tmp-{alive}-0badf00d",  # a write in progress: kept
        f".b.bin.subsel-tmp-{dead}-0badf00d",  # another target: kept
        ".a.bin.x1y2z3.tmp",  # not ours: kept
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    atomic_write_bytes(tmp_path / "a.bin", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.bin", *names[1:]])


def test_written_file_has_plain_open_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "x.bin", b"1")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_into_a_folder_path_is_refused(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        write_table(tmp_path / "d.csv", {"a": [1]})
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(tmp_path / "d.csv", b"x")
    assert list(tmp_path.iterdir()) == [tmp_path / "d.csv"]


def test_output_checks_leave_nothing_behind(tmp_path):
    check_output_file(tmp_path / "o.parquet", (".parquet",))
    check_output_folder(tmp_path / "new" / "masks")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_output_file(tmp_path / "f" / "o.parquet", (".parquet",))
    with pytest.raises(ValueError, match="exists and is not a folder"):
        check_output_folder(tmp_path / "f")


def test_readers_say_what_is_wrong(tmp_path):
    (tmp_path / "dir.npy").mkdir()
    (tmp_path / "zero.npy").write_bytes(b"")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    for path, needle in [
        (tmp_path / "dir.npy", "is a folder, not a file"),
        (tmp_path / "zero.npy", "is empty (0 bytes)"),
        (tmp_path / "none.npy", "no such file"),
    ]:
        with pytest.raises(ValueError, match=re.escape(needle)):
            read_array(path, "embeddings")
    with pytest.raises(ValueError, match="cannot read it as an image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="unsupported image type"):
        read_image(tmp_path / "zero.npy")
    np.save(tmp_path / "obj.npy", np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot read"):
        read_array(tmp_path / "obj.npy")  # never unpickled
