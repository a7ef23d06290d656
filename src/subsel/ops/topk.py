"""Relaxed top-k by successive softmax (Ploetz & Roth, 2018), as used by Xie & Ermon (2019).

With ``alpha^1 = scores`` the recursion (eqs. 3-5) is, for j = 1..k,

    a^j       = softmax(alpha^j / tau)
    alpha^{j+1} = alpha^j + log(1 - a^j)

and the relaxed k-hot output is ``a = sum_j a^j``. Each step is a relaxed one-hot vector; as
``tau -> 0`` step j tends to the one-hot of the j-th largest score, so ``a`` tends to the exact
k-hot top-k mask.

Numerics: ``log(1 - a)`` is never formed as ``log(1 - exp(log a))`` for the largest entry, where it
would round to ``log(0)``. For that entry ``1 - a = r / (1 + r)`` with ``r`` the sum of the other
(shifted) exponentials, and ``log r`` is a logsumexp; for every other entry ``a <= 1/2`` and
``log1p(-a)`` is accurate. So the recursion is exact in floating point and never produces NaN or
inf as long as each row has at least k finite scores (``-inf`` marks an item that is never chosen).
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F

from .._validation import check_bool, check_choice, check_positive_float
from ._common import prepare, rank_mask
from ._topk_kernels import LeanKernel, autograd_kernel

__all__ = ["relaxed_topk"]


_COMPILED = None
_COMPILE_FAILED = False


def _compiled_kernel():
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(autograd_kernel, dynamic=True)
    return _COMPILED


def _run(x, k_max, k_rows, tau, return_steps, backend):
    """Dispatch to a kernel of :mod:`._topk_kernels`.

    ``"auto"`` may fall back from a failed compile to ``"lean"`` (with one warning); an explicit
    ``backend="compile"`` that cannot be honoured raises.
    """
    global _COMPILE_FAILED
    if backend == "auto":
        use_compile = (
            x.is_cuda and os.environ.get("SUBSEL_COMPILE", "1") != "0" and not _COMPILE_FAILED
        )
        backend = "compile" if use_compile else "lean"
        explicit = False
    else:
        explicit = True
    if backend == "compile":
        try:
            return _compiled_kernel()(x, k_max, k_rows, tau, return_steps)
        except Exception as exc:  # depends on the platform's compiler
            if explicit:
                raise RuntimeError(
                    f"relaxed_topk(backend='compile') could not compile the recursion "
                    f"({type(exc).__name__}: {exc}). Use backend='lean' or 'auto' (which falls "
                    f"back to 'lean')."
                ) from exc
            if not _COMPILE_FAILED:
                warnings.warn(
                    f"torch.compile of relaxed_topk failed ({type(exc).__name__}: "
                    f"{exc}); falling back to the lean kernel.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            _COMPILE_FAILED = True
            backend = "lean"
    if backend == "lean":
        out = LeanKernel.apply(x, k_max, k_rows, tau, return_steps)
        return out if return_steps else (out, None)
    return autograd_kernel(x, k_max, k_rows, tau, return_steps)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the recursions run in: float64 for float64 input, float32 for everything else.

    Half precision (float16, bfloat16) cannot carry the running quantities: ``alpha`` drifts by
    ``log(1 - a)`` each step and the rows stop summing to k (bf16, n = 2000, k = 500 summed to
    ~292). The operators compute in float32 and return the input's dtype.
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def relaxed_topk(
    scores: torch.Tensor,
    k,
    *,
    tau: float = 1.0,
    dim: int = -1,
    hard: bool = False,
    return_steps: bool = False,
    backend: str = "auto",
):
    """Relaxed k-hot top-k of ``scores`` by k successive softmaxes (eqs. 3-5).

    Parameters
    ----------
    scores : Tensor, shape (..., n)
        Any leading axes are batch axes (``dim`` picks the item axis). ``-inf`` marks an item that
        is never chosen; NaN and ``+inf`` are rejected. Each row needs at least k finite scores.
    k : int or LongTensor of shape ``scores.shape`` without ``dim``
        Subset size, one for all rows or one per row (rows stop after their own k steps).
    tau : float > 0
        Temperature. ``tau -> 0`` gives the exact top-k mask.
    dim : int
        The item axis.
    hard : bool
        Straight-through: the forward value is the exact k-hot top-k mask (and one-hot steps), the
        gradient is that of the relaxation.
    return_steps : bool
        Also return the k relaxed one-hot steps ``a^1..a^k`` (for sequence losses such as eq. 7).
    backend : {"auto", "lean", "eager", "compile"}
        ``"lean"``: a custom autograd function with a hand-written backward that keeps one
        (..., n) tensor per step (memory ~k n) and works in place; no double backward.
        ``"eager"``: plain autograd (about 8 tensors a step; higher-order derivatives work).
        ``"compile"``: the eager recursion fused by ``torch.compile``. ``"auto"``: ``"compile"`` on
        CUDA (``SUBSEL_COMPILE=0`` disables it; a failed compile falls back with a warning), else
        ``"lean"``. An explicit ``"compile"`` that fails raises ``RuntimeError``.

    Returns
    -------
    a : Tensor, shape of ``scores``
        ``sum_j a^j``; every row sums to its k. Entries lie in [0, k].
    steps : Tensor, shape of ``scores`` with a new axis of size ``max(k)`` inserted at ``dim``
        Only with ``return_steps=True``. Steps past a row's own k are zero.

    Notes
    -----
    Order is preserved for ``tau >= 1`` (Theorem 1 of Xie & Ermon): a larger score never gets a
    smaller output. For ``tau < 1`` it is not, and entries can exceed 1: scores ``[1, 2]``, k = 2,
    tau = 0.4 give ``[1.053, 0.947]``. Entries can exceed 1 at tau >= 1 too, when one score
    dominates (its alpha drops by only ``log(1 - a)``, in score units): scores ``[100, 0, 0]``,
    k = 2, tau = 1 give ``[1.5, 0.25, 0.25]``. Both are properties of the recursion, kept as they
    are.

    Precision: float16 and bfloat16 input is computed in float32 and the result cast back, so
    rows sum to k up to the output dtype's rounding (``k * eps``). Gradients in float16 can
    exceed its range (65504) at small ``tau`` with tied scores, where the true derivative is that
    large (float64 gives 1.8e14 at tau = 1e-3 for 50 tied scores, k = 10; 12 at tau = 1e-2):
    they come back as ``inf``, never NaN. Use bfloat16 or float32 there.

    Cost: O(k n) time and O(k n) memory per row for the backward pass (``"lean"``: k saved
    tensors); k sequential steps.
    """
    func = "relaxed_topk"
    tau = check_positive_float(tau, "tau", func)
    hard = check_bool(hard, "hard", func)
    return_steps = check_bool(return_steps, "return_steps", func)
    backend = check_choice(backend, ("auto", "lean", "eager", "compile"), "backend", func)
    x, d, k_max, k_rows = prepare(scores, k, dim, func)
    out_dtype = x.dtype
    x = x.to(compute_dtype(out_dtype))  # differentiable cast; a no-op for float32 / float64
    a, steps = _run(x, k_max, k_rows, tau, return_steps, backend)
    if hard:
        top = x.detach().topk(k_max, dim=-1).indices
        if return_steps:
            one_hot = F.one_hot(top, x.shape[-1]).to(x.dtype)  # (..., k_max, n)
            if k_rows is not None:
                keep = torch.arange(k_max, device=x.device) < k_rows.unsqueeze(-1)
                one_hot = one_hot * keep.unsqueeze(-1).to(x.dtype)
            steps = one_hot + (steps - steps.detach())
        mask = rank_mask(x.detach(), k_max, k_rows).to(x.dtype)
        a = mask + (a - a.detach())
    a = a.to(out_dtype).movedim(-1, d)
    if not return_steps:
        return a
    return a, _restore_steps(steps.to(out_dtype), d)


def _restore_steps(steps: torch.Tensor, d: int) -> torch.Tensor:
    """(..., k, n) with the batch axes in moved order -> k axis at ``d`` and n axis at ``d + 1``."""
    # Batch axes are the original axes without d, in order; put (k, n) back at positions (d, d+1).
    nb = steps.ndim - 2
    perm = list(range(d)) + [nb, nb + 1] + list(range(d, nb))
    return steps.permute(perm)
