"""The work behind ``subsel diverse``: submodular selection over embeddings, and diverse
segmentations of an image. The command itself (options, messages) lives in :mod:`subsel.cli`."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._cli_errors import fail, library_error
from ._io import read_array, read_image, write_png

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "diverse",
    "FUNCTIONS",
    "IMAGE_SUFFIXES",
    "diverse_rows",
    "diverse_masks",
    "overview",
    "read_scribbles",
    "write_masks",
]

FUNCTIONS = ("facility-location", "feature-based", "graph-cut")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TABLE_OUT = (".parquet", ".csv", ".npz")

# Stroke colours of a scribble PNG: white or iseg20's pale yellow for the foreground, pure red or
# iseg20's red for the background; any other colour is no stroke.
_FOREGROUND = ((255, 255, 255), (255, 255, 207))
_BACKGROUND = ((255, 0, 0), (219, 0, 0))


def diverse_rows(
    X,
    *,
    budget: int,
    function: str = "facility-location",
    metric: str = "euclidean",
    neighbors: int | None = None,
    relevance=None,
    lam: float = 0.5,
    optimizer: str = "lazy",
    seed=None,
    progress: bool = False,
):
    """Greedy maximization of ``f(S) + lam * sum_{i in S} relevance_i`` over rows of ``X``.

    ``f`` is facility location on similarities of the rows (a kNN graph with ``neighbors``),
    feature based (concave over modular on the nonnegative features) or graph cut (``lam_gc =
    0.5``, monotone) on the facility-location similarities. Returns the
    :class:`~subsel.result.Selection` of :func:`subsel.submodular.maximize`.
    """
    from .submodular import FacilityLocation, FeatureBased, GraphCut, Modular, maximize

    if function == "feature-based":
        f = FeatureBased(X)
    elif function == "graph-cut":
        f = GraphCut(FacilityLocation.from_features(X, metric=metric).similarity, lam=0.5)
    else:
        f = FacilityLocation.from_features(X, metric=metric, n_neighbors=neighbors, seed=seed)
    if relevance is not None:
        f = f + lam * Modular(relevance)
    return maximize(f, budget, optimizer=optimizer, seed=seed, progress=progress)


def read_scribbles(path: str | Path, shape: tuple[int, int], name: str = "--scribbles"):
    """Scribbles (H, W) int: 1 foreground stroke, 0 background stroke, -1 none.

    A ``.npy`` / ``.csv`` holds those integers; a PNG holds colours: white (or iseg20's
    (255, 255, 207)) foreground strokes, red (255, 0, 0) (or iseg20's (219, 0, 0)) background
    strokes, anything else no stroke.
    """
    import numpy as np

    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        rgb = read_image(path, name).astype(np.int16)
        scr = np.full(rgb.shape[:2], -1, dtype=np.int64)
        for colour in _FOREGROUND:
            scr[(rgb == colour).all(axis=-1)] = 1
        for colour in _BACKGROUND:
            scr[(rgb == colour).all(axis=-1)] = 0
    else:
        scr = read_array(path, name)
        values = np.unique(scr)
        if not np.isin(values, (-1, 0, 1)).all():
            raise ValueError(
                f"{name} {path} must hold 1 (foreground), 0 (background) and -1 (no stroke); "
                f"found {values[:6].tolist()}."
            )
        scr = scr.astype(np.int64)
    if scr.shape != tuple(shape):
        raise ValueError(
            f"{name} {path} is {scr.shape[0]}x{scr.shape[1] if scr.ndim > 1 else 1} pixels but "
            f"the image is {shape[0]}x{shape[1]}; draw the strokes on the image itself."
        )
    if not (scr == 1).any() or not (scr == 0).any():
        missing = "foreground" if not (scr == 1).any() else "background"
        raise ValueError(
            f"{name} {path} has no {missing} stroke; draw foreground in white (255, 255, 255) "
            "and background in red (255, 0, 0)."
        )
    return scr


def diverse_masks(image, scribbles, *, M: int, diversity: str, lam: float, gamma=None):
    """``M`` diverse foreground masks (M, H, W) bool: :func:`interactive_segmentation`."""
    from .structured import interactive_segmentation

    params = {} if gamma is None else {"gamma": gamma}
    return interactive_segmentation(image, scribbles, M=M, diversity=diversity, lam=lam, **params)


def overview(image: np.ndarray, scribbles: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """One RGB picture: the image with its strokes, then each mask (background dimmed, outline
    in yellow), in rows of at most three tiles."""
    import numpy as np

    img = np.asarray(image, dtype=np.uint8)
    first = img.copy()
    first[scribbles == 1] = (255, 255, 255)
    first[scribbles == 0] = (255, 0, 0)
    tiles = [first]
    for mask in masks:
        tile = np.where(mask[..., None], img, (img * 0.3).astype(np.uint8))
        edge = np.zeros_like(mask)
        edge[:-1] |= mask[:-1] != mask[1:]
        edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
        tile[edge] = (255, 220, 0)
        tiles.append(tile)
    h, w = img.shape[:2]
    cols = min(3, len(tiles))
    rows = -(-len(tiles) // cols)
    gap = 4
    canvas = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return canvas


def write_masks(out: Path, image, scribbles, masks) -> list[Path]:
    """``OUT/mask_1.png`` ... (0 background, 255 foreground) and ``OUT/overview.png``, each
    written atomically; ``mask_N.png`` files of an earlier run are removed. Returns the paths."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    width = len(str(len(masks)))
    paths = [
        write_png(out / f"mask_{i:0{width}d}.png", mask.astype(np.uint8) * 255)
        for i, mask in enumerate(masks, 1)
    ]
    paths.append(write_png(out / "overview.png", overview(image, scribbles, masks)))
    # Masks of an earlier run with a larger M (or other numbering) would read as this run's.
    written = {p.name for p in paths}
    for old in out.glob("mask_*.png"):
        if re.fullmatch(r"mask_\d+\.png", old.name) and old.name not in written:
            old.unlink()
    return paths


# ----------------------------------------------------------------------------- the command
class Function(StrEnum):
    """The set functions of ``subsel diverse`` over embeddings (``--function``)."""

    facility_location = "facility-location"
    feature_based = "feature-based"
    graph_cut = "graph-cut"


class Diversity(StrEnum):
    """The diversity terms of ``subsel diverse`` over an image (``--diversity``)."""

    hamming = "hamming"
    divmbest = "divmbest"
    hamming_ball = "hamming_ball"
    label_cost = "label_cost"
    label_transition = "label_transition"


DIVERSE_FLAGS = {
    "budget": "--budget",
    "n_neighbors": "--neighbors",
    "neighbors": "--neighbors",
    "metric": "--metric",
    "optimizer": "--optimizer",
    "seed": "--seed",
    "weights": "--relevance",
    "features": "EMBEDDINGS",
    "X": "EMBEDDINGS",
    "M": "-M",
    "lam": "--lam",
    "gamma": "--gamma",
    "diversity": "--diversity",
    "image": "INPUT",
    "scribbles": "--scribbles",
}


def diverse(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Embeddings (n, d) (.npy, .csv, .parquet), or an image (.png, .jpg).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Embeddings: a .parquet, .csv or .npz file. Image: a folder (created).",
        ),
    ],
    budget: Annotated[
        int | None, typer.Option("--budget", help="Embeddings: rows to choose.")
    ] = None,
    function: Annotated[
        Function, typer.Option("--function", help="Embeddings: the set function.")
    ] = Function.facility_location,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            metavar="[euclidean|sqeuclidean|cosine]",
            help="Embeddings: distance behind the similarities.",
        ),
    ] = "euclidean",
    neighbors: Annotated[
        int | None,
        typer.Option("--neighbors", help="facility-location: a kNN graph (memory n*k, not n^2)."),
    ] = None,
    relevance: Annotated[
        Path | None,
        typer.Option(
            "--relevance", metavar="FILE", help="Embeddings: per-row relevance (n,) to add."
        ),
    ] = None,
    lam: Annotated[
        float,
        typer.Option(
            "--lam", help="Embeddings: weight of --relevance. Image: strength of the diversity."
        ),
    ] = 0.5,
    optimizer: Annotated[
        str,
        typer.Option(
            "--optimizer", metavar="[lazy|naive|stochastic]", help="Embeddings: the greedy."
        ),
    ] = "lazy",
    scribbles: Annotated[
        Path | None,
        typer.Option(
            "--scribbles",
            metavar="FILE",
            help="Image: strokes, a PNG (white foreground, red background) or .npy (1, 0, -1).",
        ),
    ] = None,
    m: Annotated[int, typer.Option("-M", help="Image: number of masks.")] = 5,
    diversity: Annotated[
        Diversity, typer.Option("--diversity", help="Image: the diversity term.")
    ] = Diversity.hamming,
    gamma: Annotated[
        float | None, typer.Option("--gamma", help="hamming_ball: the ball's radius.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
) -> None:
    """Choose a diverse subset of embeddings, or M diverse segmentations of an image.

    \b
    Embeddings (INPUT is .npy, .csv or .parquet): greedy maximization of
    f(S) + lam * relevance(S); writes index and gain, in the order chosen.
      needs --budget; uses --function, --metric, --neighbors, --relevance, --lam,
      --optimizer, --seed
    Image (INPUT is .png or .jpg): M diverse foreground masks that respect the strokes;
    writes OUT/mask_1.png ... (255 foreground) and OUT/overview.png.
      needs --scribbles; uses -M, --diversity, --lam, --gamma

    \b
    Examples:
      subsel diverse emb.npy --budget 50 --function facility-location --out sel.parquet
      subsel diverse photo.jpg --scribbles strokes.png -M 5 --diversity hamming_ball --out masks/
    """
    from ._cli_diverse import IMAGE_SUFFIXES
    from ._io import check_output_file, check_output_folder

    image_mode = source.suffix.lower() in IMAGE_SUFFIXES
    if seed < 0:
        fail(f"--seed must be >= 0; got {seed}.")
    if image_mode:
        if scribbles is None:
            fail(f"INPUT {source} is an image: give its strokes with --scribbles FILE.")
        if budget is not None or relevance is not None:
            fail("--budget and --relevance are for embeddings; for an image give -M.")
    else:
        if scribbles is not None:
            fail(f"--scribbles needs an image INPUT (.png, .jpg); got {source}.")
        if budget is None:
            fail("diverse over embeddings needs --budget (the rows to choose).")
        if neighbors is not None and function != Function.facility_location:
            fail(f"--neighbors is for --function facility-location; got {function.value}.")
    try:
        if image_mode:
            check_output_folder(out)
        else:
            check_output_file(out, TABLE_OUT)
    except ValueError as exc:
        fail(str(exc))
    console = _console()
    try:
        if image_mode:
            _diverse_image(source, scribbles, out, m, diversity.value, lam, gamma, console)
        else:
            _diverse_rows(source, out, budget, function.value, metric, neighbors, relevance,
                          lam, optimizer, seed, console)  # fmt: skip
    except (ValueError, TypeError) as exc:
        fail(library_error(exc, DIVERSE_FLAGS))
    except MemoryError:
        fail("out of memory; for many rows give --neighbors K (a sparse kNN graph).")
    except ImportError as exc:
        fail(f"{exc}")
    except OSError as exc:
        fail(f"--out {out}: cannot write it ({exc.strerror or exc}).")


def _diverse_rows(source, out, budget, function, metric, neighbors, relevance, lam, optimizer,
                  seed, console):  # fmt: skip
    from ._cli_diverse import diverse_rows
    from ._io import read_array, write_table

    X = read_array(source, "embeddings")
    rel = None
    if relevance is not None:
        rel = read_array(relevance, "relevance").reshape(-1)
        if X.ndim == 2 and rel.shape[0] != X.shape[0]:
            fail(
                f"--relevance has {rel.shape[0]} values but the embeddings have {X.shape[0]} rows."
            )
    with console.status(f"maximizing {function}"):
        result = diverse_rows(X, budget=budget, function=function, metric=metric,
                              neighbors=neighbors, relevance=rel, lam=lam, optimizer=optimizer,
                              seed=seed, progress=console.is_terminal)  # fmt: skip
    write_table(out, {"index": result.indices, "gain": result.gains})
    typer.echo(f"{len(result.indices)} rows (total gain {float(result.gains.sum()):.6g}) -> {out}")


def _diverse_image(source, scribbles, out, m, diversity, lam, gamma, console):
    from ._cli_diverse import diverse_masks, read_scribbles, write_masks
    from ._io import read_image

    image = read_image(source, "INPUT")
    strokes = read_scribbles(scribbles, image.shape[:2])
    with console.status(f"{m} diverse segmentations ({diversity})"):
        masks = diverse_masks(image, strokes, M=m, diversity=diversity, lam=lam, gamma=gamma)
    paths = write_masks(out, image, strokes, masks)
    typer.echo(f"{len(masks)} masks -> {paths[-1].parent} (overview: {paths[-1].name})")


def _console():
    from rich.console import Console

    return Console(stderr=True)
