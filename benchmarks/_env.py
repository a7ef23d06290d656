"""What every benchmark records about where it ran (the commit and the processor), where it
writes, and the glibc allocator controls of the speed benchmarks."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def out_path(out: Path | str | None, quick: bool, name: str) -> Path:
    """Where a benchmark writes its records: ``--out`` when given; else, for a ``--quick`` run,
    a file in the temporary folder (a smoke run never overwrites the committed results); else
    ``benchmarks/results/<name>.json``."""
    if out is not None:
        return Path(out)
    if quick:
        return Path(tempfile.gettempdir()) / f"{name}_quick.json"
    return RESULTS / f"{name}.json"


def git_commit() -> str:
    """Short hash of HEAD, or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    """Processor model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_label() -> str:
    """``"cpu: <model> x<cores>"``, the ``device`` field of CPU records."""
    return f"cpu: {cpu_name()} x{os.cpu_count()}"


# ----------------------------------------------------------------------------- memory (Linux)
def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_bytes() -> int:
    """Peak resident set size since the last :func:`reset_peak` (VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


#: glibc tunables of the subprocesses (CPU, malloc tuning on): no mmap, never trim the heap.
MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776"


class Libc:
    """glibc allocator controls via ctypes (no-ops where glibc is not available)."""

    M_TRIM_THRESHOLD = -1
    M_MMAP_MAX = -4

    def __init__(self):
        self.lib = None
        name = ctypes.util.find_library("c")
        if sys.platform.startswith("linux") and name:
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                lib = None
            if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim"):
                self.lib = lib

    def keep_freed_memory(self) -> bool:
        """Serve every allocation from the heap and keep freed pages there.

        ``mallopt`` caps the trim threshold at 2 GiB, so a freed multi-GiB table would still be
        returned to the system (and faulted in again by the next call); the parent therefore
        also sets ``GLIBC_TUNABLES`` (no cap) for the subprocesses, and then nothing is
        changed here.
        """
        if self.lib is None:
            return False
        if MALLOC_TUNABLES in os.environ.get("GLIBC_TUNABLES", ""):
            return True
        ok = self.lib.mallopt(self.M_MMAP_MAX, 0) == 1
        return ok and self.lib.mallopt(self.M_TRIM_THRESHOLD, 2**31 - 1) == 1

    def trim(self) -> None:
        if self.lib is not None:
            self.lib.malloc_trim(0)


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``); KeyError where absent."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset the peak RSS (``VmHWM``) through ``/proc/self/clear_refs``; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        status_kib("VmHWM")
        return True
    except (OSError, KeyError):
        return False
