"""A small, self-contained HTML report: a scorecard, then a list of sections with text, tables
and figures.

The page is one file: figures are embedded as base64 PNG data URIs, so ``index.html`` can be
mailed or attached to a pull request on its own (the PNG files are written beside it as well).
Every file is written atomically (:mod:`subsel._io`), so an interrupted run never leaves a
half-written page or image behind.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._io import atomic_write_bytes, atomic_write_text

__all__ = [
    "Section",
    "ScoreRow",
    "write_report",
    "render_html",
    "save_figure",
    "embed_figure",
    "html_table",
    "pivot_table",
    "details",
    "fmt",
    "esc",
    "DASH",
]

DASH = "\u2013"  # what an empty or undefined cell shows

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 76rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
section { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: .5rem; }
.status { display: inline-block; font-size: .85rem; padding: .1rem .5rem; border-radius: .6rem;
          background: #eef; color: #335; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; vertical-align: top; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
table.scorecard td, table.scorecard th { text-align: left; }
table.scorecard tr.part th { text-align: left; background: #e8ecf4; }
td.met { background: #e7f6e7; color: #174; font-weight: 600; }
td.short { background: #fbe9e9; color: #a11; font-weight: 600; }
td.open { background: #f4f4f4; color: #666; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #555; }
details { margin: .8rem 0; }
summary { cursor: pointer; color: #335; }
.missing { color: #a00; }
.note { background: #fff8e1; border-left: 4px solid #f0c040; padding: .4rem .8rem; }
code { font-size: .88em; }
"""


@dataclass
class ScoreRow:
    """One headline result of a paper, as the scorecard at the top of the page shows it.

    Attributes
    ----------
    claim : str
        What is measured, in a few words (plain text).
    paper : str
        What the paper reports.
    ours : str
        What we measure (``""`` when there is no record yet).
    peer : str
        The best peer method under the same protocol (``""`` when there is none).
    met : bool or None
        True when we reproduce the claim, False when we fall short, None when not measured.
    command : str
        The command that reproduces our number.
    """

    claim: str
    paper: str
    ours: str = ""
    peer: str = ""
    met: bool | None = None
    command: str = ""


@dataclass
class Section:
    """One part of the report.

    Attributes
    ----------
    title : str
        Heading (plain text; escaped when rendered).
    body : str
        HTML fragment, inserted as is (escape user text with :func:`esc`).
    figures : list of path-like or (path-like, caption)
        PNG files already written, shown after the body; an absolute path, or a path relative
        to the report folder. They are embedded in the page. (To place a figure inside the
        body, use :func:`embed_figure`.)
    status : str
        Short plain-text state, e.g. ``"built"`` or ``"not built yet"``.
    scorecard : list of ScoreRow
        The part's headline results, shown in the scorecard at the top of the page.
    """

    title: str
    body: str = ""
    figures: list[str | os.PathLike | tuple[str | os.PathLike, str]] = field(default_factory=list)
    status: str = ""
    scorecard: list[ScoreRow] = field(default_factory=list)


def esc(text: object) -> str:
    """HTML-escape ``str(text)``."""
    return html.escape(str(text), quote=True)


def fmt(value: object, spec: str = ".3g", suffix: str = "") -> str:
    """A number as text for a table cell: ``DASH`` for None / nan / inf, ``format(value, spec)``
    for other numbers (``suffix`` appended), ``str(value)`` otherwise."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or hasattr(value, "__float__"):
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(value)
        if not math.isfinite(x):
            return DASH
        if isinstance(value, int) and spec == ".3g":
            return f"{value}{suffix}"
        return format(x, spec) + suffix
    text = str(value)
    return text if text.strip() else DASH


def _cell(value: object) -> str:
    if isinstance(value, str):
        return esc(value) if value.strip() and value not in ("None", "nan") else DASH
    return esc(fmt(value))


def html_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, css_class: str = ""
) -> str:
    """Render an HTML table; cells are escaped, and None / nan / empty cells show ``DASH``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pivot_table(
    cells: dict[tuple[object, object], object],
    *,
    row_label: str,
    col_label: Callable[[object], str] = str,
    value: Callable[[object], str] = fmt,
) -> str:
    """A compact table from ``{(row, column): value}``: one row per distinct row key (for
    example a method), one column per distinct column key (for example a size), sorted.

    Missing cells show ``DASH``.
    """
    rows = sorted({r for r, _ in cells}, key=_sort_key)
    cols = sorted({c for _, c in cells}, key=_sort_key)
    body = [[r, *[value(cells[(r, c)]) if (r, c) in cells else DASH for c in cols]] for r in rows]
    return html_table([row_label, *[col_label(c) for c in cols]], body)


def _sort_key(x: object) -> tuple:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return (0, float(x), "")
    return (1, 0.0, str(x))


def details(summary: str, body_html: str) -> str:
    """A collapsed ``<details>`` block (``summary`` is plain text, ``body_html`` is HTML)."""
    return f"<details><summary>{esc(summary)}</summary>{body_html}</details>"


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Render a matplotlib figure to PNG with the Agg backend and write it to ``path`` atomically.

    Uses :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly, so pyplot's global
    backend and figure registry are left alone.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Created as ``matplotlib.figure.Figure()`` (not through pyplot).
    path : path-like
    dpi : int

    Returns
    -------
    Path
        ``path``, made absolute.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(Path(path).absolute(), buf.getvalue())


def _figure_path(path: str | os.PathLike, out_dir: Path) -> Path:
    """Where a section's figure is: absolute paths as given, relative ones inside ``out_dir``."""
    p = Path(path)
    return p if p.is_absolute() else out_dir / p


def embed_figure(path: str | os.PathLike, caption: str = "", *, out_dir=None) -> str:
    """A ``<figure>`` with the PNG at ``path`` embedded as a data URI, to place in a section's
    body where the figure belongs.

    Parameters
    ----------
    path : path-like
        An absolute path (as :func:`save_figure` returns), or one relative to ``out_dir``.
    caption : str
        Plain text; the file name when empty.
    out_dir : path-like, optional
        The report folder, for relative paths (default: the current folder).
    """
    p = _figure_path(path, Path(out_dir).absolute() if out_dir is not None else Path.cwd())
    try:
        data = p.read_bytes()
    except OSError:
        return f'<p class="missing">Figure not available: {esc(p.name)}</p>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="{uri}" alt="{esc(caption or p.stem)}">'
        f"<figcaption>{esc(caption or p.name)}</figcaption></figure>"
    )


def _figure_html(item, out_dir: Path) -> str:
    path, caption = item if isinstance(item, tuple) else (item, "")
    return embed_figure(path, caption, out_dir=out_dir)


def _shortfalls_html(rows: Sequence[ScoreRow]) -> str:
    short = [r for r in rows if r.met is False]
    if not short:
        return ""
    items = "".join(
        f"<li>{esc(r.claim)}: we measure {esc(r.ours or DASH)}; the paper reports "
        f"{esc(r.paper)}" + (f"; best peer {esc(r.peer)}" if r.peer else "") + ".</li>"
        for r in short
    )
    return f'<div class="note"><strong>Where we fall short</strong><ul>{items}</ul></div>'


def _verdict(met: bool | None) -> tuple[str, str]:
    if met is None:
        return "open", "not measured"
    return ("met", "met") if met else ("short", "short")


def _scorecard_html(sections: Sequence[Section]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("result", "paper", "ours", "best peer", "verdict", "reproduce with")
    )
    rows = []
    for i, s in enumerate(sections):
        if not s.scorecard:
            continue
        # One group row per part, so that the part is not repeated on every row.
        rows.append(
            f'<tr class="part"><th colspan="6"><a href="#s{i}">{esc(s.title)}</a></th></tr>'
        )
        for r in s.scorecard:
            cls, word = _verdict(r.met)
            cmd = f"<code>{esc(r.command)}</code>" if r.command else DASH
            cells = "".join(f"<td>{_cell(c)}</td>" for c in (r.claim, r.paper, r.ours, r.peer))
            rows.append(f'<tr>{cells}<td class="{cls}">{word}</td><td>{cmd}</td></tr>')
    if not rows:
        return ""
    all_rows = [r for s in sections for r in s.scorecard]
    n_met = sum(r.met is True for r in all_rows)
    n_short = sum(r.met is False for r in all_rows)
    n_open = len(all_rows) - n_met - n_short
    summary = (
        f"<p>{n_met} of {len(all_rows)} headline results met, <strong>{n_short} short</strong>"
        + (f", {n_open} not measured" if n_open else "")
        + ". Where we fall short, the part's section says why.</p>"
    )
    return (
        '<h2 id="scorecard">Scorecard</h2>'
        + summary
        + f'<table class="scorecard"><thead><tr>{head}</tr></thead>'
        + f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(
    sections: Sequence[Section], out_dir: str | os.PathLike, *, title: str, intro: str = ""
) -> str:
    """The page as a string (see :func:`write_report`)."""
    out = Path(os.path.abspath(out_dir))
    toc = "".join(
        f'<li><a href="#s{i}">{esc(s.title)}</a>'
        + (f' <span class="status">{esc(s.status)}</span>' if s.status else "")
        + "</li>"
        for i, s in enumerate(sections)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        intro,
        _scorecard_html(sections),
        f"<h2>Parts</h2><ul>{toc}</ul>",
    ]
    for i, s in enumerate(sections):
        status = f' <span class="status">{esc(s.status)}</span>' if s.status else ""
        figs = "".join(_figure_html(f, out) for f in s.figures)
        short = _shortfalls_html(s.scorecard)
        parts.append(
            f'<section id="s{i}"><h2>{esc(s.title)}{status}</h2>{short}{s.body}{figs}</section>'
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    sections: Sequence[Section],
    out_dir: str | os.PathLike,
    *,
    title: str = "subsel demo report",
    intro: str = "",
) -> Path:
    """Write ``out_dir/index.html`` for ``sections``.

    Parameters
    ----------
    sections : sequence of Section
        In page order. Their scorecard rows open the page. Figures must already be written; they
        are embedded, and a listed figure that does not exist is shown as a note instead.
    out_dir : path-like
        Created if needed; relative paths are taken from the current folder.
    title : str
    intro : str
        HTML shown under the title, before the scorecard.

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out = Path(os.path.abspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(sections, out, title=title, intro=intro)
    return atomic_write_text(out / "index.html", page)
