"""The common bad-input walk: a table of bad values per kind of argument, and call specs.

Each part of the library lists its public callables in ``tests/common/bad_args_<part>.py`` as
:class:`CallSpec` entries: how to build valid arguments, how to call, and the kind of each
argument. ``tests/test_bad_inputs.py`` replaces one argument at a time by every bad value of its
kind and asserts a ``ValueError`` / ``TypeError`` that names the argument in the one format of
``subsel._validation``. A public name that has no spec must be listed in ``EXEMPT`` with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NAN, INF = float("nan"), float("inf")

# kind -> list of (label, bad value). Values are built lazily (some need torch or a size).
BAD: dict[str, list[tuple[str, Callable[[], Any]]]] = {
    "int": [
        ("float", lambda: 1.5),
        ("bool", lambda: True),
        ("str", lambda: "3"),
        ("negative", lambda: -1),
        ("none", lambda: None),
    ],
    "pos_int": [("zero", lambda: 0), ("negative", lambda: -3), ("float", lambda: 2.5)],
    "real": [
        ("nan", lambda: NAN),
        ("inf", lambda: INF),
        ("str", lambda: "x"),
        ("complex", lambda: 1 + 2j),
        ("bool", lambda: True),
    ],
    "pos_real": [("zero", lambda: 0.0), ("negative", lambda: -1.0), ("nan", lambda: NAN)],
    "nonneg_real": [("negative", lambda: -0.5), ("nan", lambda: NAN), ("inf", lambda: INF)],
    "flag": [("str", lambda: "yes"), ("int", lambda: 1), ("none", lambda: None)],
    "seed": [("str", lambda: "x"), ("negative", lambda: -1), ("float", lambda: 1.5)],
    "choice": [("bogus", lambda: "bogus"), ("int", lambda: 3)],
    "generator": [("numpy rng", lambda: np.random.default_rng(0)), ("int", lambda: 3)],
}


def _np_bad(shape: tuple[int, ...]) -> list[tuple[str, Callable[[], Any]]]:
    """Bad arrays for a numpy-side float argument whose valid shape is ``shape``."""

    def with_value(v):
        def make():
            a = np.ones(shape)
            a.flat[0] = v
            return a

        return make

    out = [
        ("nan", with_value(NAN)),
        ("inf", with_value(INF)),
        ("complex", lambda: np.ones(shape) * (1 + 1j)),
        ("str", lambda: "abc"),
        ("object", lambda: np.array([object()] * int(np.prod(shape))).reshape(shape)),
        ("empty", lambda: np.ones((0,) + tuple(shape[1:]))),
    ]
    if len(shape) >= 1:
        out.append(("extra axis", lambda: np.ones(tuple(shape) + (2,))))
    return out


def _torch_bad(shape: tuple[int, ...]) -> list[tuple[str, Callable[[], Any]]]:
    import torch

    def with_value(v):
        def make():
            a = torch.ones(shape)
            a.view(-1)[0] = v
            return a

        return make

    return [
        ("nan", with_value(NAN)),
        ("inf", with_value(INF)),
        ("complex", lambda: torch.ones(shape, dtype=torch.complex64)),
        ("int dtype", lambda: torch.ones(shape, dtype=torch.long)),
        ("numpy", lambda: np.ones(shape)),
        ("empty", lambda: torch.ones(tuple(shape[:-1]) + (0,))),
    ]


def _ints_bad(shape: tuple[int, ...]) -> list[tuple[str, Callable[[], Any]]]:
    """Bad non-negative integer arrays (weights, capacities) whose valid shape is ``shape``."""
    import torch

    def with_value(v):
        def make():
            a = torch.ones(shape, dtype=torch.float64)
            a.view(-1)[0] = v
            return a

        return make

    return [
        ("negative", with_value(-1.0)),
        ("fraction", with_value(1.5)),
        ("nan", with_value(NAN)),
        ("inf", with_value(INF)),
        ("complex", lambda: torch.ones(shape, dtype=torch.complex64)),
        ("str", lambda: "abc"),
        ("wrong shape", lambda: torch.ones(tuple(shape) + (3,), dtype=torch.long)),
    ]


def bad_values(kind: str) -> list[tuple[str, Callable[[], Any]]]:
    """The bad values of ``kind``: a key of ``BAD``, ``"array(shape)"``, ``"tensor(shape)"`` or
    ``"ints(shape)"`` (non-negative integers)."""
    m = re.fullmatch(r"(array|tensor|ints)\(([\d, ]*)\)", kind)
    if m:
        shape = tuple(int(s) for s in m.group(2).split(",") if s.strip())
        return {"array": _np_bad, "tensor": _torch_bad, "ints": _ints_bad}[m.group(1)](shape)
    return BAD[kind]


@dataclass
class CallSpec:
    """How to call one public callable with valid arguments, and the kind of each argument.

    ``valid()`` returns the keyword arguments of a successful call; ``call(**kw)`` makes it
    (e.g. ``lambda **kw: KCenterGreedy(budget=kw.pop("budget")).select(**kw)``). ``args`` maps an
    argument name to its kind (see :func:`bad_values`). ``skip`` maps ``"arg:label"`` to the
    reason a bad value is in fact accepted on purpose (documented behaviour).
    """

    name: str
    valid: Callable[[], dict]
    call: Callable[..., Any]
    args: dict[str, str]
    skip: dict[str, str] = field(default_factory=dict)
    # the name used in messages when it differs from the keyword (e.g. a flag called '--budget')
    message_names: dict[str, str] = field(default_factory=dict)


_FORMATS = (
    r"The '{name}' parameter of [\w.\[\]]+ must be .+\. Got .+ instead\.",
    r"Input '{name}' of [\w.\[\]]+ .+",
)


def matches_format(message: str, name: str) -> bool:
    """Whether ``message`` is in one of the two formats and names argument ``name``."""
    return any(re.match(f.format(name=re.escape(name)), message, flags=re.S) for f in _FORMATS)
