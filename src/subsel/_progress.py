"""Progress bars for long loops (rich), shown only when asked for."""

from __future__ import annotations

__all__ = ["progress_range"]


def progress_range(steps: int, show: bool, description: str):
    """``range(steps)``, wrapped in a transient rich progress bar when ``show``."""
    if not show:
        return range(steps)
    from rich.progress import track

    return track(range(steps), description=description, total=steps, transient=True)
