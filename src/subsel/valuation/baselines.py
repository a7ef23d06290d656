"""Data-valuation baselines: random, KNN-Shapley, TMC Data Shapley, TracIn-CP, influence functions.

One interface for all of them: an object configured with keyword-only settings (stored as given,
validated in :meth:`fit`), and ``fit(X, y, X_val, y_val) -> self``, which sets

- ``values_``: float array (n,), one value per training point, **higher = more valuable** (the
  direction :mod:`subsel.valuation.metrics` expects);
- ``seconds_``: wall time of the fit;
- ``classes_``: the sorted training labels (labels are encoded as their index in it);
- for the iterative methods ``n_fits_`` (models trained) and ``history_`` (what the loop saw).

That ``fit`` is written once (``_valuation_base._Valuation.fit``): a method supplies ``_settings``
(its checked settings, by name) and ``_fit`` (the valuation on the checked data).

Every random choice is drawn from ``seed`` (``None``, an int >= 0 or a ``numpy.random.Generator``);
the same seed gives the same values. Long loops take ``progress=True``.

Methods (the records' peer names in brackets):

- :class:`RandomValuation` [random]: uniform random values, the floor every method must beat.
- :class:`KNNShapley` [knn_shapley]: the exact Shapley values of the K-nearest-neighbour utility
  (Jia et al. 2019), closed form, O(n_val n log n).
- :class:`TMCShapley` [tmc_shapley]: truncated Monte Carlo Data Shapley (Ghorbani & Zou 2019) of the
  validation accuracy of a scikit-learn classifier.
- :class:`TracInCP` [tracin]: TracIn with checkpoints (Pruthi et al. 2020) of a small torch model
  (multinomial logistic regression or a one-hidden-layer MLP) trained by SGD.
- :class:`InfluenceFunction` [influence]: the influence of up-weighting each training point on the
  validation loss (Koh & Liang 2017) of an L2-regularised multinomial logistic regression, inverse
  Hessian-vector product by conjugate gradient, LiSSA or a direct solve.
- :class:`DVRL` [dvrl]: the REINFORCE data value estimator of Yoon et al. 2020, in PyTorch (the
  inner predictor, a logistic regression, in numpy).

Imports numpy and :mod:`subsel._validation`; scikit-learn inside :class:`TMCShapley`; torch inside
the torch-based methods (:class:`TracInCP`, :class:`InfluenceFunction`, :class:`DVRL`). No optional
dependency: captum's and pyDVL's implementations were not needed (the last-layer gradients and the
logistic-regression Hessian are cheap in closed form / by autograd).
``tests/valuation/test_peer_agreement.py`` checks KNN-Shapley against pyDVL's
``KNNShapleyValuation`` (to 1e-12), TracIn-CP against captum's ``TracInCP`` on the same
checkpoints (1e-10 relative) and the influence values against pyDVL's ``DirectInfluence``
(1e-9; LiSSA 1e-7), all in float64. With fewer training points than k, pyDVL's KNN-Shapley
(the printed recursion, which assumes n >= k) is off by a constant from the exact values, which
ours gives (checked against subset enumeration).
"""

from __future__ import annotations

from .._validation import (
    check_seed,
)
from ._dvrl import DVRL
from ._gradient_values import TracInCP
from ._influence import InfluenceFunction
from ._shapley import KNNShapley, TMCShapley
from ._valuation_base import (
    _Valuation,
)

__all__ = [
    "DVRL",
    "InfluenceFunction",
    "KNNShapley",
    "RandomValuation",
    "TMCShapley",
    "TracInCP",
]


# ---------------------------------------------------------------------------------------------
# random
# ---------------------------------------------------------------------------------------------
class RandomValuation(_Valuation):
    """Uniform random values in [0, 1): the baseline every valuation must beat.

    Parameters
    ----------
    seed : None, int >= 0 or numpy.random.Generator
        The source of the values.

    Attributes
    ----------
    values_ : ndarray of shape (n,)
        Independent uniform draws.
    seconds_ : float
        Wall time of :meth:`fit`.

    Notes
    -----
    O(n) time; the data only fix ``n`` (they are still checked, like every method's).
    """

    def __init__(self, *, seed=None):
        self.seed = seed

    def _settings(self, func: str) -> dict:
        rng = check_seed(self.seed, func)
        return {"rng": rng}

    def _fit(self, func, Xtr, ytr, Xv, yv, classes, *, rng) -> None:
        self.values_ = rng.random(Xtr.shape[0])


# ---------------------------------------------------------------------------------------------
# KNN-Shapley
# ---------------------------------------------------------------------------------------------
