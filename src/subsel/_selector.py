"""The one selector protocol: keyword settings stored as given, ``get_params`` / ``set_params``.

Every selector (``subsel.selection``'s ``Uniform``, ``KCenterGreedy``, ``SensitivitySampling``,
..., and ``subsel.submodular.SubmodularSelector``) stores its constructor arguments unchanged as
attributes of the same names, validates them in ``select(X, ...) -> Selection``, and inherits
:class:`ParamsMixin`, so that ``sklearn.base.clone`` and grid searches work on it as on any
scikit-learn estimator.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._validation import param_error

__all__ = ["ParamsMixin", "resolve_alias"]


class ParamsMixin:
    """``get_params``, ``set_params`` and a short ``repr`` from the constructor's signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as given (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments (validated at the next ``select``); returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise param_error(
                    f"{type(self).__name__}.set_params",
                    "params",
                    "keyword arguments named after constructor parameters ("
                    + ", ".join(valid)
                    + ")",
                    name,
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if not (k in defaults and _same(v, defaults[k]))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def resolve_alias(func: str, name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """The value of parameter ``name``, also accepted under its older name ``alias``.

    Giving both is an error; ``alias`` alone is taken as ``name``.
    """
    if alias_value is None:
        return value
    if value is not None:
        raise param_error(
            func,
            alias,
            f"left unset when '{name}' is given (it is an alias of '{name}')",
            alias_value,
        )
    return alias_value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False
