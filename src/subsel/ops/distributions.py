"""SubsetDistribution: p(S | w) over k-subsets, in the style of ``torch.distributions``."""

from __future__ import annotations

import itertools
import math

import torch
from torch.distributions import Distribution, constraints

from .._validation import check_generator, check_positive_float
from ._common import prepare
from .sampling import relaxed_subset_sample, sample_subset, subset_log_prob

__all__ = ["SubsetDistribution", "KHot"]

_MAX_ENUMERATE = 200_000


class KHot(constraints.Constraint):
    """Vectors of 0s and 1s with exactly ``k`` ones along the last axis."""

    is_discrete = True
    event_dim = 1

    def __init__(self, k: int):
        self.k = k
        super().__init__()

    def check(self, value):
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == self.k)

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k})"


class SubsetDistribution(Distribution):
    """Distribution ``p(S | w)`` over unordered k-subsets of n items (Xie & Ermon, eq. 2).

    Sampling without replacement proportionally to ``w = exp(logits)``, order forgotten.

    Parameters
    ----------
    logits : Tensor, shape batch_shape + (n,)
        Log-weights; ``-inf`` means weight zero.
    k : int in [1, n]
    tau : float > 0
        Temperature of :meth:`rsample` (Algorithm 2).
    generator : torch.Generator, optional
        Default source of randomness for :meth:`sample` and :meth:`rsample` (each also accepts
        ``generator=``).

    Shapes follow ``torch.distributions``: ``sample(sample_shape)`` returns
    ``sample_shape + batch_shape + (n,)`` k-hot vectors; ``log_prob`` returns
    ``sample_shape + batch_shape``.

    - ``sample``: exact k-hot draws (Gumbel-top-k), O(n log k) per draw.
    - ``rsample``: relaxed k-hot draws (Algorithm 2), differentiable in ``logits``, O(k n).
    - ``log_prob``: exact log-probability (:func:`subset_log_prob`).
    - ``enumerate_support``: all C(n, k) subsets (small n only).
    """

    arg_constraints = {"logits": constraints.real_vector}
    has_rsample = True
    has_enumerate_support = True

    def __init__(
        self, logits: torch.Tensor, k: int, *, tau: float = 1.0, generator=None, validate_args=None
    ):
        func = "SubsetDistribution"
        x, _, k_max, _ = prepare(logits, k, -1, func, name="logits", allow_tensor_k=False)
        self.logits = logits
        self.k = k_max
        self.tau = check_positive_float(tau, "tau", func)
        self.generator = check_generator(generator, func, device=logits.device)
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return KHot(self.k)

    @property
    def n(self) -> int:
        return self.logits.shape[-1]

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SubsetDistribution, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logits = self.logits.expand(batch_shape + self.event_shape)
        new.k, new.tau, new.generator = self.k, self.tau, self.generator
        super(SubsetDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(torch.Size(sample_shape))
        with torch.no_grad():
            return sample_subset(
                self.logits.expand(shape), self.k, generator=generator or self.generator
            )

    def rsample(self, sample_shape=(), generator=None):
        shape = self._extended_shape(torch.Size(sample_shape))
        return relaxed_subset_sample(
            self.logits.expand(shape), self.k, tau=self.tau, generator=generator or self.generator
        )

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = torch.broadcast_tensors(self.logits, value)
        return subset_log_prob(logits, value)

    def enumerate_support(self, expand=True):
        count = math.comb(self.n, self.k)
        if count > _MAX_ENUMERATE:
            raise ValueError(
                f"SubsetDistribution.enumerate_support would list C({self.n}, {self.k}) = {count} "
                f"subsets (more than {_MAX_ENUMERATE}); use sample() instead."
            )
        rows = torch.tensor(
            list(itertools.combinations(range(self.n), self.k)), device=self.logits.device
        )
        values = torch.zeros(count, self.n, dtype=self.logits.dtype, device=self.logits.device)
        values.scatter_(1, rows, 1.0)
        values = values.reshape((count,) + (1,) * len(self.batch_shape) + (self.n,))
        if expand:
            values = values.expand((count,) + self.batch_shape + (self.n,))
        return values

    def entropy(self):
        """Exact entropy by enumeration (C(n, k) <= 200,000 subsets)."""
        support = self.enumerate_support(expand=True)
        lp = self.log_prob(support)
        return -(lp.exp() * lp).nan_to_num(0.0).sum(0)

    def __repr__(self):
        return (
            f"SubsetDistribution(n={self.n}, k={self.k}, tau={self.tau}, "
            f"batch_shape={tuple(self.batch_shape)})"
        )
