"""subsel: choosing subsets in machine learning.

Parts (see docs/architecture.md): :mod:`subsel.ops` (differentiable subset operators). Data
selection, submodular diversity and data valuation land in later releases.
"""

from .result import Selection

__version__ = "0.1.0"
__all__ = ["Selection", "__version__"]
