"""What every benchmark records about where it ran: the commit and the processor."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
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
