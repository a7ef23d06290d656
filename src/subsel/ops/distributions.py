"""SubsetDistribution: p(S | w) over k-subsets, in the style of ``torch.distributions``."""

from __future__ import annotations

import itertools
import math

import torch
from torch.distributions import Distribution, constraints

from .._validation import check_generator, check_positive_float, check_shape, input_error
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

    def _shape(self, sample_shape, method: str) -> torch.Size:
        size = check_shape(sample_shape, "sample_shape", f"SubsetDistribution.{method}")
        return self._extended_shape(torch.Size(size))

    def _generator(self, generator, method: str):
        func = f"SubsetDistribution.{method}"
        return check_generator(generator, func, device=self.logits.device) or self.generator

    def sample(self, sample_shape=(), generator=None):
        shape = self._shape(sample_shape, "sample")
        generator = self._generator(generator, "sample")
        with torch.no_grad():
            return sample_subset(self.logits.expand(shape), self.k, generator=generator)

    def rsample(self, sample_shape=(), generator=None):
        shape = self._shape(sample_shape, "rsample")
        generator = self._generator(generator, "rsample")
        return relaxed_subset_sample(
            self.logits.expand(shape), self.k, tau=self.tau, generator=generator
        )

    def log_prob(self, value):
        """Exact ``log p(S)`` of k-hot ``value`` of shape ``sample_shape + batch_shape + (n,)``.

        ``value`` is always checked (also under ``python -O`` and with ``validate_args=False``):
        a 0/1 tensor whose rows hold exactly k ones; anything else raises ``ValueError``.
        """
        self._check_k_hot(value)
        logits, value = torch.broadcast_tensors(self.logits, value)
        return subset_log_prob(logits, value)

    def _check_k_hot(self, value) -> None:
        func = "SubsetDistribution.log_prob"
        if not isinstance(value, torch.Tensor):
            raise input_error(
                func,
                "value",
                f"must be a torch.Tensor of k-hot rows; got {type(value).__name__}",
                kind=TypeError,
            )
        if value.ndim == 0 or value.shape[-1] != self.n:
            raise input_error(
                func,
                "value",
                f"must have n={self.n} entries on its last axis; got shape {tuple(value.shape)}",
            )
        try:
            torch.broadcast_shapes(value.shape, self.logits.shape)
        except RuntimeError as exc:
            raise input_error(
                func,
                "value",
                f"of shape {tuple(value.shape)} does not broadcast with the batch "
                f"shape {tuple(self.batch_shape)}",
            ) from exc
        binary = (value == 0) | (value == 1)
        if not bool(binary.all()):
            raise input_error(
                func,
                "value",
                f"must hold only 0 and 1; found {int((~binary).sum())} other values",
                "threshold a relaxed sample (e.g. value > 0.5) first",
            )
        sizes = value.sum(-1)
        wrong = sizes != self.k
        if bool(wrong.any()):
            raise input_error(
                func,
                "value",
                f"must hold exactly k={self.k} ones per row; {int(wrong.sum())} rows "
                f"have another count (e.g. {int(sizes[wrong].flatten()[0])})",
            )

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
