"""The base of the diversity terms: :class:`DiversityTerm`, its :class:`Surrogate`, and helpers
shared by the terms (see :mod:`subsel.structured.diversity`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import param_error
from .crf import PairwiseCRF

__all__ = ["Surrogate", "DiversityTerm", "SumOfDiversities", "hamming"]


def hamming(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Hamming distances ``(|S|,)`` from one labelling ``y (n,)`` to each row of ``S (k, n)``."""
    return (np.asarray(S) != np.asarray(y)[None, :]).sum(axis=1)


@dataclass
class Surrogate:
    """A model of ``lam d(y | S)`` that MAP solvers take: ``<unary, onehot(y)> - label costs -
    pair costs + const``.

    Attributes
    ----------
    unary : ndarray (n, L) or None
        Scores added to the CRF's node scores.
    label_costs : ndarray (L,) or None
        Nonnegative energies paid once per label present in ``y``.
    pair_costs : ndarray (L, L) or None
        Nonnegative, symmetric, zero-diagonal energies paid on every edge whose ends take the pair.
    const : float
    """

    unary: np.ndarray | None = None
    label_costs: np.ndarray | None = None
    pair_costs: np.ndarray | None = None
    const: float = 0.0

    def __add__(self, other: Surrogate) -> Surrogate:
        def add(a, b):
            if a is None:
                return b
            if b is None:
                return a
            return a + b

        return Surrogate(
            add(self.unary, other.unary),
            add(self.label_costs, other.label_costs),
            add(self.pair_costs, other.pair_costs),
            self.const + other.const,
        )


def _history(S: Any, n: int) -> np.ndarray:
    S = np.asarray(S, dtype=np.int64)
    return S.reshape(0, n) if S.size == 0 else S.reshape(-1, n)


def _mismatch_unary(crf: PairwiseCRF, S: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """``sum_k slopes[k] [l != S[k, i]]`` as ``(n, L)`` unary scores, in ``O(|S| n + nL)``."""
    n, L = crf.n_nodes, crf.n_labels
    out = np.full((n, L), float(slopes.sum()))
    rows = np.arange(n)
    for y_prev, a in zip(S, slopes, strict=True):
        np.subtract.at(out, (rows, y_prev), a)
    return out


class DiversityTerm:
    """Base class: ``lam * d(y | S)``; subclasses define :meth:`value` and :meth:`surrogate`."""

    lam: float = 1.0
    #: True when the surrogate equals the term for every y (no outer iterations needed).
    exact_surrogate: bool = False

    def value(self, crf: PairwiseCRF, y: np.ndarray, S: Any) -> float:  # pragma: no cover
        raise NotImplementedError

    def surrogate(self, crf: PairwiseCRF, y: np.ndarray, S: Any) -> Surrogate:  # pragma: no cover
        raise NotImplementedError

    def starts(self, crf: PairwiseCRF, S: Any) -> list[Surrogate]:
        """Extra surrogates whose MAPs seed the iterated linearization (none by default)."""
        return []

    @property
    def upper_surrogate(self) -> bool:
        """True when ``surrogate(crf, y0, S)``, shifted by a constant to touch ``value`` at
        ``y0``, is ``>= value`` at every ``y``: exact surrogates, and tangents of terms that are
        concave in the one-hot labelling (the Hamming ball). Step solvers then certify a step
        by enumerating the surrogate's best labellings (branch and bound)."""
        return self.exact_surrogate

    def check(self, crf: PairwiseCRF) -> None:
        """Refuse parameters that do not fit ``crf`` (e.g. labels it does not have)."""

    def value_bound(self, crf: PairwiseCRF, S: Any) -> float | None:
        """An upper bound on ``value(crf, y, S)`` over all ``y`` (``None``: none known)."""
        return None

    def __add__(self, other: Any) -> SumOfDiversities:
        return SumOfDiversities([self, other])

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class SumOfDiversities(DiversityTerm):
    """The weighted sum (section 4's combined diversity): ``sum_t lam_t d_t(y | S)``."""

    def __init__(self, terms: Any):
        if not isinstance(terms, (list, tuple)):
            raise param_error(
                "SumOfDiversities",
                "terms",
                "a list of DiversityTerm objects",
                terms,
                kind=TypeError,
            )
        flat: list[DiversityTerm] = []
        for t in terms:
            if isinstance(t, SumOfDiversities):
                flat.extend(t.terms)
            elif isinstance(t, DiversityTerm):
                flat.append(t)
            else:
                raise param_error(
                    "SumOfDiversities",
                    "terms",
                    "a list of DiversityTerm objects",
                    t,
                    kind=TypeError,
                )
        if not flat:
            raise param_error("SumOfDiversities", "terms", "a non-empty list", terms)
        self.terms = flat
        self.lam = 1.0
        self.exact_surrogate = all(t.exact_surrogate for t in flat)

    @property
    def upper_surrogate(self) -> bool:
        return all(t.upper_surrogate for t in self.terms)

    def check(self, crf: PairwiseCRF) -> None:
        for t in self.terms:
            t.check(crf)

    def value(self, crf, y, S):
        return float(sum(t.value(crf, y, S) for t in self.terms))

    def value_bound(self, crf, S):
        bounds = [t.value_bound(crf, S) for t in self.terms]
        return None if any(b is None for b in bounds) else float(sum(bounds))

    def surrogate(self, crf, y, S):
        out = Surrogate()
        for t in self.terms:
            out = out + t.surrogate(crf, y, S)
        return out

    def starts(self, crf, S):
        return [s for t in self.terms for s in t.starts(crf, S)]

    def __repr__(self) -> str:
        return " + ".join(repr(t) for t in self.terms)
