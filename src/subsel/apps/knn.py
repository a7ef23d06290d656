"""Deep stochastic k-nearest neighbours (Xie & Ermon, 2019, sec. 4.3; Grover et al., 2019).

An embedding network ``h`` is trained so that the k nearest training points of an image, in
embedding space, share its label. Each training step takes a batch of b queries and m candidate
neighbours drawn at random from the rest of the training set, scores every pair by the negative
squared distance ``s_ij = -||h(q_i) - h(c_j)||^2`` and picks a *relaxed k-subset* ``a_i`` (m,) of
the candidates per query (rows sum to k). The loss (Grover et al.'s) is minus the relaxed count of
selected candidates with the query's label,

    L = -(1/b) sum_i sum_j a_ij [y_j == y_i],

the expected number of correct neighbours under the relaxation. The relaxed subset is

- ``relaxation="subset"`` (ours, RelaxSubSample, Algorithm 2 of Xie & Ermon):
  :func:`subsel.ops.relaxed_subset_sample` of the scores as log-weights, i.e. Gumbel noise then the
  successive-softmax top-k relaxation (O(k m) per query); with ``stochastic=False`` the
  deterministic :func:`subsel.ops.relaxed_topk` of the scores;
- ``relaxation="neuralsort"`` (the peer, "Stochastic NeuralSort" of Table 2): the sum of the first
  k rows of the relaxed permutation matrix of the Gumbel-perturbed scores, i.e. a relaxed sample of
  the Plackett-Luce distribution (:func:`subsel.ops.neuralsort_topk`, O(m^2) per query); with
  ``stochastic=False`` Grover et al.'s deterministic NeuralSort.

Stochastic is the default for both, as in the authors' code (``SubsetOperator`` adds Gumbel noise;
the NeuralSort kNN draws Plackett-Luce samples). At test time the prediction is the exact kNN
majority vote in embedding space over a reference set (the training set in the paper).

Public: :class:`StochasticKNN` (network + ``predict`` / ``save`` / ``load``), :func:`knn_scores`,
:func:`knn_selection`, :func:`knn_loss` (drop-in for a custom training loop),
:func:`knn_predict` (exact kNN vote on embeddings) and :func:`train_stochastic_knn`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import ops as _ops
from .._progress import progress_range
from .._validation import (
    check_bool,
    check_choice,
    check_generator,
    check_int,
    check_positive_float,
    check_seed,
    input_error,
    param_error,
)
from ._knn_nets import (
    StochasticKNN,
    _pair,
    _scores,
    as_images,
    as_labels,
    check_image_shape,
    knn_predict,
)

__all__ = [
    "StochasticKNN",
    "knn_scores",
    "knn_selection",
    "knn_loss",
    "knn_predict",
    "train_stochastic_knn",
]

RELAXATIONS = ("subset", "neuralsort")


# ----------------------------------------------------------------------------- operators
def knn_scores(query: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Scores ``s_ij = -||query_i - candidates_j||^2``, shape (b, m); O(b m p), differentiable.

    Parameters
    ----------
    query : Tensor, shape (b, p)
    candidates : Tensor, shape (m, p)
    """
    q, c = _pair(query, candidates, "knn_scores")
    return _scores(q, c)


def _gumbel(x: torch.Tensor, generator) -> torch.Tensor:
    e = torch.empty_like(x).exponential_(generator=generator)
    return -torch.log(e.clamp_min(torch.finfo(x.dtype).tiny))


def _select(scores, k, tau, relaxation, stochastic, num_samples, generator):
    if num_samples > 1:
        scores = scores.expand(num_samples, *scores.shape)
    else:
        scores = scores.unsqueeze(0)
    if relaxation == "subset":
        if stochastic:
            return _ops.relaxed_subset_sample(scores, k, tau=tau, generator=generator)
        return _ops.relaxed_topk(scores, k, tau=tau)
    if stochastic:
        scores = scores + _gumbel(scores.detach(), generator)
    return _ops.neuralsort_topk(scores, k, tau=tau)


def _check_relax(func, k, m, tau, relaxation, stochastic, num_samples, generator, device):
    k = check_int(k, "k", func, low=1, high=m, high_label="m", extra=f" (m={m} candidates)")
    tau = check_positive_float(tau, "tau", func)
    relaxation = check_choice(relaxation, RELAXATIONS, "relaxation", func)
    stochastic = check_bool(stochastic, "stochastic", func)
    num_samples = check_int(num_samples, "num_samples", func, low=1)
    check_generator(generator, func, device=device)
    return k, tau, relaxation, stochastic, num_samples


def knn_selection(
    query: torch.Tensor,
    candidates: torch.Tensor,
    k: int = 9,
    *,
    tau: float = 1.0,
    relaxation: str = "subset",
    stochastic: bool = True,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Relaxed k-nearest-neighbour subsets of ``candidates`` for every query.

    Parameters
    ----------
    query : Tensor, shape (b, p)
        Query embeddings.
    candidates : Tensor, shape (m, p)
        Candidate embeddings (same device).
    k : int in [1, m]
    tau : float > 0
        Temperature of the relaxation; ``tau -> 0`` gives the exact (perturbed) top-k.
    relaxation : {"subset", "neuralsort"}
        Successive-softmax relaxed top-k (O(k m) per query) or NeuralSort (O(m^2) per query).
    stochastic : bool
        Perturb the scores with Gumbel noise first (a relaxed sample of the subset distribution
        ``p(S) ~ prod exp(s_j)``, resp. of Plackett-Luce), as in the paper; else deterministic.
    num_samples : int >= 1
        Independent relaxed samples per query (only differ when ``stochastic``).
    generator : torch.Generator, optional
        Source of the Gumbel noise, on the embeddings' device.

    Returns
    -------
    Tensor, shape (num_samples, b, m)
        Relaxed k-hot rows (each sums to k), differentiable in both embeddings.
    """
    func = "knn_selection"
    q, c = _pair(query, candidates, func)
    k, tau, relaxation, stochastic, num_samples = _check_relax(
        func, k, c.shape[0], tau, relaxation, stochastic, num_samples, generator, q.device
    )
    return _select(_scores(q, c), k, tau, relaxation, stochastic, num_samples, generator)


def _label_tensor(y: Any, n: int, name: str, func: str, device) -> torch.Tensor:
    if isinstance(y, torch.Tensor) and not y.is_floating_point() and not y.is_complex():
        if y.ndim != 1 or y.shape[0] != n:
            raise input_error(
                func,
                name,
                f"must have shape ({n},), one label per embedding; got shape {tuple(y.shape)}",
            )
        return y.to(device)
    return torch.as_tensor(as_labels(y, n, name, func), device=device)


def knn_loss(
    query: torch.Tensor,
    candidates: torch.Tensor,
    query_labels: Any,
    candidate_labels: Any,
    *,
    k: int = 9,
    tau: float = 1.0,
    relaxation: str = "subset",
    stochastic: bool = True,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Grover et al.'s kNN loss: minus the relaxed number of selected candidates sharing the label.

    ``L_i = -(1/S) sum_s sum_j a^s_ij [candidate_labels_j == query_labels_i]`` with ``a^s`` the
    relaxed k-subsets of :func:`knn_selection`; in [-k, 0]. As ``tau -> 0`` (deterministic) it is
    minus the exact count of correct labels among the k nearest candidates.

    Parameters
    ----------
    query, candidates : Tensor, shapes (b, p) and (m, p)
        Embeddings (differentiable).
    query_labels, candidate_labels : int arrays or tensors, shapes (b,) and (m,)
    k, tau, relaxation, stochastic, num_samples, generator : as in :func:`knn_selection`.
    reduction : {"mean", "none"}
        A scalar (mean over queries) or the (b,) per-query losses.

    Returns
    -------
    Tensor, scalar or shape (b,)

    Complexity: O(b m p) for the distances plus O(S b k m) ("subset") or O(S b m^2)
    ("neuralsort") time and memory.
    """
    func = "knn_loss"
    q, c = _pair(query, candidates, func)
    k, tau, relaxation, stochastic, num_samples = _check_relax(
        func, k, c.shape[0], tau, relaxation, stochastic, num_samples, generator, q.device
    )
    reduction = check_choice(reduction, ("mean", "none"), "reduction", func)
    yq = _label_tensor(query_labels, q.shape[0], "query_labels", func, q.device)
    yc = _label_tensor(candidate_labels, c.shape[0], "candidate_labels", func, q.device)
    a = _select(_scores(q, c), k, tau, relaxation, stochastic, num_samples, generator)
    per_query = _loss_from(a, yq, yc)
    return per_query.mean() if reduction == "mean" else per_query


def _loss_from(a: torch.Tensor, yq: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
    same = (yq[:, None] == yc[None, :]).to(a.dtype)
    return -(a * same).sum(-1).mean(0)


# ----------------------------------------------------------------------------- training
def _check_device(device: Any, func: str) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise param_error(
            func,
            "device",
            "None, a str such as 'cpu' or 'cuda', or a torch.device",
            device,
            kind=TypeError,
        ) from None


def _candidates(n: int, query_idx: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
    """m indices drawn uniformly without replacement from ``range(n)`` minus the query batch."""
    taken = torch.zeros(n, dtype=torch.bool)
    taken[query_idx] = True
    order = torch.randperm(n, generator=gen)
    return order[~taken[order]][:m]


def train_stochastic_knn(
    X: Any,
    y: Any,
    *,
    k: int = 9,
    m: int = 100,
    tau: float = 1.0,
    relaxation: str = "subset",
    stochastic: bool = True,
    num_samples: int = 1,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 1e-3,
    optimizer: str = "adam",
    seed=None,
    progress: bool = False,
    device: Any = None,
    X_val: Any = None,
    y_val: Any = None,
    n_ref: int | None = None,
    image_shape=(1, 28, 28),
    model: StochasticKNN | None = None,
    callback: Callable | None = None,
) -> StochasticKNN:
    """Train the embedding CNN of a deep stochastic kNN with :func:`knn_loss` (Grover's setup).

    Every step takes ``batch_size`` queries (an epoch is one pass over ``X`` in random order) and
    ``m`` candidates drawn uniformly from the other training images, embeds both with the same
    network and descends ``knn_loss(h(queries), h(candidates), ...)``.

    Parameters
    ----------
    X : array or tensor, shape (n, C*H*W), (n, H, W) or (n, C, H, W)
        Training images (floats, e.g. in [0, 1]).
    y : int array, shape (n,)
        Class labels.
    k : int >= 1
        Relaxed subset size (9 in the paper).
    m : int >= k
        Candidates per step (100); ``m + batch_size <= n``.
    tau : float > 0
        Temperature (the paper searches {0.1, 1, 5, 16, 64} on a validation split).
    relaxation : {"subset", "neuralsort"}
        Ours (relaxed subset sampling) or the NeuralSort peer; see :func:`knn_selection`.
    stochastic : bool
        Gumbel-perturbed scores (the paper's setting) or deterministic relaxed top-k.
    num_samples : int >= 1
        Relaxed samples per query and step (1 for ours; Grover et al. use 5 for NeuralSort).
    epochs, batch_size : int >= 1
    lr : float > 0
    optimizer : {"adam", "sgd"}
        Adam, or Grover et al.'s SGD (momentum 0.9, weight decay 5e-4).
    seed : None, int or numpy Generator
        Seeds the initial weights, the batches, the candidates and the Gumbel noise: same seed,
        same weights (on the same device and thread count).
    progress : bool
        Show a progress bar over the epochs.
    device : None, str or torch.device
        Where to train (default: the device of ``X`` when it is a tensor, else the CPU).
    X_val, y_val : optional validation images and labels
        When given, the exact kNN accuracy on them (neighbours: the training images) is computed
        after every epoch and the weights of the best epoch are kept.
    n_ref : int, optional
        Use a fixed random subset of ``n_ref`` training images as the neighbours of the
        validation (cheaper); default all of them.
    image_shape : (C, H, W) or (H, W)
        Shape of one image (used when ``model`` is None).
    model : StochasticKNN, optional
        A network to train in place (its own architecture and initialisation); default a new
        ``StochasticKNN(image_shape, k=k, seed=...)`` (Grover et al.'s MNIST CNN).
    callback : callable, optional
        ``callback(epoch, model, mean_loss)`` after every epoch.

    Returns
    -------
    StochasticKNN
        With ``history``: one dict per epoch (``epoch``, ``loss`` = mean training loss,
        ``correct_fraction`` = -loss / k, ``val_accuracy`` when validating) and ``best_epoch``.

    Complexity: per step O((b + m) * CNN) plus O(b m p) distances and O(S b k m) ("subset") or
    O(S b m^2) ("neuralsort") for the relaxation; an epoch has ceil(n / b) steps.
    """
    func = "train_stochastic_knn"
    if model is not None and not isinstance(model, StochasticKNN):
        raise param_error(func, "model", "None or a StochasticKNN", model, kind=TypeError)
    shape = model.image_shape if model is not None else check_image_shape(image_shape, 5, func)
    if device is None:
        device = X.device if isinstance(X, torch.Tensor) else "cpu"
    dev = _check_device(device, func)
    Xt = as_images(X, shape, "X", func)
    n = Xt.shape[0]
    labels = torch.as_tensor(as_labels(y, n, "y", func))
    epochs = check_int(epochs, "epochs", func, low=1)
    batch_size = check_int(
        batch_size,
        "batch_size",
        func,
        low=1,
        high=n,
        high_label="n",
        extra=f" (n={n} training images)",
    )
    m = check_int(
        m,
        "m",
        func,
        low=1,
        high=n - batch_size,
        high_label="n - batch_size",
        extra=f" (n={n}, batch_size={batch_size})",
    )
    k, tau, relaxation, stochastic, num_samples = _check_relax(
        func, k, m, tau, relaxation, stochastic, num_samples, None, dev
    )
    lr = check_positive_float(lr, "lr", func)
    optimizer = check_choice(optimizer, ("adam", "sgd"), "optimizer", func)
    progress = check_bool(progress, "progress", func)
    rng = check_seed(seed, func)
    if callback is not None and not callable(callback):
        raise param_error(func, "callback", "a callable or None", callback, kind=TypeError)
    if (X_val is None) != (y_val is None):
        raise param_error(
            func,
            "y_val" if X_val is not None else "X_val",
            "given together with its pair (X_val and y_val)",
            None,
        )
    if X_val is not None:
        Xv = as_images(X_val, shape, "X_val", func)
        yv = as_labels(y_val, Xv.shape[0], "y_val", func)
    if n_ref is not None:
        n_ref = check_int(n_ref, "n_ref", func, low=k, high=n, high_label="n", extra=f" (n={n})")

    gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    noise = torch.Generator(device=dev).manual_seed(int(rng.integers(2**63 - 1)))
    if model is None:
        model = StochasticKNN(shape, k=k, seed=int(rng.integers(2**63 - 1)))
    model.to(dev).train()
    params = model.parameters()
    opt = (
        torch.optim.Adam(params, lr=lr)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    )
    ref_idx = None if n_ref is None else torch.randperm(n, generator=gen)[:n_ref]
    best, best_state = -1.0, None
    model.history, model.best_epoch = [], None
    for epoch in progress_range(epochs, progress, "stochastic kNN"):
        perm = torch.randperm(n, generator=gen)
        total, steps = 0.0, 0
        for s in range(0, n, batch_size):
            qi = perm[s : s + batch_size]
            ci = _candidates(n, qi, m, gen)
            emb = model.net(torch.cat([Xt[qi], Xt[ci]]).to(dev))
            a = _select(
                _scores(emb[: len(qi)], emb[len(qi) :]),
                k,
                tau,
                relaxation,
                stochastic,
                num_samples,
                noise,
            )
            loss = _loss_from(a, labels[qi].to(dev), labels[ci].to(dev)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        rec = {"epoch": epoch, "loss": total / steps, "correct_fraction": -total / steps / k}
        if X_val is not None:
            ri = ref_idx if ref_idx is not None else slice(None)
            ref_y = labels[ri].numpy()
            pred = knn_predict(model._embed(Xv), model._embed(Xt[ri]), ref_y, min(k, len(ref_y)))
            rec["val_accuracy"] = float(np.mean(pred == yv))
            if rec["val_accuracy"] > best:
                best, model.best_epoch = rec["val_accuracy"], epoch
                best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        model.history.append(rec)
        if callback is not None:
            callback(epoch, model, rec["loss"])
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()
