"""Submodular set functions with an incremental state: the public API every optimizer uses.

All functions here are normalized (``f(empty set) = 0``) and submodular; all but
:class:`GraphCut` (for ``lam > 1/2``) and :class:`Modular` (with negative weights) are monotone.
Each one documents the cost of ``gains`` (per candidate) and ``update`` (per added item); ``n``
is the ground-set size. See :mod:`subsel.submodular._base` for the protocol.

This module re-exports them from where they live:

- :mod:`._facility`: :class:`FacilityLocation` (similarities from :mod:`._similarity`);
- :mod:`._concave_sum`: the concave-over-modular family, :class:`FeatureBased`,
  :class:`Coverage`, :class:`GroupCoverage` (concave functions in :mod:`._concave`);
- :mod:`._graph`: :class:`GraphCut` and :class:`Modular`;
- :mod:`._base`: the protocol (:class:`SetFunction`, :class:`SetState`) and :class:`Mixture`.
"""

from __future__ import annotations

from ._base import Mixture, SetFunction, SetState
from ._concave_sum import Coverage, FeatureBased, GroupCoverage
from ._facility import FacilityLocation
from ._graph import GraphCut, Modular

__all__ = [
    "SetFunction",
    "SetState",
    "FacilityLocation",
    "FeatureBased",
    "Coverage",
    "GroupCoverage",
    "GraphCut",
    "Modular",
    "Mixture",
]
