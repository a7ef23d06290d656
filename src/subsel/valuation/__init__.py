"""Which training data are worth the most: the HOST-CP selection layer (more to come).

Imports only torch, :mod:`subsel._validation` (and, for the reference solver, cvxpy and
cvxpylayers inside the one function that needs them).
"""

from .facility_lp import FacilityLocationLP, FacilityLPResult

__all__ = ["FacilityLocationLP", "FacilityLPResult"]
