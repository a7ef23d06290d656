"""The concave functions of the concave-over-modular family: by name, or a user's callable.

``concave_function`` is also used by :mod:`subsel.structured` (group-coverage diversities), which
imports it from :mod:`subsel.submodular`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import param_error

__all__ = ["CONCAVE", "concave_function"]


def _min1(x: np.ndarray) -> np.ndarray:
    return np.minimum(x, 1.0)


#: the concave functions known by name: ``phi(x)`` for ``x >= 0``, nondecreasing, ``phi(0) = 0``
CONCAVE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "log1p": np.log1p,
    "min1": _min1,
}

_NAMES = "one of 'sqrt', 'log1p', 'min1' or a vectorized callable"
_PROBE = np.array([0.0, 1.0, 2.0])


def concave_function(value: Any, name: str, func: str) -> tuple[str, Callable]:
    """Resolve a concave-function argument: a name in :data:`CONCAVE` or a vectorized callable.

    Parameters
    ----------
    value : str or callable
        ``"sqrt"``, ``"log1p"``, ``"min1"``, or a function ndarray -> ndarray of the same shape.
    name, func : str
        The argument's name and the public function that received it (for the message).

    Returns
    -------
    (label, phi)
        The name (or the callable's ``__name__``) and the function. A callable is probed once on
        ``np.array([0., 1., 2.])``: it must return finite reals of the same shape (concavity is
        not checked). Errors are in the one format of :mod:`subsel._validation`.
    """
    if isinstance(value, str):
        if value not in CONCAVE:
            raise param_error(func, name, _NAMES, value)
        return value, CONCAVE[value]
    if not callable(value):
        raise param_error(func, name, _NAMES, value, kind=TypeError)
    try:
        raw = np.asarray(value(_PROBE.copy()))
    except Exception as exc:
        raise param_error(
            func,
            name,
            f"a vectorized function (ndarray -> ndarray of the same shape); calling it on "
            f"np.array([0., 1., 2.]) raised {exc!r}",
            value,
            kind=TypeError,
        ) from exc
    numeric = raw.dtype != object and (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool)
    if not numeric or np.issubdtype(raw.dtype, np.complexfloating):
        raise param_error(
            func,
            name,
            f"a function returning real numbers; on np.array([0., 1., 2.]) it returned dtype "
            f"{raw.dtype}",
            value,
            kind=TypeError,
        )
    out = raw.astype(np.float64)
    if out.shape != _PROBE.shape or not np.all(np.isfinite(out)):
        raise param_error(
            func,
            name,
            f"a function mapping an ndarray to finite values of the same shape (wrap scalar "
            f"functions with np.vectorize); on np.array([0., 1., 2.]) it returned {out!r}",
            value,
        )
    return getattr(value, "__name__", "callable"), value
