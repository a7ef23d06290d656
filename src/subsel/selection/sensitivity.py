"""Data selection by sensitivity sampling (Axiotis et al., "Data-efficient learning via clustering-
based sensitivity sampling", ICML 2024).

Algorithm 1 (one round): cluster the embeddings with an O(1)-approximate (k, z)-clustering, query
the loss oracle at the k centres only, estimate every point's loss by its centre's,
``l_hat(e) = l(A(e))``, and sample ``s`` points independently with probability

    p_e = (l_hat(e) + lam * v(e)) / (lam * Phi + sum_x l_hat(x)),   v(e) = dist(e, A(e))^z,

weighting each draw by ``1 / (s p_e)``, so that ``sum_{e in S} w(e) l(e)`` is an unbiased
estimate of the total loss (Theorem 5 bounds its error by ``eps (sum l + 2 lam Phi)`` with constant
probability for a (z, lam)-Hoelder loss).

Algorithm 3 (``rounds = r``): an ordering whose every prefix is a good clustering (D^z sampling),
k new centres queried each round, a fresh sample each round from the clustering so far.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from .._progress import progress_range
from .._selector import ParamsMixin
from .._validation import (
    Bool,
    Int,
    NoneOr,
    Options,
    Real,
    _is_tensor,
    check_callable,
    check_embeddings,
    check_instance,
    check_int,
    check_param,
    check_real,
    check_seed,
    check_values,
    check_vector,
    param_error,
)
from ..result import Selection
from .clustering import assign, dz_order, kz_clustering

__all__ = [
    "SensitivitySampling",
    "sample_size_for_epsilon",
    "total_loss_estimate",
    "sensitivity_probabilities",
]

Oracle = Callable[[np.ndarray], np.ndarray]

_BYTES_PER_DRAW = 48  # index, uniform, probability, weight and the Selection's copies


def _memory_bytes() -> float:
    """Physical memory of this machine in bytes (inf where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return math.inf


def _check_sample_size(s: int, name: str, value, func: str, *, copies: int = 1) -> int:
    """Refuse a sample of ``s`` draws (``copies`` times over) whose arrays cannot fit in this
    machine's memory, naming the argument ``name`` that set it (``budget`` or ``epsilon``)."""
    need = s * _BYTES_PER_DRAW * copies  # an int: exact however large
    have = _memory_bytes()
    if need > have:
        raise param_error(
            func,
            name,
            f"a value whose sample size fits in memory (s = {_big(s)} draws need about "
            f"{_big(need // 2**30)} GiB; this machine has {have / 2**30:.3g} GiB)",
            value,
        )
    return s


def _big(x: int) -> str:
    """``x`` in 4 significant digits, also beyond the float range."""
    digits = str(x)
    return f"{x:.4g}" if len(digits) < 300 else f"{digits[0]}.{digits[1:4]}e+{len(digits) - 1}"


def _sample_size(epsilon: float) -> int:
    try:
        return math.ceil(epsilon**-2 * (2 + 2 * epsilon / 3))
    except OverflowError:  # epsilon below 1e-154: exact rational arithmetic
        e = Fraction(epsilon)
        return math.ceil(2 / e**2 + Fraction(2, 3) / e)


def sample_size_for_epsilon(epsilon: float) -> int:
    """Theorem 5's sample size ``s = ceil(eps^-2 (2 + 2 eps / 3))`` for a finite ``epsilon > 0``."""
    return _sample_size(
        check_real(epsilon, "epsilon", "sample_size_for_epsilon", low=0, low_open=True)
    )


def _probabilities(loss_hat: np.ndarray, v: np.ndarray, lam: float) -> np.ndarray:
    """:func:`sensitivity_probabilities` on checked input. When the float64 sum overflows (losses
    or costs near 1e308) both terms are first divided by the largest of them, which leaves ``p``
    unchanged and finite."""
    with np.errstate(over="ignore"):
        num = loss_hat + lam * v
        total = num.sum()
    if not np.isfinite(total):
        scale = max(float(loss_hat.max()), float(v.max()))
        num = loss_hat / scale + lam * (v / scale)
        total = num.sum()
    if total <= 0:
        return np.full(num.shape[0], 1.0 / num.shape[0])
    return num / total


def _total(values: np.ndarray) -> float:
    """``sum(values)`` as a float (inf where the float64 sum overflows, without a warning)."""
    with np.errstate(over="ignore"):
        return float(values.sum())


def sensitivity_probabilities(loss_hat, v, lam: float) -> np.ndarray:
    """``p_e = (l_hat(e) + lam v(e)) / (lam Phi + sum l_hat)`` (step 3 of Algorithm 1).

    Parameters
    ----------
    loss_hat : array-like of shape (n,)
        Estimated losses ``l(A(e))``, finite and >= 0.
    v : array-like of shape (n,)
        Clustering costs ``dist(e, A(e))^z``, finite and >= 0; ``Phi = sum(v)``.
    lam : float >= 0

    Returns
    -------
    ndarray of shape (n,)
        Probabilities summing to 1. When every numerator is 0 (all estimated losses 0 and every
        point a centre) any sample is exact; the uniform distribution is returned. O(n).
    """
    func = "sensitivity_probabilities"
    loss_hat = check_vector(loss_hat, None, "loss_hat", func, nonnegative=True)
    v = check_vector(v, loss_hat.shape[0], "v", func, nonnegative=True)
    lam = check_real(lam, "lam", func, low=0.0)
    return _probabilities(loss_hat, v, lam)


def total_loss_estimate(selection: Selection, losses) -> float:
    """``sum_i w_i l(S_i)``: the importance-weighted estimate of the total loss over the data.

    ``losses`` holds the true losses of ``selection.indices``, in the same order (shape (s,)).
    """
    func = "total_loss_estimate"
    check_instance(selection, Selection, "selection", func)
    losses = check_values(losses, len(selection), func, "losses")
    return float(np.dot(selection.weights, losses))


class _Params(NamedTuple):
    k: int
    s: int
    z: float
    lam: float
    rounds: int
    rng: np.random.Generator
    progress: bool
    backend: str


_CONSTRAINTS = {
    "rounds": Int(1),
    "z": Real(1),
    "lam": Real(0),
    "progress": Bool(),
    "backend": Options("auto", "sklearn", "faiss"),
    "epsilon": NoneOr(Real(0, closed="neither")),
}


class SensitivitySampling(ParamsMixin):
    """Clustering-based sensitivity sampling (Algorithm 1; Algorithm 3 with ``rounds > 1``).

    Parameters
    ----------
    n_clusters : int
        k, the number of centres, i.e. oracle queries per round.
    budget : int, optional
        s, the number of independent draws (with replacement). Give ``budget`` or ``epsilon``.
    epsilon : float, optional
        Target accuracy; sets ``s = ceil(eps^-2 (2 + 2 eps / 3))`` (Theorem 5).
    z : float >= 1
        The clustering exponent: 2 for k-means, 1 for k-median.
    lam : float >= 0
        The Hoelder constant lambda of the loss with respect to the embeddings.
    rounds : int >= 1
        r; with r > 1, Algorithm 3: k new centres queried per round along a D^z-sampling order.
    seed : None, int or numpy.random.Generator
    progress : bool
        Show a progress bar over the rounds.
    backend : {"auto", "sklearn", "faiss"}
        k-means backend for z = 2 (see :func:`~subsel.selection.clustering.kz_clustering`).

    Notes
    -----
    ``select(X, oracle)`` calls ``oracle(indices)`` once per round with the k new centre indices
    and expects their losses (non-negative, shape (k,)). Cost: the clustering (O(n k d) per Lloyd
    iteration for z = 2) plus O(n k d) for the assignment and O(n + s) for the draws; O(n d)
    memory.
    """

    def __init__(
        self,
        *,
        n_clusters,
        budget=None,
        epsilon=None,
        z=2,
        lam=1.0,
        rounds=1,
        seed=None,
        progress=False,
        backend="auto",
    ):
        self.n_clusters = n_clusters
        self.budget = budget
        self.epsilon = epsilon
        self.z = z
        self.lam = lam
        self.rounds = rounds
        self.seed = seed
        self.progress = progress
        self.backend = backend

    # ------------------------------------------------------------------ validation
    def check_params(self, n: int) -> _Params:
        """Validate every parameter for ``n`` rows and return them in normal form.

        The one check of the parameters, shared by every engine (in memory and
        :mod:`subsel.distributed.dask`), so that they refuse the same things.
        """
        name = type(self).__name__
        c = {
            key: check_param(getattr(self, key), con, key, name)
            for key, con in _CONSTRAINTS.items()
        }
        rounds = c["rounds"]
        k = check_int(
            self.n_clusters, "n_clusters", name, low=1, high=n, high_label="n", extra=f" (n={n})"
        )
        if k * rounds > n:
            raise param_error(
                name,
                "n_clusters",
                f"an int with n_clusters * rounds <= n (n={n}, rounds={rounds}: at most "
                f"{n // rounds}), as every round queries n_clusters new points",
                self.n_clusters,
            )
        both = "(give exactly one of 'budget', the sample size, and 'epsilon', the accuracy)"
        if self.epsilon is None:
            if self.budget is None:
                raise param_error(name, "budget", f"an int >= 1 {both}", None)
            s = _check_sample_size(
                check_int(self.budget, "budget", name, low=1),
                "budget",
                self.budget,
                name,
                copies=rounds,
            )
        else:
            if self.budget is not None:
                raise param_error(
                    name, "epsilon", f"None when 'budget' is given {both}", self.epsilon
                )
            s = _check_sample_size(
                _sample_size(c["epsilon"]), "epsilon", self.epsilon, name, copies=rounds
            )
        return _Params(
            k, s, c["z"], c["lam"], rounds, check_seed(self.seed, name), c["progress"], c["backend"]
        )

    @staticmethod
    def _query(oracle: Oracle, indices: np.ndarray, func: str = "SensitivitySampling.select"):
        """``oracle(indices)`` as a float64 vector of len(indices) finite losses >= 0."""
        out = oracle(indices.copy())
        if _is_tensor(out):
            out = out.detach().cpu().numpy()
        return check_values(out, len(indices), func, "oracle's losses", nonnegative=True)

    # ------------------------------------------------------------------ selection
    def _draw(self, rng, loss_hat, v, lam, s):
        p = _probabilities(loss_hat, v, lam)
        idx = rng.choice(p.shape[0], size=s, replace=True, p=p)
        return idx, p[idx], 1.0 / (s * p[idx])

    def select(self, X, oracle: Oracle) -> Selection:
        """Draw the weighted sample.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Embeddings.
        oracle : callable
            ``oracle(indices: int64 array (k,)) -> losses (k,)``, non-negative.

        Returns
        -------
        Selection
            ``indices`` (s,) drawn with replacement, ``weights`` ``1 / (s p)``, ``probabilities``
            ``p``, ``center_indices`` (all queried points), ``n_queries`` (= k * rounds),
            ``seconds``; ``extra`` holds ``phi`` (the clustering cost), ``loss_hat_total``,
            ``center_losses`` and, for r > 1, ``rounds`` (one dict per round).
        """
        start = time.perf_counter()
        func = "SensitivitySampling.select"
        X = check_embeddings(X, func, dtype=None, distances=True)
        k, s, z, lam, rounds, rng, progress, backend = self.check_params(X.shape[0])
        n = X.shape[0]
        check_callable(
            oracle, "oracle", func, "a callable oracle(indices) -> losses of those points"
        )
        if rounds == 1:
            clustering = kz_clustering(X, k, z=z, rng=rng, backend=backend)
            centers = clustering.center_indices
            center_losses = self._query(oracle, centers)
            labels, v = clustering.labels, clustering.cost
            per_round = []
        else:
            centers = dz_order(X, k * rounds, z=z, rng=rng)
            center_losses = np.empty(0)
            best = np.full(n, np.inf)
            labels = np.zeros(n, dtype=np.int64)
            per_round = []
            for i in progress_range(rounds, progress, "sensitivity sampling rounds"):
                new = centers[i * k : (i + 1) * k]
                center_losses = np.concatenate([center_losses, self._query(oracle, new)])
                lab, cost = assign(X, X[new], z)
                closer = cost < best
                labels[closer] = lab[closer] + i * k
                best = np.minimum(best, cost)
                loss_hat = center_losses[labels]
                idx, p, w = self._draw(rng, loss_hat, best, lam, s)
                per_round.append(
                    {
                        "indices": idx,
                        "weights": w,
                        "probabilities": p,
                        "n_queries": (i + 1) * k,
                        "phi": float(best.sum()),
                    }
                )
            v = best
        loss_hat = center_losses[labels]
        if rounds == 1:
            idx, p, w = self._draw(rng, loss_hat, v, lam, s)
        else:
            idx, p, w = (
                per_round[-1]["indices"],
                per_round[-1]["probabilities"],
                per_round[-1]["weights"],
            )
        extra = {
            "phi": float(v.sum()),
            "loss_hat_total": _total(loss_hat),
            "center_losses": center_losses,
            "s": s,
            "z": z,
            "lam": lam,
        }
        if per_round:
            extra["rounds"] = per_round
        return Selection(
            indices=idx,
            weights=w,
            probabilities=p,
            center_indices=centers,
            n_queries=int(centers.shape[0]),
            seconds=time.perf_counter() - start,
            extra=extra,
        )
