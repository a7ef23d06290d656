"""Instance-wise feature selection: an L2X-style explainer (Chen et al., 2018), trained through
the relaxed subset sampler of Xie & Ermon (2019, section 4.2).

Given a black-box classifier ``f`` (a torch module returning class probabilities or logits), an
explainer ``E(x)`` gives one logit per feature group (a pixel, a 4x4 patch, a word position) and
a variational approximator ``q`` predicts ``f``'s output from the masked input ``x_S = S * x``.
Both are trained to maximise L2X's lower bound on the mutual information between ``x_S`` and
``f(x)``::

    max_{E, q}  E_x E_{S ~ E(x)} [ sum_c f(x)_c log q(x_S)_c ]

(cross entropy of ``q`` against ``f``'s probabilities, as L2X). The subset ``S`` of ``k`` groups
is relaxed so that gradients reach ``E``:

- ``sampler="subset"`` (ours): ``S = relaxed_subset_sample(E(x), k, tau)`` -- Gumbel keys and
  the relaxed top-k (Algorithm 2); a relaxed k-hot vector summing to exactly k.
- ``sampler="l2x"`` (L2X): k independent Concrete (Gumbel-softmax) samples at temperature tau
  and their element-wise maximum (:func:`concrete_max_sample`); two draws can hit the same
  group, so the mask can hold fewer than k groups (:func:`distinct_features` counts them).

At test time the explainer takes the deterministic top-k of its logits (:meth:`Explainer.select`)
and the metric is the post-hoc accuracy (:func:`posthoc_accuracy`): the share of inputs where
``argmax f(x_S) == argmax f(x)``. Masking sets the unselected features to 0 (dense input) or the
unselected token ids to the pad id 0 (text: the black box should embed id 0 as zeros).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._progress import progress_range
from .._validation import (
    as_real_array,
    check_bool,
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_positive_float,
    check_scores,
    check_seed,
    input_error,
    param_error,
)
from ._explain_model import Explainer, _check_X
from ._explain_nets import (
    SAMPLERS,
    concrete_max_sample,
    distinct_features,
    expand_group_mask,
    group_index,
    mask_input,
    sample_mask,
)

__all__ = [
    "Explainer",
    "concrete_max_sample",
    "distinct_features",
    "expand_group_mask",
    "explanation_loss",
    "group_index",
    "mask_input",
    "posthoc_accuracy",
    "sample_mask",
    "train_explainer",
]


# ----------------------------------------------------------------------------- objective
def explanation_loss(
    explainer: Explainer,
    X: torch.Tensor,
    target: torch.Tensor,
    *,
    sampler: str = "subset",
    tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L2X's objective for one batch (minimised): ``-mean_i sum_c target_ic log q(x_S)_ic``.

    ``S`` is a relaxed draw of ``sample_mask(E(x), k, sampler, tau)``; ``target`` ``(n, C)``
    holds the black box's class probabilities (or one-hot classes). Differentiable in both
    networks. O(cost of E + q + k n G).
    """
    func = "explanation_loss"
    check_instance(explainer, Explainer, "explainer", func)
    sampler = check_choice(sampler, SAMPLERS, "sampler", func)
    X = _check_X(X, func, text=explainer.is_text, d=explainer.d).to(explainer.group_index.device)
    target = check_scores(target, "target", func)
    if target.shape != (X.shape[0], explainer.n_classes) or bool((target < 0).any()):
        raise input_error(
            func,
            "target",
            f"must hold non-negative class probabilities of shape "
            f"({X.shape[0]}, {explainer.n_classes}); got shape "
            f"{tuple(target.shape)}",
        )
    tau = check_positive_float(tau, "tau", func)
    return _loss(explainer, X, target.to(X.device), sampler, tau, generator)


def _loss(explainer, X, target, sampler, tau, generator):
    group_mask = sample_mask(
        explainer(X), explainer.k, sampler=sampler, tau=tau, generator=generator
    )
    logq = torch.log_softmax(explainer.approximate(X, explainer.expand(group_mask)), dim=-1)
    return -(target * logq).sum(-1).mean()


def _probs(out: torch.Tensor) -> torch.Tensor:
    """Class probabilities of a black-box output (probabilities kept, logits softmaxed)."""
    out = out.float()
    if bool((out >= 0).all()) and bool(((out.sum(-1) - 1).abs() < 1e-3).all()):
        return out
    return torch.softmax(out, dim=-1)


@torch.no_grad()
def _predict(model, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    was = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    out = torch.cat([_probs(model(X[s : s + batch_size])) for s in range(0, len(X), batch_size)])
    if isinstance(model, nn.Module):
        model.train(was)
    return out


def posthoc_accuracy(
    model, X: Any, explanation: Any, *, groups: Any = None, batch_size: int = 1024
) -> float:
    """Share of inputs where ``argmax f(x_S) == argmax f(x)``.

    ``explanation``: an :class:`Explainer` (its deterministic top-k), or a 0/1 mask ``(n, d)``
    (features), or ``(n, G)`` with ``groups`` (:func:`group_index`). O(2 n cost(f)).
    """
    func = "posthoc_accuracy"
    check_callable(model, "model", func)
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    if isinstance(explanation, Explainer):
        X = _check_X(X, func, text=explanation.is_text, d=explanation.d)
        dev = explanation.group_index.device
        X = X.to(dev)
        mask = explanation.feature_mask(X, batch_size=batch_size)
    else:
        X = _check_X(X, func)
        m = torch.as_tensor(as_real_array(explanation, "explanation", func).astype(np.float32))
        idx = group_index(groups, X.shape[1])
        G = int(idx.max()) + 1
        if m.ndim != 2 or m.shape != (X.shape[0], G) or bool(((m != 0) & (m != 1)).any()):
            raise input_error(
                func,
                "explanation",
                f"must be a 0/1 mask of shape "
                f"({X.shape[0]}, {G}) or an Explainer; got shape {tuple(m.shape)}",
            )
        mask = expand_group_mask(m.to(X.device), torch.as_tensor(idx))
    full = _predict(model, X, batch_size).argmax(-1)
    masked = _predict(model, mask_input(X, mask), batch_size).argmax(-1)
    return float((full == masked).float().mean())


# ----------------------------------------------------------------------------- training
def train_explainer(
    model,
    X: Any,
    *,
    k: int,
    groups: Any = None,
    sampler: str = "subset",
    tau: float = 1.0,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: Any = None,
    progress: bool = False,
    device: str = "cpu",
    X_val: Any = None,
    vocab_size: int | None = None,
    hidden: int = 200,
) -> Explainer:
    """Train an :class:`Explainer` of the black box ``model`` on inputs ``X`` (L2X's objective,
    :func:`explanation_loss`, Adam on shuffled mini-batches).

    Parameters
    ----------
    model : callable / torch module
        ``model(X_batch) -> (b, C)`` class probabilities (or logits: softmaxed); frozen.
    X : array or tensor, shape (n, d)
        Float features (images flattened), or integer token ids (text; 0 = pad).
    k : int
        Groups selected per input.
    groups : None, "patches4x4" or int array (d,)
    sampler : {"subset", "l2x"}
        Relaxed subset sampling (ours) or L2X's Concrete max.
    tau : float > 0
        Temperature of the sampler.
    epochs, batch_size : int >= 1
    lr : float > 0
    seed : None, int or numpy Generator
        Seeds initialisation, shuffling, noise and dropout (global RNG state is restored after).
    progress : bool
    device : str
        Where the explainer trains ("cpu", "cuda"); ``model`` must already live there.
    X_val : array or tensor, optional
        Validation inputs: after every epoch the post-hoc accuracy on them is measured and the
        weights of the best epoch are kept (L2X keeps its best validation checkpoint).
    vocab_size : int, optional
        Text: ids lie in [0, vocab_size) (default: max id + 1 over X and X_val).
    hidden : int

    Returns
    -------
    Explainer, in eval mode, with ``history`` (mean training loss per epoch), ``val_history``
    (validation post-hoc accuracy per epoch, empty without X_val), ``best_epoch``, ``sampler``
    and ``tau``.

    Complexity: per epoch O(n (cost of E + q + k G)); one black-box pass over X (and X_val per
    epoch).
    """
    func = "train_explainer"
    check_callable(model, "model", func)
    Xt = _check_X(X, func)
    text = not Xt.is_floating_point()
    Xv = None if X_val is None else _check_X(X_val, func, text=text, d=Xt.shape[1], name="X_val")
    sampler = check_choice(sampler, SAMPLERS, "sampler", func)
    tau = check_positive_float(tau, "tau", func)
    epochs = check_int(epochs, "epochs", func, low=1)
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    lr = check_positive_float(lr, "lr", func)
    progress = check_bool(progress, "progress", func)
    rng = check_seed(seed, func)
    if not isinstance(device, (str, torch.device)):
        raise param_error(
            func, "device", "a device name such as 'cpu' or 'cuda'", device, kind=TypeError
        )
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise param_error(func, "device", "a device name such as 'cpu' or 'cuda'", device) from None
    if vocab_size is not None:
        vocab_size = check_int(vocab_size, "vocab_size", func, low=2)
    if text and vocab_size is None:
        vocab_size = int(max(Xt.max(), -1 if Xv is None else Xv.max())) + 1
    n, d = Xt.shape
    Xt = Xt.to(dev)
    Xv = None if Xv is None else Xv.to(dev)
    target = _predict(model, Xt)
    s = int(rng.integers(2**62))
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(s)
        ex = Explainer(
            d,
            k,
            target.shape[1],
            groups=groups,
            vocab_size=vocab_size if text else None,
            hidden=hidden,
        ).to(dev)
        gen = torch.Generator(device=dev).manual_seed(s + 1)
        perm_gen = torch.Generator().manual_seed(s + 2)
        opt = torch.optim.Adam(ex.parameters(), lr=lr)
        history, val_history, best, best_state = [], [], -1.0, None
        best_epoch = epochs - 1
        for epoch in progress_range(epochs, progress, f"explainer ({sampler})"):
            ex.train()
            perm = torch.randperm(n, generator=perm_gen).to(dev)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                loss = _loss(ex, Xt[idx], target[idx], sampler, tau, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / n)
            if Xv is not None:
                val_history.append(posthoc_accuracy(model, Xv, ex))
                if val_history[-1] > best:
                    best, best_epoch = val_history[-1], epoch
                    best_state = {k_: v.detach().clone() for k_, v in ex.state_dict().items()}
        if best_state is not None:
            ex.load_state_dict(best_state)
    ex.eval()
    ex.history, ex.val_history, ex.best_epoch = history, val_history, best_epoch
    ex.sampler, ex.tau = sampler, tau
    return ex
