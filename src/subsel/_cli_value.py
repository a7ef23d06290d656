"""The work behind ``subsel value``: read a labelled training set (and a validation set, or split
one off), value every training point with HOST-CP or a valuation baseline, and write one row per
training point (``index``, ``value``, ``selected``, ``rank``) atomically.

Imports numpy, typer and :mod:`subsel._io` at the top; :mod:`subsel.valuation` (torch) only when
a command runs, so ``subsel --help`` stays quick.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ._cli_errors import fail, library_error

__all__ = [
    "METHODS",
    "VALUE_FLAGS",
    "VALUE_OUT",
    "read_data",
    "read_labels",
    "split_validation",
    "value",
    "value_points",
    "value_table",
]

VALUE_OUT = (".parquet", ".csv")
_DATA_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")
# Library parameter and input names -> what the user typed, for error messages.
VALUE_FLAGS = {
    "budget_fraction": "--fraction",
    "epochs": "--epochs",
    "n_iter": "--epochs",
    "max_iter": "--epochs",
    "seed": "--seed",
    "X": "DATA",
    "y": "--labels",
    "X_val": "--val",
    "y_val": "--val-labels",
    "X_test": "--val",
    "y_test": "--val-labels",
}


class Method(StrEnum):
    """The valuation methods of ``subsel value`` (``--method``)."""

    hostcp = "hostcp"
    knn_shapley = "knn_shapley"
    tmc_shapley = "tmc_shapley"
    tracin = "tracin"
    influence = "influence"
    dvrl = "dvrl"
    random = "random"


METHODS = tuple(m.value for m in Method)
# What --epochs sets for each method (the methods not listed take no --epochs).
_EPOCHS_PARAM = {
    "hostcp": "epochs",
    "tracin": "epochs",
    "dvrl": "n_iter",
    "tmc_shapley": "max_iter",
}
_PROGRESS = ("hostcp", "tracin", "dvrl", "tmc_shapley")
_HOSTCP_BATCH = 40  # HostCP's default batch_size


# ----------------------------------------------------------------------------- reading
def _numeric_matrix(A, name: str, path: Path) -> np.ndarray:
    A = np.asarray(A)
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} {path} must hold numbers; got dtype {A.dtype}.")
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2:
        raise ValueError(f"{name} {path} must be a matrix (n, d); got shape {A.shape}.")
    return A.astype(np.float64, copy=False)


def _load_npz(path: Path, name: str) -> dict:
    from ._io import _check_input_file

    _check_input_file(path, name)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{name} {path}: cannot read it ({exc}).") from exc


def _named_columns(path: Path, name: str) -> dict | None:
    """The named 1-d columns of a Parquet file or a CSV file with a header (None: no names)."""
    from ._io import _check_input_file, _need_pyarrow

    _check_input_file(path, name)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            pq = _need_pyarrow(f"reading {path}")
            table = pq.read_table(path)
            return {c: table.column(c).to_numpy() for c in table.column_names}
        with open(path, encoding="utf-8") as fh:
            header = [v.strip() for v in fh.readline().strip().split(",")]
        try:
            [float(v) for v in header if v]
            return None  # no header line
        except ValueError:
            pass
        rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        if rows.shape[1] != len(header):
            raise ValueError(f"{len(header)} names in the header but {rows.shape[1]} columns")
        return {h: rows[:, j] for j, h in enumerate(header)}
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name} {path}: cannot read it ({exc or type(exc).__name__}).") from exc
    except ValueError as exc:
        if "pyarrow" in str(exc):
            raise
        raise ValueError(f"{name} {path}: cannot read it ({exc}).") from exc


def read_data(path, name: str = "DATA", label_column: str | None = None):
    """Read a feature matrix, and optionally the label column stored with it.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (never unpickled), ``.npz`` (the array ``X``, or its only array, or the only
        array besides ``label_column``), ``.csv`` (one optional header line) or ``.parquet``
        (numeric columns stacked as features).
    name : str
        What the user typed (``DATA``, ``--val``), for error messages.
    label_column : str or None
        A column of a Parquet / CSV-with-header file, or an array of an ``.npz``, holding the
        labels; it is left out of the features.

    Returns
    -------
    X : ndarray of float64, shape (n, d)
    labels : ndarray of shape (n,) or None
        The ``label_column`` (None when none was asked for).

    Raises ``ValueError`` naming ``name`` and the path. O(n d) time and memory.
    """
    from ._io import read_array

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _DATA_SUFFIXES:
        raise ValueError(
            f"{name} {path}: unsupported file type '{suffix}'; use one of "
            f"{', '.join(_DATA_SUFFIXES)}."
        )
    if suffix == ".npz":
        arrays = _load_npz(path, name)
        labels = None
        if label_column is not None:
            if label_column not in arrays:
                raise ValueError(
                    f"{name} {path} has no array {label_column!r} (it has {sorted(arrays)})."
                )
            labels = arrays.pop(label_column)
        if "X" in arrays:
            X = arrays["X"]
        elif len(arrays) == 1:
            X = next(iter(arrays.values()))
        else:
            raise ValueError(
                f"{name} {path} holds {len(arrays)} arrays ({sorted(arrays)}); name the features "
                "'X' or keep one array."
            )
        return _numeric_matrix(X, name, path), labels
    if label_column is None or suffix == ".npy":
        if label_column is not None:
            raise ValueError(
                f"{name} {path} is a .npy file without column names; {label_column!r} is "
                "neither a file nor a column. Give the labels as a file."
            )
        return _numeric_matrix(read_array(path, name), name, path), None
    columns = _named_columns(path, name)
    if columns is None or label_column not in columns:
        have = "no header line" if columns is None else f"columns {list(columns)[:8]}"
        raise ValueError(
            f"{name} {path} has no column {label_column!r} ({have}), and no file "
            f"{label_column!r} exists."
        )
    labels = columns.pop(label_column)
    if not columns:
        raise ValueError(f"{name} {path} has no feature column besides {label_column!r}.")
    X = np.column_stack([_numeric_matrix(c, name, path)[:, 0] for c in columns.values()])
    return X, labels


def _as_int_labels(y, flag: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{flag} must hold one label per row; got shape {y.shape}.")
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if not bad.any():
            return y.astype(np.int64)
        raise ValueError(
            f"{flag} must hold integer class labels; found {y[bad][0]!r} "
            f"(row {int(np.flatnonzero(bad)[0])})."
        )
    raise ValueError(f"{flag} must hold integer class labels; got dtype {y.dtype}.")


def read_labels(labels: str, data: Path, flag: str = "--labels", data_name: str = "DATA"):
    """The features of ``data`` and one integer label per row.

    ``labels`` is a file (``.npy``, ``.npz``, ``.csv``, ``.parquet``: one label per row) when
    such a file exists or the name ends in one of those suffixes, otherwise the name of a column
    of ``data``. Returns ``X`` (n, d) float64 and ``y`` (n,) int64; raises ``ValueError`` (a
    missing file, rows that do not match, non-integer labels) naming ``flag``. O(n d).
    """
    from ._io import read_array

    lab = Path(labels)
    is_file = lab.exists() or lab.suffix.lower() in _DATA_SUFFIXES
    if is_file:
        X, _ = read_data(data, data_name)
        if lab.suffix.lower() == ".npz":
            arrays = _load_npz(lab, flag)
            if len(arrays) != 1:
                raise ValueError(f"{flag} {lab} must hold one array; it has {sorted(arrays)}.")
            y = next(iter(arrays.values()))
        else:
            y = read_array(lab, flag)
    else:
        X, y = read_data(data, data_name, label_column=labels)
    y = _as_int_labels(y, flag)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{flag} has {y.shape[0]} labels but {data_name} has {X.shape[0]} rows.")
    return X, y


def split_validation(y, fraction: float, seed: int):
    """Split a stratified validation set off the training set.

    Each class ``c`` with ``n_c`` points gives ``min(round(fraction * n_c), n_c - 1)`` points,
    chosen uniformly at random from ``numpy.random.default_rng(seed)``, so every class keeps at
    least one training point (no validation label is unseen in training).

    Parameters
    ----------
    y : ndarray of int, shape (n,)
    fraction : float in (0, 1)
    seed : int >= 0

    Returns
    -------
    train, val : ndarray of int64, sorted row indices partitioning ``range(n)``.

    O(n log n) time.
    """
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        m = min(int(round(fraction * idx.size)), idx.size - 1)
        val.append(rng.permutation(idx)[:m])
    val = np.sort(np.concatenate(val)).astype(np.int64)
    train = np.setdiff1d(np.arange(y.shape[0]), val).astype(np.int64)
    return train, val


# ----------------------------------------------------------------------------- valuing
def _valuer(method: str, *, fraction: float, seed: int, epochs: int | None, progress: bool):
    from . import valuation as v

    extra = {} if epochs is None else {_EPOCHS_PARAM[method]: epochs}
    if method in _PROGRESS:
        extra["progress"] = progress
    if method == "tracin" and epochs is not None:
        extra["n_checkpoints"] = min(5, epochs)  # TracInCP's default, capped at the epochs
    if method == "hostcp":
        return v.HostCP(fraction, seed=seed, **extra)
    if method == "knn_shapley":
        return v.KNNShapley(**extra)
    classes = {
        "tmc_shapley": v.TMCShapley,
        "tracin": v.TracInCP,
        "influence": v.InfluenceFunction,
        "dvrl": v.DVRL,
        "random": v.RandomValuation,
    }
    return classes[method](seed=seed, **extra)


def value_points(
    X, y, X_val, y_val, *, method: str, fraction: float, seed: int = 0, epochs=None, progress=False
):
    """Value every training point and choose the top ``fraction``.

    Parameters
    ----------
    X, y : arrays of shapes (n, d) and (n,)
        Training features and integer labels.
    X_val, y_val : arrays of shapes (m, d) and (m,)
        Validation features and labels (each seen in ``y``).
    method : one of :data:`METHODS`
    fraction : float in (0, 1]
        HOST-CP's budget; for the baselines the share of points marked selected.
    seed : int >= 0
    epochs : int or None
        hostcp / tracin: passes over the data; dvrl: REINFORCE iterations; tmc_shapley:
        permutations. None: the method's default. Other methods take none.
    progress : bool
        Let the method draw its progress bar.

    Returns
    -------
    values : ndarray of float64, shape (n,)
        Higher = more valuable (HOST-CP: ``scores_``; the baselines: ``values_``).
    selected : ndarray of bool, shape (n,)
        HOST-CP: ``selected_``; the baselines: the ``round(fraction * n)`` highest values,
        ties broken by the lower index.

    The cost is the method's (see :mod:`subsel.valuation`), plus O(n log n) for the selection.
    """
    if epochs is not None and method not in _EPOCHS_PARAM:
        raise ValueError(f"--epochs is not used by --method {method}; leave it out.")
    est = _valuer(method, fraction=fraction, seed=seed, epochs=epochs, progress=progress)
    est.fit(X, y, X_val, y_val)
    if method == "hostcp":
        return np.asarray(est.scores_, dtype=np.float64), np.asarray(est.selected_, dtype=bool)
    values = np.asarray(est.values_, dtype=np.float64)
    n = values.shape[0]
    order = np.lexsort((np.arange(n), -values))
    selected = np.zeros(n, dtype=bool)
    selected[order[: int(round(fraction * n))]] = True
    return values, selected


def value_table(index, values, selected) -> dict:
    """The output columns: ``index`` (row of DATA), ``value``, ``selected``, ``rank`` (1 = the
    most valuable; the selected points come first, then by value, then by index). Arrays (n,)
    each; O(n log n)."""
    values = np.asarray(values, dtype=np.float64)
    selected = np.asarray(selected, dtype=bool)
    n = values.shape[0]
    order = np.lexsort((np.arange(n), -values, ~selected))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return {
        "index": np.asarray(index, dtype=np.int64),
        "value": values,
        "selected": selected,
        "rank": rank,
    }


# ----------------------------------------------------------------------------- the command
def value(
    data: Annotated[
        Path,
        typer.Argument(
            metavar="DATA", help="Training features (n, d): .npy, .npz, .csv or .parquet."
        ),
    ],
    labels: Annotated[
        str,
        typer.Option(
            "--labels",
            metavar="FILE|COLUMN",
            help="One integer label per row: a file, or a column of a .csv/.parquet DATA.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Output: .parquet or .csv.")],
    method: Annotated[
        Method, typer.Option("--method", help="The valuation method (see above).")
    ] = Method.hostcp,
    fraction: Annotated[
        float,
        typer.Option("--fraction", help="Share of points to select, in (0, 1]."),
    ] = 0.2,
    val: Annotated[
        Path | None,
        typer.Option("--val", metavar="FILE", help="Validation features (m, d)."),
    ] = None,
    val_labels: Annotated[
        str | None,
        typer.Option(
            "--val-labels",
            metavar="FILE|COLUMN",
            help="Validation labels: a file, or a column of --val.",
        ),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            "--val-fraction",
            help="Without --val: share of DATA split off (stratified) for validation [0.2].",
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            help="hostcp, tracin: passes; dvrl: iterations; tmc_shapley: permutations.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
) -> None:
    """Value every training point of DATA; write index, value, selected and rank to --out.

    \b
    Methods (higher value = more valuable; 'selected' is the top --fraction):
      hostcp        HOST-CP: a selection layer trained jointly with the model
      knn_shapley   exact Shapley values of a K-nearest-neighbour classifier
      tmc_shapley   truncated Monte Carlo Data Shapley (logistic regression)
      tracin        TracIn-CP of a small torch model
      influence     influence functions (logistic regression)
      dvrl          data valuation by reinforcement learning
      random        uniform random values (the floor)
    Validation data: --val with --val-labels, or a stratified --val-fraction of DATA (the
    output then lists the remaining training rows, by their row in DATA).

    \b
    Example:
      subsel value emb.npy --labels y.npy --method hostcp --fraction 0.2 --out values.parquet
    """
    from ._io import check_output_file, write_table

    method = method.value
    if seed < 0:
        fail(f"--seed must be >= 0; got {seed}.")
    if not 0.0 < fraction <= 1.0:
        fail(f"--fraction must be in (0, 1]; got {fraction:g}.")
    if epochs is not None and epochs < 1:
        fail(f"--epochs must be at least 1; got {epochs}.")
    if epochs is not None and method not in _EPOCHS_PARAM:
        fail(f"--epochs is not used by --method {method}; leave it out.")
    if method == "hostcp" and fraction * _HOSTCP_BATCH < 1.0 - 1e-12:
        fail(
            f"--method hostcp needs --fraction >= {1 / _HOSTCP_BATCH:g} (one point opened in each "
            f"minibatch of {_HOSTCP_BATCH}); got {fraction:g}."
        )
    if (val is None) != (val_labels is None):
        fail("--val and --val-labels go together; give both, or neither (and --val-fraction).")
    if val is not None and val_fraction is not None:
        fail("--val-fraction splits DATA when there is no --val; give one or the other.")
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        fail(f"--val-fraction must be in (0, 1); got {val_fraction:g}.")
    try:
        check_output_file(out, VALUE_OUT)  # before any work
    except ValueError as exc:
        fail(str(exc))
    console = _console()
    try:
        X, y = read_labels(labels, data)
        if val is not None:
            Xv, yv = read_labels(val_labels, val, flag="--val-labels", data_name="--val")
            if Xv.shape[1] != X.shape[1]:
                fail(f"--val has {Xv.shape[1]} columns but DATA has {X.shape[1]}.")
            unseen = np.setdiff1d(np.unique(yv), np.unique(y))
            if unseen.size:
                fail(
                    f"--val-labels holds labels never seen in --labels: {unseen[:5].tolist()}"
                    f"{' ...' if unseen.size > 5 else ''}; drop those validation points."
                )
            index = np.arange(X.shape[0])
        else:
            train, held = split_validation(y, 0.2 if val_fraction is None else val_fraction, seed)
            if held.size == 0:
                fail(
                    f"--val-fraction leaves no validation point ({X.shape[0]} rows); raise it or "
                    "give --val and --val-labels."
                )
            Xv, yv = X[held], y[held]
            X, y, index = X[train], y[train], train
        n = X.shape[0]
        t0 = time.perf_counter()
        show = console.is_terminal and method in _PROGRESS
        if show:
            values, selected = value_points(
                X, y, Xv, yv, method=method, fraction=fraction, seed=seed, epochs=epochs,
                progress=True,
            )  # fmt: skip
        else:
            with console.status(f"valuing {n} points with {method}"):
                values, selected = value_points(
                    X, y, Xv, yv, method=method, fraction=fraction, seed=seed, epochs=epochs
                )
        seconds = time.perf_counter() - t0
        write_table(out, value_table(index, values, selected))
    except (ValueError, TypeError) as exc:
        fail(library_error(exc, VALUE_FLAGS))
    except MemoryError:
        fail("out of memory; value fewer points (or use --method knn_shapley or random).")
    except ImportError as exc:
        fail(f"{exc}")
    except OSError as exc:
        fail(f"--out {out}: cannot write it ({exc.strerror or exc}).")
    typer.echo(f"{method}: {n} points, {int(selected.sum())} selected, {seconds:.2f} s -> {out}")


def _console():
    from rich.console import Console

    return Console(stderr=True)
