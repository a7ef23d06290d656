"""Argument checks shared by the whole library, with one error format.

Every public function validates its user-facing arguments through this package, so that a user
sees the same kind of message everywhere::

    The 'k' parameter of relaxed_topk must be an int in [1, n] (n=10). Got 12 instead.
    Input 'scores' of relaxed_topk contains NaN at 3 positions; remove or impute them.

Values that are wrong raise :class:`ValueError`; values of the wrong type raise :class:`TypeError`.
Nothing here uses ``assert`` (it vanishes under ``python -O``).

- ``_core``: the two message builders (:func:`param_error` for parameters, :func:`input_error` for
  array inputs), declared constraints (:class:`Int`, :class:`Real`, :class:`Bool`,
  :class:`Options`, :class:`NoneOr`, :class:`OneOf`, applied by :func:`check_param` /
  :func:`validate_params`) and their shorthands (``check_int``, ``check_real``, ``check_bool``,
  ``check_choice``, ``check_seed``, ...).
- ``_arrays``: numpy-side inputs (embeddings, vectors, matrices, index sets); complex, object and
  string input is refused everywhere.
- ``_tensors``: torch inputs of the operators (scores, ``k``, masks, ``dim``, generators).

Other modules import from ``subsel._validation`` only, never from the private files.
"""

from ._arrays import (
    as_real_array,
    check_embedding_summary,
    check_embeddings,
    check_index_array,
    check_indices,
    check_matrix,
    check_symmetric,
    check_values,
    check_vector,
    embedding_summary,
)
from ._core import (
    Bool,
    Constraint,
    Int,
    NoneOr,
    OneOf,
    Options,
    Real,
    _is_tensor,  # noqa: F401  (used by modules that avoid importing torch)
    _show,  # noqa: F401
    check_bool,
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_param,
    check_positive_float,
    check_real,
    check_seed,
    check_shape,
    input_error,
    param_error,
    validate_params,
)
from ._tensors import (
    check_dim,
    check_generator,
    check_integers,
    check_k,
    check_mask,
    check_scores,
)

__all__ = [
    "Bool",
    "Constraint",
    "Int",
    "NoneOr",
    "OneOf",
    "Options",
    "Real",
    "as_real_array",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_dim",
    "check_embedding_summary",
    "check_embeddings",
    "check_generator",
    "check_index_array",
    "check_indices",
    "check_instance",
    "check_int",
    "check_k",
    "check_integers",
    "check_mask",
    "check_matrix",
    "check_param",
    "check_positive_float",
    "check_real",
    "check_scores",
    "check_seed",
    "check_shape",
    "check_symmetric",
    "check_values",
    "check_vector",
    "embedding_summary",
    "input_error",
    "param_error",
    "validate_params",
]
