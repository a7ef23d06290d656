"""Data selection on Dask arrays, dataframes and Parquet folders, without gathering the data.

This is the only module of subsel that imports dask. :func:`select` runs the *same* selector
object as the in-memory path (a :class:`~subsel.selection.SensitivitySampling` or a
:class:`~subsel.selection.Uniform`) on data held by a Dask cluster:

1. **Centres fitted on a sample.** ``fit_size`` rows drawn uniformly without replacement (sorted)
   are gathered and clustered in-process with :func:`~subsel.selection.kz_clustering`; the centres
   are those sample rows, so they are data points with known global indices. The k centre rows
   (k x d) are the only thing broadcast to the workers.
2. **Per-block assignment.** Each row block computes its points' nearest centre and ``dist^z``;
   these two (n,)-arrays stay on the workers (persisted), 16 bytes a row.
3. **The oracle** is queried at the k centres while the assignment runs.
4. **Per-block sums** of the estimated losses and distances give the normaliser of
   ``p_e = (l_hat(e) + lam v(e)) / (sum l_hat + lam Phi)`` and each block's share of the mass.
5. **Per-block draws.** ``s`` uniforms are drawn on the client exactly as ``numpy``'s
   ``Generator.choice(n, s, p=p)`` draws them (inverse CDF); each is routed to the block whose
   cumulative mass it falls in and resolved there with a local ``searchsorted``.

With ``fit_size >= n`` step 1 clusters all rows with the same random stream as the in-memory
path, and step 5 reproduces ``Generator.choice``; the selection is then the in-memory one
(indices equal; weights and probabilities equal up to floating-point summation order). With
``fit_size < n`` the centres differ, but the weighted estimate stays unbiased, since Theorem 5's
estimator is unbiased for any centres.

Memory: the client holds the sample (``fit_size`` x d), the centres and O(s + blocks) numbers;
each worker holds its blocks plus 16 bytes a row. Time: O(n k d / workers) for the assignment,
one pass over the data.

Lost workers are tolerated: the persisted assignment is recomputed from its lineage by the
scheduler, so a worker that dies mid-run costs time, not correctness.

Checks are those of the in-memory engine, not a copy of them: the selector's own
``check_params`` and, for the values, :func:`subsel._validation.embedding_summary` per block
(computed in the assignment pass) judged by the rules of ``check_embeddings``; both engines
refuse the same input with the same message.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import (
    check_callable,
    check_embedding_summary,
    check_embeddings,
    check_instance,
    check_int,
    embedding_summary,
    input_error,
    param_error,
)
from ..result import Selection
from ..selection import SensitivitySampling, Uniform
from ..selection.clustering import assign, kz_clustering

__all__ = ["as_dask_array", "open_embeddings", "read_parquet_embeddings", "select"]


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "subsel.distributed.dask needs dask and distributed; install them with "
            "pip install 'subsel[dask]'."
        ) from exc
    return dask, da


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def read_parquet_embeddings(path: str | Path, columns: list[str] | None = None):
    """Open a Parquet file or folder of embeddings as a dask array (n, d), lazily.

    Every numeric column (or those named in ``columns``) is one feature, as
    :func:`subsel._io.read_array` reads a single Parquet file. Row blocks follow the Parquet
    row groups / files; their sizes are computed (one pass over the metadata-only lengths).
    """
    _import_dask()
    import dask.dataframe as dd

    path = Path(path)
    if not path.exists():
        raise ValueError(f"embeddings {path}: no such file or folder.")
    try:
        df = dd.read_parquet(str(path), columns=columns)
    except Exception as exc:
        raise ValueError(f"embeddings {path}: cannot read it as Parquet ({exc}).") from exc
    return as_dask_array(df, name=f"embeddings {path}")


def open_embeddings(path: str | Path, *, block_rows: int = 262_144):
    """Open embeddings lazily as a dask array: a ``.npy`` file (memory-mapped, never unpickled;
    ``block_rows`` rows a block), a ``.csv`` file (one optional header line) or a Parquet file or
    folder. Raises ``ValueError`` naming the path when it cannot be read."""
    dask, da = _import_dask()
    block_rows = check_int(block_rows, "block_rows", "open_embeddings", low=1)
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return read_parquet_embeddings(path)
    if not path.is_file():
        raise ValueError(f"embeddings {path}: no such file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim != 2:
                raise ValueError(f"expected a 2-d array (n, d), got shape {arr.shape}")
            return as_dask_array(da.from_array(arr, chunks=(block_rows, -1)), f"embeddings {path}")
        if suffix == ".csv":
            import dask.dataframe as dd

            with open(path, encoding="utf-8") as fh:
                first = fh.readline().strip().split(",")
            try:
                [float(v) for v in first if v.strip()]
                header = None
            except ValueError:
                header = "infer"
            frame = dd.read_csv(str(path), header=header)
            return as_dask_array(frame, f"embeddings {path}")
    except (OSError, ValueError) as exc:
        raise ValueError(f"embeddings {path}: cannot read it ({exc}).") from exc
    raise ValueError(
        f"embeddings {path}: unsupported file type '{suffix}'; use .npy, .csv, .parquet or a "
        "Parquet folder."
    )


_FUNC = "subsel.distributed.dask.select"


def as_dask_array(X: Any, name: str = "X", func: str = _FUNC):
    """Turn a dask array, a dask dataframe or a Parquet path into a 2-d dask array with known
    row-block sizes and a single column block.

    Refuses, as the in-memory engine does (:func:`subsel._validation.check_embeddings`), what is
    not real numbers: a dataframe with text (or other non-numeric) columns, complex or object
    dtypes (``TypeError``), and an empty or non-2-d input (``ValueError``). Values are checked
    block by block later, by :func:`select`.
    """
    dask, da = _import_dask()
    if isinstance(X, (str, Path)):
        return read_parquet_embeddings(X)
    try:
        import dask.dataframe as dd

        if isinstance(X, dd.DataFrame):
            import pandas as pd

            text = [
                str(c)
                for c, t in X.dtypes.items()
                if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))
                or pd.api.types.is_complex_dtype(t)
            ]
            if text:
                raise input_error(
                    func,
                    name,
                    f"has non-numeric columns {text[:5]}{' ...' if len(text) > 5 else ''}",
                    "select the feature columns first (e.g. df[feature_columns]); every column "
                    "is one feature",
                    kind=TypeError,
                )
            if len(X.columns) == 0:
                raise input_error(func, name, "has no columns", "pass at least one feature")
            X = X.to_dask_array()
    except ImportError:  # pragma: no cover - dask.dataframe missing
        pass
    if not isinstance(X, da.Array):
        raise input_error(
            func,
            name,
            f"must be a dask array, a dask dataframe or a Parquet path; got {type(X).__name__}",
            "for in-memory data call selector.select(X, oracle) directly",
            kind=TypeError,
        )
    if X.ndim != 2:
        raise input_error(
            func, name, f"must be 2-d (n, d); got {X.ndim} dimensions", "reshape it to (n, d)"
        )
    if np.issubdtype(X.dtype, np.complexfloating) or not (
        np.issubdtype(X.dtype, np.number) or X.dtype == bool
    ):
        raise input_error(func, name, f"must be real numbers; got dtype {X.dtype}", kind=TypeError)
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise input_error(
            func, name, f"is empty (shape {X.shape})", "pass at least one row and one column"
        )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


# --------------------------------------------------------------------------------------------------
# per-block kernels (run on the workers; plain numpy)
# --------------------------------------------------------------------------------------------------


def _assign_block(block: np.ndarray, centers: np.ndarray, z: float):
    """(labels int64 (m,), cost float64 (m,), :func:`embedding_summary` of the block); the
    values are checked on the client from the summaries, before any result is used."""
    block = np.asarray(block, dtype=np.float64)
    summary = embedding_summary(block)
    if summary[0] or summary[1]:
        block = np.where(np.isfinite(block), block, 0.0)
    labels, cost = assign(block, centers, z)
    return labels, cost, summary


def _block_sums(assigned, center_losses: np.ndarray, scale: float = 1.0):
    """(sum of estimated losses, sum of ``scale * cost``, largest cost, value summary)."""
    labels, cost, summary = assigned
    with np.errstate(over="ignore"):
        phi = float(cost.sum()) if scale == 1.0 else float((cost * scale).sum())
        return float(center_losses[labels].sum()), phi, float(cost.max(initial=0.0)), summary


def _combine(summaries) -> tuple[int, int, float]:
    return (
        sum(int(s[0]) for s in summaries),
        sum(int(s[1]) for s in summaries),
        max((float(s[2]) for s in summaries), default=0.0),
    )


def _block_draw(assigned, center_losses, lam, total, start_mass, targets, scale=1.0):
    """Local inverse-CDF draws: ``targets`` are global cumulative masses inside this block.
    ``center_losses`` and ``total`` come scaled by ``scale`` (1 unless the sums overflow)."""
    labels, cost, _ = assigned
    num = center_losses[labels] + lam * (cost if scale == 1.0 else cost * scale)
    p = num / total if total > 0 else np.full(num.shape[0], 1.0 / num.shape[0])
    cdf = start_mass + np.cumsum(p)
    local = np.searchsorted(cdf, targets, side="right")
    np.minimum(local, num.shape[0] - 1, out=local)
    return local.astype(np.int64), p[local]


# --------------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------------


class _Engine:
    """Runs persists and computes on a given client, or on dask's current scheduler."""

    def __init__(self, client, progress: bool):
        self.dask, _ = _import_dask()
        self.client = client
        self.progress = progress

    def _bar(self):
        if self.progress and self.client is None:
            from dask.diagnostics import ProgressBar

            return ProgressBar()
        return nullcontext()

    def persist(self, *objs):
        if self.client is not None:
            return self.client.persist(list(objs))
        with self._bar():
            return list(self.dask.persist(*objs))

    def compute(self, *objs):
        if self.client is not None:
            return list(self.client.gather(self.client.compute(list(objs))))
        with self._bar():
            return list(self.dask.compute(*objs))


def _check_client(client) -> None:
    """``None`` or a ``distributed.Client`` (anything else would fail deep inside dask)."""
    if client is None:
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed missing
        Client = None
    if Client is None or not isinstance(client, Client):
        raise param_error(_FUNC, "client", "None or a distributed.Client", client, kind=TypeError)


def select(
    selector: SensitivitySampling | Uniform,
    X: Any,
    oracle=None,
    *,
    fit_size: int = 100_000,
    client=None,
) -> Selection:
    """Run ``selector`` on a dask array, dask dataframe or Parquet path, block by block.

    Parameters
    ----------
    selector : SensitivitySampling (``rounds=1``) or Uniform
        The same object the in-memory path uses; its parameters and seed are honoured.
    X : dask.array.Array (n, d), dask.dataframe.DataFrame, or str / Path of a Parquet file/folder
        Embeddings. Row blocks are the unit of work; columns are merged into one block.
    oracle : callable
        ``oracle(indices (k,) int64) -> losses (k,)``, called once with the global indices of
        the centres (SensitivitySampling only).
    fit_size : int >= n_clusters
        Rows gathered to fit the clustering; ``fit_size >= n`` clusters all rows and then gives
        the in-memory result for the same seed.
    client : None or distributed.Client
        Where to run; by default dask's current scheduler (a ``Client`` made earlier, or threads).

    Returns
    -------
    Selection
        As the in-memory ``selector.select``; ``extra`` adds ``fit_size`` and ``n_blocks``.
    """
    start = time.perf_counter()
    check_instance(selector, (SensitivitySampling, Uniform), "selector", _FUNC)
    name = f"{type(selector).__name__}.select"  # data errors read as the in-memory engine's
    X = as_dask_array(X, "X", _FUNC)
    n = int(X.shape[0])
    _check_client(client)
    dask, _ = _import_dask()
    if isinstance(selector, Uniform):
        selector.check_params(n)  # the in-memory checks, before the pass over the data
        engine = _Engine(client, False)
        blocks = X.to_delayed().ravel()
        summary = _combine(engine.compute(*[dask.delayed(embedding_summary)(b) for b in blocks]))
        check_embedding_summary(summary, X.shape, np.float64, name)
        return dataclasses.replace(selector.draw(n), seconds=time.perf_counter() - start)
    k, s, z, lam, rounds, rng, progress, backend = selector.check_params(n)
    if rounds != 1:
        raise param_error(
            "SensitivitySampling",
            "rounds",
            "1 on the dask engine (rounds=1: Algorithm 3's D^z order needs a pass over the data "
            "per centre; use the in-memory path for rounds > 1)",
            selector.rounds,
        )
    extra = f" (at least n_clusters={k}: the centres are fitted on that many rows)"
    fit_size = check_int(fit_size, "fit_size", _FUNC, low=k, extra=extra)
    check_callable(oracle, "oracle", name, "a callable oracle(indices) -> losses of those points")
    engine = _Engine(client, progress)

    # 1. centres on a sample
    if fit_size >= n:
        rows = np.arange(n)
        sample = engine.compute(X)[0]
    else:
        rows = np.sort(rng.choice(n, size=fit_size, replace=False))
        sample = engine.compute(X[rows])[0]
    blocks = X.to_delayed().ravel()
    try:
        sample = check_embeddings(np.asarray(sample, dtype=np.float64), name, distances=True)
    except ValueError:  # count over all rows, as the in-memory engine does (errors only)
        if fit_size < n:
            summaries = engine.compute(*[dask.delayed(embedding_summary)(b) for b in blocks])
            check_embedding_summary(_combine(summaries), X.shape, np.float64, name, distances=True)
        raise
    clustering = kz_clustering(sample, k, z=z, rng=rng, backend=backend)
    centers = rows[clustering.center_indices].astype(np.int64)
    center_rows = sample[clustering.center_indices]
    del sample

    # 2. per-block assignment, kept on the workers; 3. the oracle meanwhile
    centers_d = dask.delayed(center_rows, pure=True)
    assigned = engine.persist(*[dask.delayed(_assign_block)(b, centers_d, z) for b in blocks])
    center_losses = SensitivitySampling._query(oracle, centers)

    # 4. per-block sums
    losses_d = dask.delayed(center_losses, pure=True)
    parts = engine.compute(*[dask.delayed(_block_sums)(a, losses_d) for a in assigned])
    check_embedding_summary(
        _combine([p[3] for p in parts]), X.shape, np.float64, name, distances=True
    )
    with np.errstate(over="ignore"):
        loss_total = float(sum(p[0] for p in parts))
        phi = float(sum(p[1] for p in parts))
        total = loss_total + lam * phi
    scale = 1.0
    if not np.isfinite(total):  # float64 overflow: scale losses and costs alike (p unchanged)
        scale = 1.0 / max(float(center_losses.max()), max(p[2] for p in parts))
        losses_d = dask.delayed(center_losses * scale, pure=True)
        parts = engine.compute(*[dask.delayed(_block_sums)(a, losses_d, scale) for a in assigned])
        total = float(sum(p[0] for p in parts)) + lam * float(sum(p[1] for p in parts))
    sums = np.asarray([p[:2] for p in parts], dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(X.chunks[0], dtype=np.int64)
    mass = (sums[:, 0] + lam * sums[:, 1]) / total if total > 0 else sizes / n
    ends = np.cumsum(mass)
    starts = ends - mass

    # 5. per-block draws (Generator.choice's inverse CDF, routed to blocks)
    targets = rng.random(s) * ends[-1]
    owner = np.minimum(np.searchsorted(ends, targets, side="right"), len(blocks) - 1)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    busy = np.unique(owner)
    draws = engine.compute(
        *[
            dask.delayed(_block_draw)(
                assigned[j], losses_d, lam, total, starts[j], targets[owner == j], scale
            )
            for j in busy
        ]
    )
    indices = np.empty(s, dtype=np.int64)
    probs = np.empty(s, dtype=np.float64)
    for j, (local, p) in zip(busy, draws, strict=True):
        where = owner == j
        indices[where] = offsets[j] + local
        probs[where] = p
    del assigned
    return Selection(
        indices=indices,
        weights=1.0 / (s * probs),
        probabilities=probs,
        center_indices=centers,
        n_queries=k,
        seconds=time.perf_counter() - start,
        extra={
            "phi": phi,
            "loss_hat_total": loss_total,
            "center_losses": center_losses,
            "s": s,
            "z": z,
            "lam": lam,
            "fit_size": min(fit_size, n),
            "n_blocks": len(blocks),
        },
    )
