"""subsel: choosing subsets in machine learning.

Parts (see docs/architecture.md): :mod:`subsel.ops` (differentiable subset operators),
:mod:`subsel.selection` (data selection with coresets; :mod:`subsel.distributed` on Dask),
:mod:`subsel.submodular` (submodular set functions and greedy maximization) and
:mod:`subsel.structured` (diverse labellings of CRFs). Planned: the differentiable knapsack and
top-k operators by dynamic programming, and data valuation.
"""

from .result import Selection

__version__ = "0.1.0"
__all__ = ["Selection", "__version__"]
