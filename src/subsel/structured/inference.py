"""MAP solvers for :class:`~subsel.structured.crf.PairwiseCRF` (scores maximized).

Each greedy step of structured diversity (eq. 2 of Prasad, Jegelka & Batra) is a MAP query
``argmax_y r(y) + lam d(y | S)``; the solvers here answer it for the high-order potentials that
the diversity terms produce:

* :func:`graph_cut` -- exact binary MAP for submodular energies (one s-t minimum cut).
* :func:`alpha_expansion` -- multi-label graph cuts (Boykov, Veksler & Zabih 2001), with the
  *label costs* of label diversity (Sec. 3.1; Delong, Osokin, Isack & Boykov 2010/2012).
* :func:`tree_map` -- exact max-product (Viterbi) on chains, trees and forests.
* :func:`max_product` -- loopy max-product belief propagation with *cardinality factors* of the
  Hamming distance to earlier solutions (Sec. 3.2), whose messages cost ``O(n log n)``
  (:func:`cardinality_messages`; Tarlow, Givoni & Zemel 2010).
* :func:`objective` -- the exact objective that all of the above maximize.

This module re-exports them from their private homes: ``_objective`` (the objective and the
shared checks), ``_cuts`` (the PyMaxflow users), ``_tree`` and ``_max_product`` (max-product on
forests and loopy graphs) and ``_cardinality`` (cardinality messages).

Conventions: a *score* is maximized, an *energy* is ``-score`` and minimized. Label costs are
energies (``>= 0``) paid once for every label that a labelling uses; a cardinality factor
``(reference, phi)`` adds the score ``phi[H(y, reference)]`` where ``H`` is the Hamming distance.
"""

from __future__ import annotations

from ._cardinality import _card_messages, cardinality_map, cardinality_messages  # noqa: F401
from ._cuts import _Expansion, alpha_expansion, graph_cut  # noqa: F401
from ._max_product import max_product
from ._objective import objective
from ._tree import _tree_max_marginals, tree_map  # noqa: F401

__all__ = [
    "graph_cut",
    "alpha_expansion",
    "tree_map",
    "max_product",
    "cardinality_messages",
    "cardinality_map",
    "objective",
]
