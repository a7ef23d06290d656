"""The common bad-input walk over every public callable (see ``tests/common/bad_inputs.py``)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from tests.common.bad_inputs import CallSpec, bad_values, matches_format

PARTS = ("ops", "selection", "submodular", "structured", "apps", "valuation")


def _tables():
    out = {}
    for part in PARTS:
        out[part] = importlib.import_module(f"tests.common.bad_args_{part}")
    return out


TABLES = _tables()


def _cases():
    for part, mod in TABLES.items():
        for spec in mod.SPECS:
            for arg, kind in spec.args.items():
                for label, make in bad_values(kind):
                    key = f"{arg}:{label}"
                    marks = ()
                    if key in spec.skip:
                        marks = (pytest.mark.skip(reason=spec.skip[key]),)
                    yield pytest.param(spec, arg, make, id=f"{part}.{spec.name}-{key}", marks=marks)


@pytest.mark.parametrize("spec,arg,make", list(_cases()))
def test_bad_argument_is_refused_in_the_one_format(spec: CallSpec, arg, make):
    kwargs = spec.valid()
    assert arg in kwargs or arg in spec.args, f"{spec.name}: unknown argument {arg}"
    kwargs[arg] = make()
    with pytest.raises((ValueError, TypeError)) as info:
        spec.call(**kwargs)
    name = spec.message_names.get(arg, arg)
    message = str(info.value)
    assert matches_format(message, name), f"{spec.name}({arg}=...): {message!r}"


@pytest.mark.parametrize(
    "spec", [s for m in TABLES.values() for s in m.SPECS], ids=lambda s: s.name
)
def test_valid_arguments_are_accepted(spec: CallSpec):
    """The baseline call of every spec succeeds (so the bad-input cases test the bad value)."""
    spec.call(**spec.valid())


@pytest.mark.parametrize("part", PARTS)
def test_every_public_callable_is_walked(part):
    module = importlib.import_module(f"subsel.{part}")
    table = TABLES[part]
    covered = {s.name.split(".")[0].split("[")[0] for s in table.SPECS}
    missing = []
    for name in module.__all__:
        if name in table.EXEMPT:  # (and never touched: some are built lazily from extras)
            continue
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if name not in covered and name not in table.EXEMPT:
            missing.append(name)
    assert not missing, f"subsel.{part}: no bad-input spec for {missing} (add one or exempt it)"
