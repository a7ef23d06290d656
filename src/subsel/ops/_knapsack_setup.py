"""Validation, batch layout, checkpoint and backend choice of the DP knapsack / top-k operators
(private; the operators are in :mod:`.knapsack`)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._validation import (
    Bool,
    Int,
    NoneOr,
    OneOf,
    Options,
    Real,
    check_bool,
    check_choice,
    check_integers,
    check_k,
    check_param,
    check_positive_float,
    check_scores,
    input_error,
)
from . import _dp_kernels
from .topk import compute_dtype

REGULARIZERS = {
    "shannon": _dp_kernels.SHANNON,
    "gini": _dp_kernels.GINI,
    "tsallis": _dp_kernels.TSALLIS,
}
BACKENDS = ("auto", "torch", "numba", "triton")
#: "auto" checkpointing keeps the whole table while one table takes at most this many bytes.
FULL_TABLE_BYTES = 128 * 2**20

_CHECKPOINT = OneOf(Options("auto"), Bool(), Int(1, None))
_RESOLUTION = NoneOr(Real(0, None, closed="neither"))


class _Problem(NamedTuple):
    theta: torch.Tensor  # (B, n) in the compute dtype
    w: torch.Tensor  # (B, n) long
    cap: torch.Tensor  # (B,) long
    width: int
    exact_k: bool
    batch_shape: tuple
    out_dtype: torch.dtype


# ------------------------------------------------------------------------------------------------
# validation and layout
# ------------------------------------------------------------------------------------------------
def _knapsack_problem(values, weights, capacity, resolution, func, *, dtype=None) -> _Problem:
    check_scores(values, "values", func)
    if values.ndim == 0:
        raise input_error(func, "values", "is a 0-d tensor", "pass the item values as (..., n)")
    resolution = check_param(resolution, _RESOLUTION, "resolution", func)
    w = check_integers(
        weights, "weights", func, device=values.device, resolution=resolution, rounding="ceil"
    )
    try:
        shape = torch.broadcast_shapes(w.shape, values.shape)
    except RuntimeError:
        shape = None
    if shape != values.shape:
        raise input_error(
            func,
            "weights",
            f"has shape {tuple(w.shape)}, which does not broadcast to the values' shape "
            f"{tuple(values.shape)}",
            "pass one weight per item, (n,) or (..., n)",
        )
    batch_shape = tuple(values.shape[:-1])
    cap = check_integers(
        capacity,
        "capacity",
        func,
        device=values.device,
        resolution=resolution,
        rounding="floor",
        what="non-negative integers",
    )
    try:
        cshape = torch.broadcast_shapes(cap.shape, batch_shape)
    except RuntimeError:
        cshape = None
    if cshape != torch.Size(batch_shape):
        raise input_error(
            func,
            "capacity",
            f"has shape {tuple(cap.shape)}, which does not broadcast to the batch shape "
            f"{batch_shape} of 'values'",
            "pass an int or one capacity per row",
        )
    n = values.shape[-1]
    B = math.prod(batch_shape)
    w = w.expand(values.shape).reshape(B, n).contiguous()
    cap = cap.expand(batch_shape).reshape(B)
    # Capacity beyond a row's total weight admits every set: clip it, the table stays small.
    cap = torch.minimum(cap, w.sum(1)).contiguous()
    width = int(cap.max()) + 1 if B else 1
    dt = dtype or compute_dtype(values.dtype)
    theta = values.reshape(B, n).to(dt).contiguous()
    return _Problem(theta, w, cap, width, False, batch_shape, values.dtype)


def _topk_problem(values, k, at_most, func) -> _Problem:
    check_scores(values, "values", func)
    if values.ndim == 0:
        raise input_error(func, "values", "is a 0-d tensor", "pass the item values as (..., n)")
    at_most = check_bool(at_most, "at_most", func)
    n = values.shape[-1]
    batch_shape = tuple(values.shape[:-1])
    k_max, k_rows = check_k(k, n, batch_shape, func, device=values.device)
    B = math.prod(batch_shape)
    cap = (
        k_rows.reshape(B)
        if k_rows is not None
        else torch.full((B,), k_max, dtype=torch.long, device=values.device)
    )
    w = torch.ones(B, n, dtype=torch.long, device=values.device)
    theta = values.reshape(B, n).to(compute_dtype(values.dtype)).contiguous()
    return _Problem(theta, w, cap.contiguous(), k_max + 1, not at_most, batch_shape, values.dtype)


def _segment(checkpoint, prob: _Problem, func: str) -> int:
    checkpoint = check_param(checkpoint, _CHECKPOINT, "checkpoint", func)
    B, n = prob.theta.shape
    root = max(1, math.isqrt(n - 1) + 1) if n > 1 else 1
    if checkpoint == "auto":
        table = B * n * prob.width * prob.theta.element_size()
        return 1 if table <= FULL_TABLE_BYTES else root
    if checkpoint is True:
        return root
    if checkpoint is False:
        return 1
    return min(int(checkpoint), max(n, 1))


def _backend(name, device: torch.device, func: str):
    name = check_choice(name, BACKENDS, "backend", func)
    if name == "torch":
        return _dp_kernels
    if name in ("auto", "numba") and device.type == "cpu":
        try:
            from . import _dp_numba
        except ImportError:
            _dp_numba = None
        if _dp_numba is not None and _dp_numba.available():
            return _dp_numba
        if name == "numba":
            raise ImportError(
                f"{func}(backend='numba') needs numba (pip install numba); backend='torch' "
                f"always works."
            )
    # Triton runs on CUDA, or anywhere under its CPU interpreter (TRITON_INTERPRET=1, for tests)
    # when asked for by name.
    if (name == "auto" and device.type == "cuda") or name == "triton":
        try:
            from . import _dp_triton
        except ImportError:
            _dp_triton = None
        if _dp_triton is not None and _dp_triton.available(device):
            return _dp_triton
        if name == "triton" and device.type == "cuda":
            raise ImportError(
                f"{func}(backend='triton') needs triton (pip install triton); backend='torch' "
                f"always works."
            )
    if name in ("numba", "triton"):
        raise ValueError(
            f"The 'backend' parameter of {func} is {name!r}, which does not run on {device.type} "
            f"tensors; use 'auto' or 'torch'."
        )
    return _dp_kernels


def _settings(prob: _Problem, tau, regularizer, checkpoint, backend, func: str):
    """Validated ``(tau, regularizer code, block length, kernels)`` of a smoothed operator call."""
    tau = check_positive_float(tau, "tau", func)
    reg = REGULARIZERS[check_choice(regularizer, tuple(REGULARIZERS), "regularizer", func)]
    return tau, reg, _segment(checkpoint, prob, func), _backend(backend, prob.theta.device, func)
