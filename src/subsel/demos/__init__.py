"""The demo report: one section per part of the library.

:data:`SECTIONS` is the registry, in page order. A builder is called as
``builder(out_dir, samples=..., seed=..., step=...)``, writes its figures inside ``out_dir`` and
returns a :class:`~subsel.report.Section`; ``step(message)`` reports progress. To add a part, write
a builder in a module of this package and put it in the list in place of its placeholder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..report import Section, esc, write_report
from . import diversity, sampling, selection

__all__ = ["SECTIONS", "build_report", "placeholder"]

Builder = Callable[..., Section]


def placeholder(title: str, what: str, issue: str | None, out_dir: Path, **_: object) -> Section:
    """A section for a part that is not built yet."""
    tracked = f" It is tracked in issue {esc(issue)}." if issue else ""
    body = f"<p><strong>Not built yet.</strong> This part will cover {esc(what)}.{tracked}</p>"
    return Section(title, body, [], "not built yet")


SECTIONS: list[Builder] = [
    sampling.build_section,
    selection.build_section,
    diversity.build_section,
    partial(
        placeholder,
        "High-value training subsets / data valuation",
        "scoring training examples by their value and keeping the most useful ones",
        None,
    ),
]


def build_report(
    out_dir: str | os.PathLike,
    *,
    samples: int = 10000,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> Path:
    """Build every section of :data:`SECTIONS` and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : path-like
        Report folder (created if needed); nothing outside it is written.
    samples : int >= 1
        Samples per temperature in the sampling experiment.
    seed : int >= 0
    progress : callable, optional
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _msg, _frac: None)
    sections = []
    for i, builder in enumerate(SECTIONS):
        frac = i / len(SECTIONS)
        sections.append(
            builder(out, samples=samples, seed=seed, step=lambda msg, frac=frac: report(msg, frac))
        )
    report("writing index.html", 1.0)
    return write_report(sections, out)
