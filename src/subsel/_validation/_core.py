"""The error format and the scalar constraints (ints, reals, flags, options, seeds).

Constraints are declared as small objects, in the spirit of scikit-learn's
``utils/_param_validation``: each one says what it accepts (:meth:`Constraint.describe`, which is
the text after "must be" in the message) and turns an accepted value into its normal form
(:meth:`Constraint.convert`). :func:`check_param` applies one, :func:`validate_params` a table of
them, and the ``check_*`` functions are the shorthands that the library calls.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "param_error",
    "input_error",
    "Constraint",
    "Int",
    "Real",
    "Bool",
    "Options",
    "OneOf",
    "NoneOr",
    "check_param",
    "validate_params",
    "check_int",
    "check_real",
    "check_positive_float",
    "check_bool",
    "check_choice",
    "check_seed",
    "check_callable",
    "check_instance",
    "check_shape",
]


def _is_tensor(x: Any) -> bool:
    """``isinstance(x, torch.Tensor)`` without importing torch (200 MB) when nobody has."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _show(value: Any) -> str:
    """A short, readable rendering of a user value for error messages."""
    if _is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def param_error(
    func: str, name: str, constraint: str, value: Any, *, kind: type[Exception] = ValueError
) -> Exception:
    """Build the one-format error for parameter ``name`` of ``func``::

        The 'k' parameter of relaxed_topk must be an int in [1, n] (n=10). Got 12 instead.

    Returns the exception (the caller raises it) so that tracebacks point at the caller.
    """
    return kind(
        f"The '{name}' parameter of {func} must be {constraint}. Got {_show(value)} instead."
    )


def input_error(
    func: str, name: str, problem: str, fix: str = "", *, kind: type[Exception] = ValueError
) -> Exception:
    """Build the one-format error for an array input::

        Input 'scores' of relaxed_topk contains NaN at 3 positions; remove or impute them.

    ``problem`` says what is wrong (with the shape or value seen), ``fix`` how to mend it.
    """
    tail = f"; {fix}" if fix else ""
    return kind(f"Input '{name}' of {func} {problem}{tail}.")


# ---------------------------------------------------------------------------------------------
# declared constraints
# ---------------------------------------------------------------------------------------------
class Constraint:
    """A declared constraint on one parameter: :meth:`describe` and :meth:`convert`.

    ``convert`` returns the value in normal form or raises ``TypeError`` (wrong kind of value)
    or ``ValueError`` (right kind, outside the allowed set) through :meth:`fail`.
    """

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, value: Any, name: str, func: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def fail(self, value: Any, name: str, func: str, kind=ValueError) -> Exception:
        return param_error(func, name, self.describe(), value, kind=kind)


def _is_int(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral)


def _is_real(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)


class _Interval(Constraint):
    kind = "number"

    def __init__(
        self,
        low=None,
        high=None,
        *,
        closed: str = "both",
        label: str | None = None,
        extra: str = "",
    ):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither'; got {closed!r}")
        self.low, self.high, self.closed, self.label = low, high, closed, label
        self.extra = extra  # text after the interval in messages, e.g. " (n=10)"

    def _bounds(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = self.label or ("inf" if self.high is None else f"{self.high:g}")
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        return f"{left}{lo}, {hi}{right}"

    def _inside(self, x: float) -> bool:
        if self.low is not None and (x < self.low or (x == self.low and left_open(self.closed))):
            return False
        if self.high is not None and (
            x > self.high or (x == self.high and right_open(self.closed))
        ):
            return False
        return True


def left_open(closed: str) -> bool:
    return closed in ("right", "neither")


def right_open(closed: str) -> bool:
    return closed in ("left", "neither")


class Int(_Interval):
    """An integer (Python or numpy, never a bool) in an interval; converted to ``int``."""

    def describe(self) -> str:
        return f"an int in {self._bounds()}{self.extra}"

    def convert(self, value, name, func):
        if _is_tensor(value) and value.ndim == 0 and not value.is_floating_point():
            value = value.item()
        if not _is_int(value):
            raise self.fail(value, name, func, TypeError)
        value = int(value)
        if not self._inside(value):
            raise self.fail(value, name, func)
        return value


class Real(_Interval):
    """A finite real (int or float, never a bool or complex) in an interval; -> ``float``."""

    def describe(self) -> str:
        if self.high is None and self.low is not None and not self.label:
            sign = ">" if left_open(self.closed) else ">="
            return f"a finite float {sign} {self.low:g}"
        return f"a finite float in {self._bounds()}"

    def convert(self, value, name, func):
        if _is_tensor(value) and value.ndim == 0 and not value.is_complex():
            value = value.item()
        if not _is_real(value):
            raise self.fail(value, name, func, TypeError)
        x = float(value)
        if not np.isfinite(x) or not self._inside(x):
            raise self.fail(value, name, func)
        return x


class Bool(Constraint):
    """``True`` or ``False`` (also numpy's bools); ints and strings are refused."""

    def describe(self) -> str:
        return "a bool (True or False)"

    def convert(self, value, name, func):
        if not isinstance(value, (bool, np.bool_)):
            raise self.fail(value, name, func, TypeError)
        return bool(value)


class Options(Constraint):
    """One of a fixed set of values (strings are compared exactly, by type too)."""

    def __init__(self, *options):
        self.options = options

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def convert(self, value, name, func):
        def same_kind(a, b) -> bool:
            return isinstance(a, str) == isinstance(b, str) and isinstance(
                a, (bool, np.bool_)
            ) == isinstance(b, (bool, np.bool_))

        for option in self.options:
            try:
                equal = same_kind(value, option) and bool(value == option)
            except (TypeError, ValueError):  # arrays and the like
                equal = False
            if equal:
                return option
        kind = ValueError if any(same_kind(value, o) for o in self.options) else TypeError
        if isinstance(value, (np.ndarray, list, dict)) or _is_tensor(value):
            kind = TypeError
        raise self.fail(value, name, func, kind)


class NoneOr(Constraint):
    """``None`` or what ``inner`` accepts."""

    def __init__(self, inner: Constraint):
        self.inner = inner

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def convert(self, value, name, func):
        if value is None:
            return None
        try:
            return self.inner.convert(value, name, func)
        except (TypeError, ValueError) as exc:
            raise self.fail(value, name, func, type(exc)) from None


class OneOf(Constraint):
    """The first of several constraints that accepts the value."""

    def __init__(self, *inner: Constraint):
        self.inner = inner

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.inner)

    def convert(self, value, name, func):
        kinds = []
        for c in self.inner:
            try:
                return c.convert(value, name, func)
            except (TypeError, ValueError) as exc:
                kinds.append(type(exc))
        raise self.fail(value, name, func, ValueError if ValueError in kinds else TypeError)


def check_param(value: Any, constraint: Constraint, name: str, func: str) -> Any:
    """Apply one declared constraint; return the value in normal form."""
    return constraint.convert(value, name, func)


def validate_params(func: str, constraints: Mapping[str, Constraint], **values: Any) -> dict:
    """Apply a table of declared constraints; return the converted values by name.

    >>> validate_params("f", {"k": Int(1), "hard": Bool()}, k=3, hard=False)
    {'k': 3, 'hard': False}
    """
    return {name: constraints[name].convert(values[name], name, func) for name in values}


# ---------------------------------------------------------------------------------------------
# shorthands
# ---------------------------------------------------------------------------------------------
def check_int(
    value: Any,
    name: str,
    func: str,
    *,
    low: int | None = None,
    high: int | None = None,
    extra: str = "",
    high_label: str | None = None,
) -> int:
    """An integer (not a bool) within ``[low, high]``; returned as ``int``.

    ``high_label`` names the upper bound in the message (e.g. ``"n"``), ``extra`` follows it.
    """
    return Int(low, high, label=high_label, extra=extra).convert(value, name, func)


def check_real(
    value: Any,
    name: str,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real in ``[low, high]`` (either end open on request); returned as ``float``."""
    closed = {
        (False, False): "both",
        (False, True): "left",
        (True, False): "right",
        (True, True): "neither",
    }[(bool(low_open), bool(high_open))]
    return Real(low, high, closed=closed).convert(value, name, func)


def check_positive_float(value: Any, name: str, func: str) -> float:
    """A finite real > 0, as ``float``."""
    if _is_real(value) and float(value) > 0 and np.isfinite(float(value)):
        return float(value)  # fast path: called on every operator call
    return Real(0, None, closed="neither").convert(value, name, func)


def check_bool(value: Any, name: str, func: str) -> bool:
    """A flag: ``True`` or ``False`` only (``1``, ``"yes"`` are refused with ``TypeError``)."""
    return Bool().convert(value, name, func)


def check_choice(value: Any, options: tuple, name: str, func: str):
    """One of ``options`` (strings compared exactly)."""
    return Options(*options).convert(value, name, func)


def check_seed(seed: Any, func: str, name: str = "seed") -> np.random.Generator:
    """Turn ``seed`` (None, an int >= 0, or a numpy Generator) into a ``numpy.random.Generator``.

    A Generator is used as it is (the caller's stream advances); an int gives a fresh stream.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    constraint = "None, an int >= 0 or a numpy.random.Generator"
    if not _is_int(seed):
        raise param_error(func, name, constraint, seed, kind=TypeError)
    if int(seed) < 0:
        raise param_error(func, name, constraint, seed)
    return np.random.default_rng(int(seed))


def check_callable(value: Any, name: str, func: str, what: str = "a callable") -> Callable:
    """Anything callable."""
    if not callable(value):
        raise param_error(func, name, what, value, kind=TypeError)
    return value


def check_instance(value: Any, cls: type | tuple[type, ...], name: str, func: str):
    """An instance of ``cls`` (a class or a tuple of classes)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise param_error(func, name, f"a {names}", value, kind=TypeError)
    return value


def check_shape(value: Any, name: str, func: str) -> tuple[int, ...]:
    """A shape: a ``torch.Size``, or a tuple / list of ints >= 0 (an int is one axis)."""
    constraint = "a shape: a tuple of ints >= 0 (e.g. (), (5,) or (2, 3))"
    if _is_int(value):
        value = (value,)
    if not isinstance(value, (tuple, list)):  # torch.Size is a tuple
        raise param_error(func, name, constraint, value, kind=TypeError)
    if not all(_is_int(v) for v in value):
        raise param_error(func, name, constraint, value, kind=TypeError)
    if any(int(v) < 0 for v in value):
        raise param_error(func, name, constraint, value)
    return tuple(int(v) for v in value)
