"""The ``subsel`` command line. Computation lives in :mod:`subsel.demos`, rendering in
:mod:`subsel.report`; this module parses options, shows progress and reports errors."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from . import __version__
from ._cli_diverse import diverse as _diverse_command
from ._cli_errors import library_error, one_line_exit
from ._cli_value import value as _value_command


class _OneLineErrors(typer.core.TyperGroup):
    """The command group: every failure, typer's usage errors included, is one line on stderr
    and exit status 2 (the console script and ``CliRunner`` both go through :meth:`main`)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # One program name in usage lines and hints ("root" under CliRunner, "cli.py" with -m).
        code = one_line_exit(
            super().main, args=args, prog_name="subsel", complete_var=complete_var, **extra
        )
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            help="Folder of benchmark records (*.json). Default: benchmarks/results under the "
            "current folder, when present.",
        ),
    ] = None,
) -> None:
    """Write an HTML report (OUT/index.html, one self-contained file): a scorecard of the papers'
    headline results, then one section per part of the library.

    Example: subsel demo --out demo-report --results benchmarks/results
    """
    if samples < 1:
        _fail(f"--samples must be at least 1; got {samples}.")
    if not 0 <= seed < 2**63:
        _fail(f"--seed must be in [0, 2**63); got {seed}.")
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a folder.")
    if results is not None and not results.is_dir():
        _fail(f"--results {results} is not a folder.")

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
                results=results,
                samples=samples,
                seed=seed,
                progress=lambda msg, frac: bar.update(task, description=msg, completed=frac),
            )
    except (OSError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc))
    typer.echo(str(index))


class Method(StrEnum):
    """The selection methods of ``subsel select`` (``--method``)."""

    sensitivity = "sensitivity"
    uniform = "uniform"
    kcenter = "kcenter"
    margin = "margin"
    entropy = "entropy"
    least_confidence = "least-confidence"


METHODS = tuple(m.value for m in Method)
UNCERTAINTY = ("margin", "entropy", "least-confidence")
# Library parameter and input names -> what the user typed, for error messages.
SELECT_FLAGS = {
    "budget": "--budget",
    "n_clusters": "--clusters",
    "epsilon": "--epsilon",
    "z": "--z",
    "lam": "--lam",
    "rounds": "--rounds",
    "seed": "--seed",
    "fit_size": "--fit-size",
    "X": "EMBEDDINGS",
    "probabilities": "--probabilities",
    "losses": "--losses",
}
SELECT_OUT = (".parquet", ".csv", ".npz")


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
    embeddings: Annotated[
        Path,
        typer.Argument(metavar="EMBEDDINGS", help="Embeddings (n, d): .npy, .csv or .parquet."),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Output: .parquet, .csv or .npz.")
    ],
    method: Annotated[
        Method, typer.Option("--method", help="The selection method (see above).")
    ] = Method.sensitivity,
    budget: Annotated[
        int | None,
        typer.Option("--budget", help="Sample size (every method; sensitivity: or --epsilon)."),
    ] = None,
    clusters: Annotated[
        int | None, typer.Option("--clusters", help="sensitivity: centres to query (k).")
    ] = None,
    losses: Annotated[
        Path | None,
        typer.Option(
            "--losses", metavar="FILE", help="sensitivity: per-point losses (n,), the oracle."
        ),
    ] = None,
    probabilities: Annotated[
        Path | None,
        typer.Option(
            "--probabilities",
            metavar="FILE",
            help="margin, entropy, least-confidence: class probabilities (n, C).",
        ),
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option("--epsilon", help="sensitivity: accuracy; sets the sample size."),
    ] = None,
    z: Annotated[float, typer.Option("--z", help="sensitivity: 2 k-means, 1 k-median.")] = 2.0,
    lam: Annotated[float, typer.Option("--lam", help="sensitivity: Hoelder constant.")] = 1.0,
    rounds: Annotated[int, typer.Option("--rounds", help="sensitivity: rounds (Algorithm 3).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="[memory|dask]",
            help="dask: data past one machine (sensitivity and uniform).",
        ),
    ] = "memory",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="dask: scheduler address (default: local threads).",
        ),
    ] = None,
    fit_size: Annotated[
        int, typer.Option("--fit-size", help="dask: rows gathered to fit the centres.")
    ] = 100_000,
) -> None:
    """Choose a subset of EMBEDDINGS; write indices, weights and probabilities to --out.

    \b
    Methods and the options they need:
      sensitivity        --clusters and --losses, with --budget or --epsilon
                         (the oracle is queried on the cluster centres only)
      uniform, kcenter   --budget
      margin, entropy,   --budget and --probabilities
      least-confidence

    With --engine dask, EMBEDDINGS may also be a folder of Parquet files; it is read block by
    block and never gathered.

    \b
    Example:
      subsel select emb.npy --clusters 50 --budget 1000 --losses loss.npy --out sel.parquet
    """
    import numpy as np

    from ._io import check_output_file, read_array, write_table

    method = method.value
    if seed < 0:
        _fail(f"--seed must be >= 0; got {seed}.")
    if engine not in ("memory", "dask"):
        _fail(f"--engine must be memory or dask; got {engine!r}.")
    if scheduler is not None and engine != "dask":
        _fail("--scheduler needs --engine dask.")
    if engine == "dask" and method not in ("sensitivity", "uniform"):
        _fail(f"--engine dask runs --method sensitivity or uniform; got {method!r}.")
    try:
        check_output_file(out, SELECT_OUT)  # before any work
    except ValueError as exc:
        _fail(str(exc))
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
        elif method in UNCERTAINTY:
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
        _fail(library_error(exc, SELECT_FLAGS))
    except MemoryError:
        _fail("out of memory; choose a smaller --budget (or a larger --epsilon), or --engine dask.")
    except OSError as exc:
        _fail(f"--out {out}: cannot write it ({exc.strerror or exc}).")
    typer.echo(
        f"{len(result)} rows ({result.n_queries or 0} oracle queries, "
        f"{np.unique(result.indices).size} distinct) -> {out}"
    )


# `subsel diverse` lives in its own module (cli.py stays a map of the commands).
app.command(name="diverse")(_diverse_command)
# `subsel value` (data valuation, HOST-CP and baselines) likewise.
app.command(name="value")(_value_command)


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
