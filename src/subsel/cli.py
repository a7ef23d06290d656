"""The ``subsel`` command line. Computation lives in :mod:`subsel.demos`, rendering in
:mod:`subsel.report`; this module parses options, shows progress and reports errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="subsel: choosing subsets in machine learning.",
)


def _fail(message: str) -> None:
    """Print one line to stderr and exit with status 2."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(2)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"subsel {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """subsel: choosing subsets in machine learning."""


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Report folder (created).")] = Path(
        "demo-report"
    ),
    samples: Annotated[int, typer.Option("--samples", help="Samples per temperature.")] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
) -> None:
    """Write an HTML report with plots (OUT/index.html), one section per part of the library."""
    if samples < 1:
        _fail(f"--samples must be at least 1; got {samples}.")
    if not 0 <= seed < 2**63:
        _fail(f"--seed must be in [0, 2**63); got {seed}.")
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a folder.")

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .demos import build_report

    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        out.mkdir(parents=True, exist_ok=True)
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as bar:
            task = bar.add_task("starting", total=1.0)
            index = build_report(
                out,
                samples=samples,
                seed=seed,
                progress=lambda msg, frac: bar.update(task, description=msg, completed=frac),
            )
    except (OSError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc))
    typer.echo(str(index))


if __name__ == "__main__":  # pragma: no cover
    app()
