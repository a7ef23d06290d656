"""The objective that every MAP solver of :mod:`subsel.structured.inference` maximizes, and the
argument checks the solvers share (all built on :mod:`subsel._validation`).

Conventions: a *score* is maximized, an *energy* is ``-score`` and minimized. Label costs are
energies (``>= 0``) paid once for every label that a labelling uses; a cardinality factor
``(reference, phi)`` adds the score ``phi[H(y, reference)]`` where ``H`` is the Hamming distance.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._validation import as_real_array, check_instance, check_vector, input_error, param_error
from .crf import PairwiseCRF

__all__ = ["objective"]


# ---------------------------------------------------------------------------------------------
# checks shared by the solvers
# ---------------------------------------------------------------------------------------------
def _check_crf(crf: Any, func: str) -> PairwiseCRF:
    return check_instance(crf, PairwiseCRF, "crf", func)


def _check_labelling(crf: PairwiseCRF, y: Any, func: str, name: str) -> np.ndarray:
    """One labelling ``(n,)`` of ints in ``[0, L)`` as int64 (a copy is not made)."""
    arr = crf.check_labels(y, func, name)
    if arr.ndim != 1:
        raise input_error(
            func, name, f"must be one labelling of shape ({crf.n_nodes},); got shape {arr.shape}"
        )
    return arr


def _check_label_costs(label_costs: Any, n_labels: int, func: str) -> np.ndarray | None:
    """``None`` or a finite, nonnegative float array of shape ``(L,)``."""
    if label_costs is None:
        return None
    return check_vector(
        label_costs,
        n_labels,
        "label_costs",
        func,
        nonnegative=True,
        hint="a reward for using a label is not representable in an expansion move; clip net "
        "costs at 0",
    )


def _check_phi(phi: Any, n: int, func: str, name: str) -> np.ndarray:
    """A finite float array of shape ``(n + 1,)`` (scores of the counts ``0..n``)."""
    return check_vector(phi, n + 1, name, func)


def _check_delta(delta: Any, func: str, name: str) -> np.ndarray:
    """A 1-d array of finite reals (may be empty: a factor over no variables)."""
    arr = as_real_array(delta, name, func, what="a 1-d array of numbers")
    if arr.size == 0 and arr.ndim == 1:
        return arr.astype(np.float64)
    return check_vector(arr, None, name, func)


def _check_cardinality(
    cardinality: Any, crf: PairwiseCRF, func: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A list of ``(reference (n,) int64, phi (n + 1,) float64)`` pairs."""
    n = crf.n_nodes
    constraint = "a sequence of (reference, phi) pairs (reference (n,) labels, phi (n + 1,))"
    if cardinality is None:
        return []
    if isinstance(cardinality, (str, bytes, np.ndarray)) or not isinstance(cardinality, Iterable):
        raise param_error(func, "cardinality", constraint, cardinality, kind=TypeError)
    out = []
    for k, item in enumerate(cardinality):
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
            raise param_error(
                func, f"cardinality[{k}]", "a (reference, phi) pair", item, kind=TypeError
            )
        ref = _check_labelling(crf, item[0], func, f"cardinality[{k}] reference")
        out.append((ref, _check_phi(item[1], n, func, f"cardinality[{k}] phi")))
    return out


# ---------------------------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------------------------
def objective(
    crf: PairwiseCRF,
    y: Any,
    *,
    label_costs: Any = None,
    cardinality: Any = (),
) -> float | np.ndarray:
    """The exact objective ``score(y) - sum_l h_l [l in y] + sum_k phi_k[H(y, y'_k)]``.

    This is what :func:`alpha_expansion` (with ``label_costs``) and :func:`max_product` (with
    ``cardinality``) maximize, so that their answers can be compared on one scale.

    Parameters
    ----------
    crf : PairwiseCRF
    y : array_like of int, shape (n,) or (B, n)
        One labelling or a batch.
    label_costs : array_like, shape (L,), optional
        Nonnegative energy ``h_l`` paid once if label ``l`` occurs anywhere in ``y``.
    cardinality : sequence of (reference, phi) pairs
        ``reference`` a labelling ``(n,)``, ``phi`` scores ``(n + 1,)`` indexed by the Hamming
        distance ``H(y, reference) = sum_i [y_i != reference_i]``.

    Returns
    -------
    float (for one labelling) or ndarray of shape (B,)

    Notes
    -----
    ``O(B (n + m + K n))`` time for ``K`` cardinality factors.
    """
    func = "objective"
    _check_crf(crf, func)
    y = crf.check_labels(y, func)
    h = _check_label_costs(label_costs, crf.n_labels, func)
    cards = _check_cardinality(cardinality, crf, func)
    return _objective(crf, y, h, cards)


def _objective(crf: PairwiseCRF, y: np.ndarray, h, cards) -> float | np.ndarray:
    """:func:`objective` on checked arguments."""
    batch = np.atleast_2d(y)
    out = np.atleast_1d(np.asarray(crf.score(batch), dtype=np.float64)).copy()
    if h is not None:
        used = np.zeros((batch.shape[0], crf.n_labels), dtype=bool)
        used[np.arange(batch.shape[0])[:, None], batch] = True
        out -= used.astype(np.float64) @ h
    for ref, phi in cards:
        out += phi[(batch != ref[None, :]).sum(axis=1)]
    return float(out[0]) if y.ndim == 1 else out
