"""A small, self-contained HTML report: a list of sections, each with text, tables and figures.

Every file is written atomically (:mod:`subsel._io`), so an interrupted run never leaves a
half-written page or image behind.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._io import atomic_write_bytes, atomic_write_text

__all__ = ["Section", "write_report", "save_figure", "html_table", "esc"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
section { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: .5rem; }
.status { display: inline-block; font-size: .85rem; padding: .1rem .5rem; border-radius: .6rem;
          background: #eef; color: #335; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #555; }
.missing { color: #a00; }
"""


@dataclass
class Section:
    """One part of the report.

    Attributes
    ----------
    title : str
        Heading (plain text; escaped when rendered).
    body : str
        HTML fragment, inserted as is (escape user text with :func:`esc`).
    figures : list of path-like
        Image files already written inside the report folder; referenced by relative path.
    status : str
        Short plain-text state, e.g. ``"built"`` or ``"not built yet"``.
    """

    title: str
    body: str = ""
    figures: list[str | os.PathLike] = field(default_factory=list)
    status: str = ""


def esc(text: object) -> str:
    """HTML-escape ``str(text)``."""
    return html.escape(str(text), quote=True)


def html_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render an HTML table; cells are escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Render a matplotlib figure to PNG with the Agg backend and write it to ``path`` atomically.

    Uses :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly, so pyplot's global
    backend and figure registry are left alone.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Best created as ``matplotlib.figure.Figure()`` (not through pyplot).
    path : path-like
    dpi : int

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _relative(path: str | os.PathLike, out_dir: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        p = Path(os.path.relpath(p, out_dir))
    return p.as_posix()


def _figure_html(path: str | os.PathLike, out_dir: Path) -> str:
    rel = _relative(path, out_dir)
    if not (out_dir / rel).is_file():
        return f'<p class="missing">Figure not available: {esc(rel)}</p>'
    return (
        f'<figure><img src="{esc(rel)}" alt="{esc(Path(rel).stem)}">'
        f"<figcaption>{esc(rel)}</figcaption></figure>"
    )


def render_html(sections: Sequence[Section], out_dir: Path, *, title: str) -> str:
    """The page as a string (see :func:`write_report`)."""
    toc = "".join(
        f'<li><a href="#s{i}">{esc(s.title)}</a> <span class="status">{esc(s.status)}</span></li>'
        for i, s in enumerate(sections)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1><ul>{toc}</ul>",
    ]
    for i, s in enumerate(sections):
        status = f' <span class="status">{esc(s.status)}</span>' if s.status else ""
        figs = "".join(_figure_html(f, out_dir) for f in s.figures)
        parts.append(f'<section id="s{i}"><h2>{esc(s.title)}{status}</h2>{s.body}{figs}</section>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    sections: Sequence[Section], out_dir: str | os.PathLike, *, title: str = "subsel demo report"
) -> Path:
    """Write ``out_dir/index.html`` for ``sections``.

    Parameters
    ----------
    sections : sequence of Section
        In page order. Figures must already be written inside ``out_dir``; a listed figure that
        does not exist is shown as a note instead of a broken image.
    out_dir : path-like
        Created if needed.
    title : str

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / "index.html", render_html(sections, out, title=title))
