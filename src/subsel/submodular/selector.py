"""A scikit-learn style selector for the common case: pick ``budget`` representative rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._selector import ParamsMixin, resolve_alias
from .._validation import (
    check_bool,
    check_choice,
    check_embeddings,
    check_int,
    check_real,
    check_seed,
    param_error,
)
from ..result import Selection
from ._concave import concave_function
from ._concave_sum import FeatureBased
from ._facility import FacilityLocation
from ._graph import GraphCut
from ._similarity import BACKENDS, KERNELS, METRICS
from .optimizers import OPTIMIZERS, maximize

__all__ = ["SubmodularSelector"]

FUNCTIONS = ("facility_location", "feature_based", "graph_cut")


class SubmodularSelector(ParamsMixin):
    """Choose ``budget`` rows of ``X`` by greedy submodular maximization.

    Follows the selector protocol of :mod:`subsel.selection` (settings stored as given and
    validated in :meth:`select`, ``get_params`` / ``set_params`` for ``sklearn.base.clone``),
    plus scikit-learn's ``fit`` / ``transform``.

    Parameters
    ----------
    budget : int
        Number of rows to choose, in ``[1, n]``.
    n_select : int, optional
        The earlier name of ``budget`` (kept as an alias; give one of the two).
    function : {"facility_location", "feature_based", "graph_cut"}, default "facility_location"
        ``"facility_location"``: :meth:`FacilityLocation.from_features` on ``X`` (with
        ``metric``, ``kernel``, ``n_neighbors``, ``backend``); ``"feature_based"``:
        :class:`FeatureBased` on ``X`` itself (nonnegative features) with ``concave``;
        ``"graph_cut"``: :class:`GraphCut` with ``lam`` on the same dense similarity that
        facility location uses.
    metric, kernel, n_neighbors, backend
        See :meth:`FacilityLocation.from_features`.
    optimizer : {"naive", "lazy", "stochastic"}, default "lazy"
        See :func:`maximize`.
    seed : None, int or numpy.random.Generator
        For ``optimizer="stochastic"`` (and the faiss IVF training sample).
    concave : {"sqrt", "log1p", "min1"} or callable, default "sqrt"
        For ``function="feature_based"``.
    lam : float, default 0.5
        For ``function="graph_cut"`` (monotone for ``lam <= 1/2``).
    progress : bool, default False
        Show a progress bar.

    Attributes
    ----------
    ranking_ : ndarray of int64, shape (budget,)
        The chosen rows, in the order greedy chose them.
    gains_ : ndarray of float64, shape (budget,)
        The marginal gain of each.
    selection_ : Selection
        The full result of :func:`maximize`.
    n_samples_in_ : int
        Rows of the ``X`` seen in :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from subsel.submodular import SubmodularSelector
    >>> X = np.random.default_rng(0).normal(size=(200, 8))
    >>> sel = SubmodularSelector(20).fit(X)
    >>> sel.transform(X).shape
    (20, 8)
    """

    def __init__(
        self,
        budget=None,
        *,
        n_select=None,
        function="facility_location",
        metric="euclidean",
        kernel="shift",
        n_neighbors=None,
        backend="auto",
        optimizer="lazy",
        seed=None,
        concave="sqrt",
        lam=0.5,
        progress=False,
    ):
        self.budget = budget
        self.n_select = n_select
        self.function = function
        self.metric = metric
        self.kernel = kernel
        self.n_neighbors = n_neighbors
        self.backend = backend
        self.optimizer = optimizer
        self.seed = seed
        self.concave = concave
        self.lam = lam
        self.progress = progress

    # ------------------------------------------------------------------ work
    def _checked_params(self, n: int) -> dict[str, Any]:
        """Every constructor parameter, checked (all of them, whichever function is used)."""
        func = "SubmodularSelector"
        name = "budget" if self.n_select is None else "n_select"
        budget = resolve_alias(func, "budget", self.budget, "n_select", self.n_select)
        p = {
            "budget": check_int(
                budget, name, func, low=1, high=n, high_label="n", extra=f" (n={n})"
            ),
            "function": check_choice(self.function, FUNCTIONS, "function", func),
            "metric": check_choice(self.metric, METRICS, "metric", func),
            "kernel": check_choice(self.kernel, KERNELS, "kernel", func),
            "backend": check_choice(self.backend, BACKENDS, "backend", func),
            "optimizer": check_choice(self.optimizer, OPTIMIZERS, "optimizer", func),
            "lam": check_real(self.lam, "lam", func, low=0.0),
            "progress": check_bool(self.progress, "progress", func),
        }
        concave_function(self.concave, "concave", func)
        check_seed(self.seed, func)  # the Generator itself is passed on as given
        if self.n_neighbors is not None:
            check_int(
                self.n_neighbors,
                "n_neighbors",
                func,
                low=1,
                high=n,
                high_label="n",
                extra=f" (n={n}) or None",
            )
            if p["function"] == "graph_cut":
                raise param_error(
                    func, "n_neighbors", "None for function='graph_cut'", self.n_neighbors
                )
        return p

    def _set_function(self, X: np.ndarray, p: dict[str, Any]):
        if p["function"] == "feature_based":
            return FeatureBased(X, concave=self.concave)
        if p["function"] == "graph_cut":
            fl = FacilityLocation.from_features(X, metric=self.metric, kernel=self.kernel)
            return GraphCut(fl.similarity, lam=p["lam"])
        return FacilityLocation.from_features(
            X,
            metric=self.metric,
            kernel=self.kernel,
            n_neighbors=self.n_neighbors,
            backend=self.backend,
            seed=self.seed,
        )

    def select(self, X) -> Selection:
        """Choose rows of ``X`` (n, d); returns the :class:`~subsel.result.Selection`.

        Every constructor parameter is validated here (errors name the parameter), then the set
        function is built and maximized: the cost is that of :meth:`FacilityLocation.from_features`
        (or the function chosen) plus :func:`maximize`.
        """
        X = check_embeddings(X, "SubmodularSelector", dtype=None)
        p = self._checked_params(X.shape[0])
        f = self._set_function(X, p)
        return maximize(
            f, p["budget"], optimizer=p["optimizer"], seed=self.seed, progress=p["progress"]
        )

    def fit(self, X, y=None) -> SubmodularSelector:
        """Choose rows of ``X`` (n, d); sets ``ranking_``, ``gains_`` and ``selection_``."""
        sel = self.select(X)
        self.selection_ = sel
        self.ranking_ = sel.indices
        self.gains_ = sel.gains
        self.n_samples_in_ = int(np.shape(X)[0])
        return self

    def transform(self, X) -> np.ndarray:
        """The chosen rows ``X[ranking_]``, in the order chosen (``X`` as in :meth:`fit`)."""
        if not hasattr(self, "ranking_"):
            raise ValueError(
                "This SubmodularSelector is not fitted yet; call fit(X) before transform(X)."
            )
        arr = X if hasattr(X, "shape") and hasattr(X, "__getitem__") else np.asarray(X)
        if arr.shape[0] != self.n_samples_in_:
            raise ValueError(
                f"Input 'X' of SubmodularSelector.transform must be the data given to fit "
                f"({self.n_samples_in_} rows); got {arr.shape[0]} rows."
            )
        return arr[self.ranking_]

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)
