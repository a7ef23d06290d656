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


METHODS = ("sensitivity", "uniform", "kcenter", "margin", "entropy", "least-confidence")


def _build_selector(method, *, budget, clusters, epsilon, z, lam, rounds, seed, progress):
    from . import selection as sel

    if method == "sensitivity":
        if clusters is None:
            _fail("--method sensitivity needs --clusters (the number of centres to query).")
        return sel.SensitivitySampling(
            n_clusters=clusters,
            budget=budget,
            epsilon=epsilon,
            z=z,
            lam=lam,
            rounds=rounds,
            seed=seed,
            progress=progress,
        )
    if budget is None:
        _fail(f"--method {method} needs --budget.")
    if method == "uniform":
        return sel.Uniform(budget=budget, seed=seed)
    if method == "kcenter":
        return sel.KCenterGreedy(budget=budget, seed=seed, progress=progress)
    classes = {
        "margin": sel.Margin,
        "entropy": sel.Entropy,
        "least-confidence": sel.LeastConfidence,
    }
    return classes[method](budget=budget)


@app.command()
def select(
    embeddings: Annotated[Path, typer.Argument(help="Embeddings (n, d): .npy, .csv or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Output: .parquet, .csv or .npz.")],
    method: Annotated[str, typer.Option("--method", help=f"One of: {', '.join(METHODS)}.")] = (
        "sensitivity"
    ),
    budget: Annotated[int | None, typer.Option("--budget", help="Sample size.")] = None,
    clusters: Annotated[int | None, typer.Option("--clusters", help="Centres (k).")] = None,
    losses: Annotated[
        Path | None, typer.Option("--losses", help="Per-point losses (n,), the oracle's answers.")
    ] = None,
    probabilities: Annotated[
        Path | None, typer.Option("--probabilities", help="Class probabilities (n, C).")
    ] = None,
    epsilon: Annotated[float | None, typer.Option("--epsilon", help="Accuracy (sets s).")] = None,
    z: Annotated[float, typer.Option("--z", help="2: k-means, 1: k-median.")] = 2.0,
    lam: Annotated[float, typer.Option("--lam", help="Hoelder constant lambda.")] = 1.0,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds (Algorithm 3).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
    engine: Annotated[
        str, typer.Option("--engine", help="memory (default) or dask (data past one machine).")
    ] = "memory",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler ADDRESS (default: local threads)."),
    ] = None,
    fit_size: Annotated[
        int, typer.Option("--fit-size", help="Dask: rows gathered to fit the centres.")
    ] = 100_000,
) -> None:
    """Choose a subset of EMBEDDINGS and write indices, weights and probabilities to OUT.

    Sensitivity sampling reads the oracle's answers from --losses (one loss per row; only the
    rows of the cluster centres are used, as if the model were queried there). With
    --engine dask, EMBEDDINGS may also be a Parquet folder; it is read block by block and never
    gathered (sensitivity and uniform only).
    """
    import numpy as np

    from ._io import read_array, write_table

    if method not in METHODS:
        _fail(f"--method must be one of {', '.join(METHODS)}; got {method!r}.")
    if seed < 0:
        _fail(f"--seed must be >= 0; got {seed}.")
    if engine not in ("memory", "dask"):
        _fail(f"--engine must be memory or dask; got {engine!r}.")
    if scheduler is not None and engine != "dask":
        _fail("--scheduler needs --engine dask.")
    if engine == "dask" and method not in ("sensitivity", "uniform"):
        _fail(f"--engine dask runs --method sensitivity or uniform; got {method!r}.")
    console = _console()
    try:
        X = _open_dask(embeddings) if engine == "dask" else read_array(embeddings, "embeddings")
        selector = _build_selector(
            method,
            budget=budget,
            clusters=clusters,
            epsilon=epsilon,
            z=z,
            lam=lam,
            rounds=rounds,
            seed=seed,
            progress=console.is_terminal,
        )
        if method == "sensitivity":
            if losses is None:
                _fail("--method sensitivity needs --losses FILE (the per-point losses to query).")
            values = read_array(losses, "losses").reshape(-1)
            if X.ndim == 2 and values.shape[0] != X.shape[0]:
                _fail(
                    f"--losses has {values.shape[0]} values but the embeddings have "
                    f"{X.shape[0]} rows."
                )
            oracle = lambda idx: values[idx]  # noqa: E731
        elif method in ("margin", "entropy", "least-confidence"):
            if probabilities is None:
                _fail(f"--method {method} needs --probabilities FILE (n, C).")
            oracle = read_array(probabilities, "probabilities")
        else:
            oracle = None
        if engine == "dask":
            result = _select_dask(selector, X, oracle, scheduler, fit_size, console)
        else:
            with console.status(f"selecting with {method}"):
                result = selector.select(X, oracle)
        columns = {"index": result.indices, "weight": result.weights}
        if result.probabilities is not None:
            columns["probability"] = result.probabilities
        write_table(out, columns)
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    typer.echo(
        f"{len(result)} rows ({result.n_queries or 0} oracle queries, "
        f"{np.unique(result.indices).size} distinct) -> {out}"
    )


def _open_dask(path: Path):
    try:
        from .distributed.dask import open_embeddings
    except ImportError as exc:
        _fail(f"--engine dask: {exc}")
    return open_embeddings(path)


def _select_dask(selector, X, oracle, scheduler, fit_size, console):
    from .distributed.dask import select as dask_select

    if scheduler is None:
        with console.status("selecting on dask (local threads)"):
            return dask_select(selector, X, oracle, fit_size=fit_size)
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        _fail(f"--scheduler {scheduler}: cannot connect ({exc}).")
    with client, console.status(f"selecting on dask ({scheduler})"):
        return dask_select(selector, X, oracle, fit_size=fit_size, client=client)


def _console():
    from rich.console import Console

    return Console(stderr=True)


if __name__ == "__main__":  # pragma: no cover
    app()
