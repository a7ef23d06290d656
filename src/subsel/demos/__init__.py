"""The demo report: a scorecard, then one section per part of the library.

:data:`SECTIONS` is the registry, in page order. A builder is called as
``builder(out_dir, samples=..., seed=..., step=..., results=...)``: ``out_dir`` is the absolute
report folder, ``results`` the folder of benchmark records (a Path, or None when there is none;
read it with :func:`load_records`) and ``step(message)`` reports progress. It writes its figures
inside ``out_dir`` and returns a :class:`~subsel.report.Section` whose ``scorecard`` holds the
part's headline results (:class:`~subsel.report.ScoreRow`). To add a part, write a builder in a
module of this package and put it in the list in place of its placeholder; no other section
changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..report import ScoreRow, Section, esc, write_report
from . import diversity, knapsack, sampling, selection, subset_models, valuation
from ._results import RESULTS, default_results_dir, load_records, record_names

__all__ = [
    "SECTIONS",
    "build_report",
    "placeholder",
    "default_results_dir",
    "load_records",
    "RESULTS",
]

Builder = Callable[..., Section]


def placeholder(
    title: str,
    what: str,
    issue: str | None,
    out_dir: Path,
    *,
    scorecard: tuple[ScoreRow, ...] = (),
    **_: object,
) -> Section:
    """A section for a part that is not built yet."""
    tracked = f" It is tracked in issue {esc(issue)}." if issue else ""
    body = f"<p><strong>Not built yet.</strong> This part will cover {esc(what)}.{tracked}</p>"
    return Section(title, body, [], "not built yet", list(scorecard))


SECTIONS: list[Builder] = [
    sampling.build_section,
    subset_models.build_section,
    selection.build_section,
    diversity.build_section,
    knapsack.build_section,
    valuation.build_section,
]


def _intro(results: Path | None) -> str:
    names = record_names(results)
    if names:
        files = ", ".join(f"<code>{esc(n)}.json</code>" for n in names)
        return (
            "<p>Live experiments are computed when the page is built; benchmark numbers come from "
            f"the records in <code>{esc(RESULTS.as_posix())}</code>: {files}. Each scorecard row "
            "names the command that reproduces it.</p>"
        )
    where = (
        "no folder was given" if results is None else f"none in <code>{esc(results.name)}</code>"
    )
    return (
        '<p class="note"><strong>No benchmark records found</strong> (' + where + "). Only the "
        "live experiments are shown. Run <code>make bench</code> to produce "
        f"<code>{esc(RESULTS.as_posix())}/*.json</code>, then rerun "
        "<code>subsel demo</code> from the repository root, or pass "
        "<code>--results DIR</code>.</p>"
    )


def build_report(
    out_dir: str | os.PathLike,
    *,
    results: str | os.PathLike | None = None,
    samples: int = 10000,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> Path:
    """Build every section of :data:`SECTIONS` and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : path-like
        Report folder (created if needed; relative to the current folder); nothing outside it is
        written.
    results : path-like, optional
        Folder of benchmark records (``*.json``). Default: ``benchmarks/results`` under the
        current folder when it exists.
    samples : int >= 1
        Samples per temperature in the sampling experiment.
    seed : int >= 0
    progress : callable, optional
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    Path
        The absolute path of ``index.html``.
    """
    out = Path(os.path.abspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    where = Path(os.path.abspath(results)) if results is not None else default_results_dir()
    report = progress or (lambda _msg, _frac: None)
    sections = []
    for i, builder in enumerate(SECTIONS):
        frac = i / len(SECTIONS)
        sections.append(
            builder(
                out,
                samples=samples,
                seed=seed,
                results=where,
                step=lambda msg, frac=frac: report(msg, frac),
            )
        )
    report("writing index.html", 1.0)
    return write_report(sections, out, intro=_intro(where))
