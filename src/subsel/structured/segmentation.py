"""Interactive foreground segmentation from scribbles, and M diverse masks for the user to pick.

The relevance model ``r(y)`` (label 1 = foreground) is a pixel CRF on the 8-connected grid:

- **colour**: Gaussian mixtures fitted to the pixels under each kind of stroke (as in GrabCut,
  Rother et al. 2004); node score ``log p(colour | label)``;
- **where the strokes are**: a geodesic distance prior (Bai & Sapiro 2007; Criminisi et al. 2008):
  ``-spatial * D_l(p) / mean(D_fg + D_bg)``, with ``D_l`` the cost of the cheapest path from a
  stroke of label ``l`` to ``p`` where stepping across strong image edges is expensive
  (scikit-image's minimum-cost-path); it keeps a colour that appears on both sides of the
  object from labelling far-away regions;
- **smoothness**: contrast-sensitive Potts ``smoothness * exp(-beta |I_p - I_q|^2) / dist(p, q)``
  with ``beta = 1 / (2 mean |I_p - I_q|^2)`` (Boykov & Jolly 2001);
- **strokes** are hard constraints.

MAP is exact by one graph cut; :func:`interactive_segmentation` then returns ``M`` diverse masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
    input_error,
    param_error,
)
from .crf import PairwiseCRF, grid_edges
from .diverse import diverse_solutions

__all__ = ["segmentation_crf", "interactive_segmentation", "check_scribbles"]

_HARD = 1e6
_MIN_PER_COMPONENT = 10  # samples per mixture component (a full 3x3 covariance has 9 numbers)
_PRIOR_SAMPLES = 10.0  # pseudo-samples of the colour prior that small strokes are shrunk to
_PRIOR_SPREAD = 2.0  # prior colour spread of a click, in standard deviations of the pixel noise


def check_scribbles(image: Any, scribbles: Any, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``image (H, W, 3)`` uint8 and ``scribbles (H, W)`` in {-1, 0, 1} with both kinds.

    A stroke may be a single pixel (a click). ``func`` is the name used in error messages.
    Returns ``(image, scribbles as int64)``.
    """
    img = as_real_array(image, "image", func, what="an RGB image array (H, W, 3)")
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 2 or img.shape[1] < 2:
        raise input_error(
            func, "image", f"must have shape (H, W, 3) with H, W >= 2; got shape {img.shape}"
        )
    if img.dtype != np.uint8:
        raise input_error(
            func,
            "image",
            f"must be uint8 RGB; got dtype {img.dtype}",
            "convert with (image * 255).astype(np.uint8) if it is in [0, 1]",
            kind=TypeError,
        )
    scr = as_real_array(scribbles, "scribbles", func, what="an integer array (H, W)")
    if scr.shape != img.shape[:2]:
        raise input_error(
            func, "scribbles", f"must have the image's shape {img.shape[:2]}; got {scr.shape}"
        )
    if not np.issubdtype(scr.dtype, np.integer):
        raise input_error(
            func, "scribbles", f"must be integers; got dtype {scr.dtype}", kind=TypeError
        )
    if not np.isin(scr, (-1, 0, 1)).all():
        raise input_error(
            func,
            "scribbles",
            "must hold 1 (foreground stroke), 0 (background stroke) or -1 (none) only",
        )
    for label, name in ((1, "foreground"), (0, "background")):
        if not (scr == label).any():
            raise input_error(
                func,
                "scribbles",
                f"has no {name} stroke (value {label})",
                "draw at least one of each kind (a single pixel will do)",
            )
    return img, scr.astype(np.int64)


def _gaussian_log_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(x; mean, cov)`` for the rows of ``x (N, d)``."""
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean).T)
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * ((z * z).sum(axis=0) + log_det + x.shape[1] * np.log(2.0 * np.pi))


def _noise_variance(img: np.ndarray) -> np.ndarray:
    """Per-channel variance ``(3,)`` of the pixel noise, robustly from neighbour differences.

    Differences of two pixels of one region have twice the noise variance; the median of their
    squares is ``0.455`` times that (chi-square with one degree of freedom), which strong image
    edges (a minority of the pairs) do not move.
    """
    f = img.astype(np.float64)
    d = np.concatenate(
        [(f[:, 1:] - f[:, :-1]).reshape(-1, 3), (f[1:] - f[:-1]).reshape(-1, 3)], axis=0
    )
    return np.median(d * d, axis=0) / (2.0 * 0.455)


def _colour_scores(
    pixels: np.ndarray, scr: np.ndarray, n_components: int, seed, noise: np.ndarray
) -> np.ndarray:
    """``log p(colour | label)`` of every pixel ``(N, 2)`` from the stroke colours of each label.

    A stroke of ``s >= 10`` pixels gets a Gaussian mixture with at most ``s // 10`` components
    (and no more than its distinct colours). A smaller stroke, down to one click, gets one
    Gaussian at its mean colour whose covariance is shrunk towards a prior: ``(scatter + t P) /
    (s + t)`` with ``t = 10`` pseudo-samples and ``P = diag(4 noise + 1)``, two standard
    deviations of the image's pixel noise per channel (``noise``, :func:`_noise_variance`): a
    click stands for "colours like this one, up to the noise".
    """
    from sklearn.mixture import GaussianMixture

    out = np.empty((pixels.shape[0], 2))
    prior = np.diag(_PRIOR_SPREAD**2 * noise + 1.0)
    for label in (0, 1):
        sample = pixels[scr == label]
        s = sample.shape[0]
        k = min(n_components, s // _MIN_PER_COMPONENT, len(np.unique(sample, axis=0)))
        if k >= 1:
            gmm = GaussianMixture(k, reg_covar=1.0, random_state=seed).fit(sample)
            out[:, label] = gmm.score_samples(pixels)
        else:
            mean = sample.mean(axis=0)
            scatter = (sample - mean).T @ (sample - mean)
            cov = (scatter + _PRIOR_SAMPLES * prior) / (s + _PRIOR_SAMPLES)
            out[:, label] = _gaussian_log_pdf(pixels, mean, cov)
    return out


def _import_mcp():
    """scikit-image's minimum-cost-path solver, or an ImportError that names the extra."""
    try:
        from skimage.graph import MCP_Geometric
    except ImportError as exc:
        raise ImportError(
            "interactive segmentation needs scikit-image (geodesic distances), which is not "
            "installed; install it with pip install 'subsel[segmentation]' (or scikit-image)."
        ) from exc
    return MCP_Geometric


def _geodesic(img: np.ndarray, seeds: np.ndarray, contrast: float) -> np.ndarray:
    from scipy import ndimage

    mcp = _import_mcp()

    f = img.astype(np.float64)
    grad = np.zeros(img.shape[:2])
    for ch in range(3):
        grad += ndimage.sobel(f[..., ch], 0) ** 2 + ndimage.sobel(f[..., ch], 1) ** 2
    grad = np.sqrt(grad)
    cost = 1.0 + contrast * grad / max(grad.mean(), 1e-12)
    dist, _ = mcp(cost).find_costs(np.argwhere(seeds))
    return dist


def segmentation_crf(
    image: Any,
    scribbles: Any,
    *,
    n_components: int = 5,
    smoothness: float = 100.0,
    spatial: float = 30.0,
    contrast: float = 1.0,
    connectivity: int = 8,
    seed: Any = 0,
) -> PairwiseCRF:
    """The binary relevance CRF of an image and its scribbles (label 1 = foreground).

    Parameters
    ----------
    image : ndarray (H, W, 3) uint8
    scribbles : ndarray (H, W) int
        1 foreground stroke, 0 background stroke, -1 none.
    n_components : int >= 1
        Gaussians per colour model (at most one per 10 stroke pixels; strokes under 10 pixels,
        clicks included, get one Gaussian shrunk towards a broad colour prior).
    smoothness : float >= 0
        Weight of the contrast-sensitive Potts term.
    spatial : float >= 0
        Weight of the geodesic stroke-distance prior (0 turns it off).
    contrast : float >= 0
        How much image edges lengthen geodesic paths.
    connectivity : {4, 8}
    seed : None, int >= 0 or numpy.random.Generator
        Initialization of the mixture fits.

    Returns
    -------
    PairwiseCRF with ``H * W`` nodes (row-major), 2 labels, a shared Potts table and per-edge
    weights. Cost: ``O(HW (n_components + log HW))``.
    """
    func = "segmentation_crf"
    img, scr = check_scribbles(image, scribbles, func)
    _import_mcp()  # the optional dependency, checked before any work
    n_components = check_int(n_components, "n_components", func, low=1)
    smoothness = check_real(smoothness, "smoothness", func, low=0.0)
    spatial = check_real(spatial, "spatial", func, low=0.0)
    contrast = check_real(contrast, "contrast", func, low=0.0)
    connectivity = check_choice(connectivity, (4, 8), "connectivity", func)
    rng = check_seed(seed, func)
    seed = seed if isinstance(seed, (int, np.integer)) else int(rng.integers(2**31 - 1))
    h, w = scr.shape
    pixels = img.reshape(-1, 3).astype(np.float64)
    flat = scr.ravel()
    unary = _colour_scores(pixels, flat, n_components, seed, _noise_variance(img))
    if spatial > 0:
        d_fg = _geodesic(img, scr == 1, contrast).ravel()
        d_bg = _geodesic(img, scr == 0, contrast).ravel()
        scale = max(float(np.mean(d_fg + d_bg)), 1e-12)
        unary[:, 1] -= spatial * d_fg / scale
        unary[:, 0] -= spatial * d_bg / scale
    unary[flat == 1, 0] -= _HARD
    unary[flat == 0, 1] -= _HARD
    edges = grid_edges(h, w, connectivity=connectivity)
    diff = ((pixels[edges[:, 0]] - pixels[edges[:, 1]]) ** 2).sum(axis=1)
    beta = 1.0 / (2.0 * max(float(diff.mean()), 1e-12))
    step = edges[:, 1] - edges[:, 0]
    length = np.where((step == 1) | (step == w), 1.0, np.sqrt(2.0))
    weights = smoothness * np.exp(-beta * diff) / length
    return PairwiseCRF(unary, edges, np.eye(2), edge_weights=weights)


def interactive_segmentation(
    image: Any,
    scribbles: Any,
    *,
    M: int = 5,
    diversity: Any = "hamming",
    lam: float = 0.5,
    model: dict | None = None,
    return_crf: bool = False,
    **params: Any,
) -> np.ndarray | tuple[np.ndarray, PairwiseCRF]:
    """``M`` diverse foreground masks for an image and its scribbles.

    Builds :func:`segmentation_crf` (its keyword arguments in ``model``) and runs
    :func:`~subsel.structured.diverse.diverse_solutions` with ``diversity``, ``lam`` and ``params``
    (e.g. ``gamma`` for ``"hamming_ball"``, ``combine`` for a list of diversities). The first mask
    is the MAP; strokes hold in every mask.

    Returns
    -------
    masks : ndarray of bool, shape (M, H, W)
        (and the CRF when ``return_crf``).
    """
    func = "interactive_segmentation"
    img, scr = check_scribbles(image, scribbles, func)
    _import_mcp()  # the optional dependency, checked before any work
    M = check_int(M, "M", func, low=1)
    return_crf = check_bool(return_crf, "return_crf", func)
    if model is not None and not isinstance(model, dict):
        raise param_error(
            func,
            "model",
            "None or a dict of segmentation_crf keyword arguments",
            model,
            kind=TypeError,
        )
    crf = segmentation_crf(img, scr, **(model or {}))
    sols = diverse_solutions(crf, M, diversity=diversity, lam=lam, **params)
    masks = sols.reshape(-1, *scr.shape).astype(bool)
    return (masks, crf) if return_crf else masks
