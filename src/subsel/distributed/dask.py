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
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_seed
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
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; report them as one
        raise ValueError(f"embeddings {path}: cannot read it as Parquet ({exc}).") from exc
    return as_dask_array(df, name=f"embeddings {path}")


def open_embeddings(path: str | Path, *, block_rows: int = 262_144):
    """Open embeddings lazily as a dask array: a ``.npy`` file (memory-mapped, never unpickled;
    ``block_rows`` rows a block), a ``.csv`` file (one optional header line) or a Parquet file or
    folder. Raises ``ValueError`` naming the path when it cannot be read."""
    dask, da = _import_dask()
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


def as_dask_array(X: Any, name: str = "X"):
    """Turn a dask array, a dask dataframe (numeric columns) or a Parquet path into a 2-d dask
    array with known row-block sizes and a single column block.

    Raises ``TypeError`` for anything else and ``ValueError`` for an empty or non-2-d input.
    """
    dask, da = _import_dask()
    if isinstance(X, (str, Path)):
        return read_parquet_embeddings(X)
    try:
        import dask.dataframe as dd

        if isinstance(X, dd.DataFrame):
            numeric = X.select_dtypes(include="number")
            if len(numeric.columns) == 0:
                raise ValueError(f"Input '{name}' has no numeric columns to use as features.")
            X = numeric.to_dask_array()
    except ImportError:  # pragma: no cover - dask.dataframe missing
        pass
    if not isinstance(X, da.Array):
        raise TypeError(
            f"Input '{name}' of subsel.distributed.dask.select must be a dask array, a dask "
            f"dataframe or a Parquet path; got {type(X).__name__}. For in-memory data call "
            f"selector.select(X, oracle) directly."
        )
    if X.ndim != 2:
        raise ValueError(f"Input '{name}' must be 2-d (n, d); got {X.ndim} dimensions.")
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"Input '{name}' is empty (shape {X.shape}); pass at least one row.")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"Input '{name}' must be numeric; got dtype {X.dtype}.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


# --------------------------------------------------------------------------------------------------
# per-block kernels (run on the workers; plain numpy)
# --------------------------------------------------------------------------------------------------


def _assign_block(block: np.ndarray, centers: np.ndarray, z: float):
    """(labels int64 (m,), cost float64 (m,), number of non-finite entries of the block)."""
    block = np.asarray(block, dtype=np.float64)
    bad = int(block.size - np.count_nonzero(np.isfinite(block)))
    if bad:
        block = np.where(np.isfinite(block), block, 0.0)
    labels, cost = assign(block, centers, z)
    return labels, cost, bad


def _block_sums(assigned, center_losses: np.ndarray):
    labels, cost, bad = assigned
    return float(center_losses[labels].sum()), float(cost.sum()), bad


def _block_draw(assigned, center_losses, lam, total, start_mass, targets):
    """Local inverse-CDF draws: ``targets`` are global cumulative masses inside this block."""
    labels, cost, _ = assigned
    num = center_losses[labels] + lam * cost
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
    fit_size : int >= 1
        Rows gathered to fit the clustering; ``fit_size >= n`` clusters all rows and then gives
        the in-memory result for the same seed.
    client : distributed.Client, optional
        Where to run; by default dask's current scheduler (a ``Client`` made earlier, or threads).

    Returns
    -------
    Selection
        As the in-memory ``selector.select``; ``extra`` adds ``fit_size`` and ``n_blocks``.
    """
    start = time.perf_counter()
    X = as_dask_array(X)
    n = int(X.shape[0])
    if isinstance(selector, Uniform):
        return dataclasses.replace(selector.draw(n), seconds=time.perf_counter() - start)
    if not isinstance(selector, SensitivitySampling):
        raise TypeError(
            "subsel.distributed.dask.select runs SensitivitySampling or Uniform; got "
            f"{type(selector).__name__}. Gather the data and call its select() in memory instead."
        )
    k, s, z, lam, rounds = selector._check_params(n)
    if rounds != 1:
        raise ValueError(
            "subsel.distributed.dask.select runs one round (rounds=1); Algorithm 3's D^z order "
            "needs a pass over the data per centre. Use rounds=1 or the in-memory path."
        )
    if isinstance(fit_size, bool) or not isinstance(fit_size, (int, np.integer)) or fit_size < 1:
        raise ValueError(
            f"The 'fit_size' parameter of select must be an int >= 1; got {fit_size!r}."
        )
    fit_size = int(fit_size)
    if fit_size < k:
        raise ValueError(
            f"The 'fit_size' parameter of select ({fit_size}) must be at least n_clusters ({k}); "
            "the centres are fitted on that many rows."
        )
    dask, _ = _import_dask()
    engine = _Engine(client, bool(selector.progress))
    rng = check_seed(selector.seed, "SensitivitySampling")

    # 1. centres on a sample
    if fit_size >= n:
        rows = np.arange(n)
        sample = engine.compute(X)[0]
    else:
        rows = np.sort(rng.choice(n, size=fit_size, replace=False))
        sample = engine.compute(X[rows])[0]
    sample = np.asarray(sample, dtype=np.float64)
    if not np.isfinite(sample).all():
        raise ValueError(
            "Input 'X' of SensitivitySampling.select contains NaN or infinite values; remove or "
            "impute them."
        )
    clustering = kz_clustering(sample, k, z=z, rng=rng, backend=selector.backend)
    centers = rows[clustering.center_indices].astype(np.int64)
    center_rows = sample[clustering.center_indices]
    del sample

    # 2. per-block assignment, kept on the workers; 3. the oracle meanwhile
    blocks = X.to_delayed().ravel()
    centers_d = dask.delayed(center_rows, pure=True)
    assigned = engine.persist(*[dask.delayed(_assign_block)(b, centers_d, z) for b in blocks])
    center_losses = SensitivitySampling._query(oracle, centers)

    # 4. per-block sums
    losses_d = dask.delayed(center_losses, pure=True)
    sums = np.asarray(
        engine.compute(*[dask.delayed(_block_sums)(a, losses_d) for a in assigned]),
        dtype=np.float64,
    ).reshape(-1, 3)
    if sums[:, 2].sum() > 0:
        raise ValueError(
            f"Input 'X' of SensitivitySampling.select contains NaN or infinite values at "
            f"{int(sums[:, 2].sum())} positions; remove or impute them."
        )
    loss_total, phi = float(sums[:, 0].sum()), float(sums[:, 1].sum())
    total = loss_total + lam * phi
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
                assigned[j], losses_d, lam, total, starts[j], targets[owner == j]
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
