"""``KnapsackDP``: an adapter to PyEPO's ``optModel`` solved by our exact DP knapsack, built on
first use so that PyEPO stays optional (the ``bench`` extra); reached as
``subsel.apps.KnapsackDP`` or ``subsel.apps.dfl.KnapsackDP``."""

from __future__ import annotations

import numpy as np
import torch

from .. import ops as _ops
from .._validation import as_real_array, check_choice, input_error
from .dfl import BACKENDS, _check_problem

_KNAPSACK_DP = None


def _knapsack_dp_class():
    """Build (once) the PyEPO ``optModel`` subclass; PyEPO is imported here only."""
    global _KNAPSACK_DP
    if _KNAPSACK_DP is not None:
        return _KNAPSACK_DP
    try:
        from pyepo import EPO
        from pyepo.model.opt import optModel
    except ImportError as exc:  # pragma: no cover - exercised only without pyepo
        raise ImportError(
            "KnapsackDP needs PyEPO, which is not installed. Install the benchmark extra: "
            "pip install 'subsel[bench]' (or pip install pyepo)."
        ) from exc

    class KnapsackDP(optModel):
        """PyEPO optimisation model of the 0/1 knapsack, solved by our exact DP.

        ``max_x <c, x>  s.t.  <weights, x> <= capacity, x in {0, 1}^n``, solved by
        :func:`subsel.ops.knapsack` (O(n * capacity) per solve), so that PyEPO's losses
        (``pyepo.func.SPOPlus``, ``perturbedFenchelYoung``, ...) and metrics run without a
        commercial solver.

        Parameters
        ----------
        weights : array, shape (n,) or (1, n)
            Non-negative item weights: whole numbers, or reals with ``resolution`` (rounded up
            to it; PyEPO's ``genData`` weights have two decimals: ``resolution=0.01`` is exact).
        capacity : float, or array of shape (1,)
        resolution : float, optional
        backend : {"auto", "torch", "numba", "triton"}
        """

        modelSense = EPO.MAXIMIZE

        def __init__(self, weights, capacity, resolution=None, backend="auto"):
            func = "KnapsackDP"
            w = as_real_array(weights, "weights", func)
            if w.ndim == 2 and w.shape[0] == 1:
                w = w[0]
            if w.ndim != 1:
                raise input_error(
                    func,
                    "weights",
                    f"must have shape (n,) (one knapsack constraint); got shape {w.shape}",
                    "collapse several constraints into one before solving",
                )
            cap = as_real_array(capacity, "capacity", func).reshape(-1)
            if cap.shape != (1,):
                raise input_error(func, "capacity", f"must be one number; got shape {cap.shape}")
            self.weights = w.astype(np.float64)
            self.capacity = float(cap[0])
            self.resolution = resolution
            self.backend = check_choice(backend, BACKENDS, "backend", func)
            self._w, self._cap = _check_problem(
                self.weights, self.capacity, 1, w.shape[0], func, resolution
            )
            self._c = None
            super().__init__()

        def _getModel(self):
            return None, list(range(self.weights.shape[0]))

        def setObj(self, c):
            c = torch.as_tensor(np.asarray(c, dtype=np.float64)).reshape(-1)
            if c.shape[0] != self.weights.shape[0]:
                raise input_error(
                    "KnapsackDP.setObj",
                    "c",
                    f"must have {self.weights.shape[0]} values; got shape {tuple(c.shape)}",
                )
            self._c = c

        def solve(self):
            if self._c is None:
                raise RuntimeError("KnapsackDP.solve: call setObj(c) first.")
            x = _ops.knapsack(self._c[None], self._w, self._cap, backend=self.backend)[0]
            return x.numpy().astype(np.float64), float((self._c * x).sum())

        def solve_batch(self, C):
            """Exact solutions (m, n) and optima (m,) of a batch of values (m, n), one call."""
            C = torch.as_tensor(np.asarray(C, dtype=np.float64))
            cap = self._cap.expand(C.shape[0])
            X = _ops.knapsack(C, self._w, cap, backend=self.backend)
            return X.numpy(), (C * X).sum(-1).numpy()

    KnapsackDP.__module__ = "subsel.apps.dfl"
    KnapsackDP.__qualname__ = "KnapsackDP"
    _KNAPSACK_DP = KnapsackDP
    return KnapsackDP
