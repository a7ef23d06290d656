"""HOST-CP (Algorithm 1 of the paper): joint online training of a selector and a model.

A selector -- an embedding ``phi`` feeding the differentiable facility-location LP layer
(:class:`~subsel.valuation.FacilityLocationLP`) -- picks, from every minibatch of new points, a
few representatives not already represented by the old (selected) set ``O(t)``; the model takes
an SGD step on the selected points (eq. 8) and ``phi`` a step that raises the one-step look-ahead
value of that selection on held-out data (eqs. 9 and 12).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from subsel._selector import ParamsMixin
from subsel._validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
    input_error,
    param_error,
)

from ._hostcp_checkpoint import load_checkpoint, save_checkpoint
from ._hostcp_steps import (
    _check_data,
    _check_embedding_inputs,
    _evaluate,
    _fingerprint,
    _knn_backend,
    run_epoch,
)
from .facility_lp import FacilityLocationLP

__all__ = ["HostCP"]

_FUNC = "HostCP"
_CKPT_NAME = "hostcp_checkpoint.pt"
_SELECTOR_INPUTS = ("features", "features+label", "features+label+loss")


class HostCP(ParamsMixin):
    r"""High-value Online Subset selection of Training samples through differentiable Convex
    Programming (HOST-CP, Algorithm 1 of the paper).

    For each epoch, the training set is shuffled and cut into minibatches ``D_i`` of about
    ``batch_size`` new points, and the old set ``O`` of points selected so far in the epoch
    starts empty. For each minibatch:

    1. the embedding ``h = phi(x)`` of the new points and of at most ``max_old`` old points, the
       union of the nearest old neighbours (in ``phi``-space, l1) of the new points taken rank
       by rank (faiss ``IndexFlat`` with ``METRIC_L1`` when installed, else an exact torch kNN);
    2. l1 distances ``d_new_old = |h_i - h_o|_1``, ``d_new_new = |h_i - h_j|_1`` and
       ``u = FacilityLocationLP(budget_fraction, xi)(d_new_old, d_new_new)`` in ``[0, 1]^b``;
    3. the selected loss of eq. 8, ``L(theta; phi, D_i) = 1 / (gamma |D_i|) sum_j u_j l_j(theta)``;
       its gradient ``g`` (kept differentiable in ``u``) gives the look-ahead
       ``theta_hat = theta - lr * g`` and the value ``V = -loss(theta_hat, D_t)`` on a batch
       of the test / validation data (eq. 9); ``phi`` takes a step on ``-V`` through ``u`` and
       the layer (this is eq. 12: ``dV / du_j = lr / (gamma |D_i|) grad l_test(theta_hat) .
       grad l_j(theta)``), and the model an SGD step with ``g`` (eq. 8), both at ``theta_t``
       (the alternating update of the paper);
    4. the points with ``u >= xi`` join ``O``.

    Parameters
    ----------
    budget_fraction : float in (0, 1], default 0.2
        ``gamma``: the layer opens at most ``gamma * |D_i|`` new points per minibatch, and
        ``selected_`` holds ``round(gamma * n)`` points.
    xi : float in (0, 1], default 0.9
        Threshold on ``u``: a point with ``u >= xi`` is selected (joins ``O``).
    model : torch.nn.Module or None, default None
        The classifier ``f(x; theta)``, mapping ``(b, d)`` float32 features to ``(b, C)`` logits.
        ``None``: ``Linear(d, 64) + ReLU + Linear(64, C)``. A given module is deep-copied (and
        the copy trained); it must work with :func:`torch.func.functional_call`.
    embedding : torch.nn.Module or None, default None
        ``phi``, mapping ``(b, d)`` features to ``(b, p)`` embeddings. ``None``: ``Linear(d, 100)
        + ReLU + BatchNorm1d(100)``, as the authors. Deep-copied, too.
    epochs : int >= 1, default 5
    batch_size : int >= 2, default 40
        ``|D_i|``; the data are cut into ``ceil(n / batch_size)`` nearly equal minibatches (so
        none is tiny). ``budget_fraction * batch_size`` must be at least 1 (the LP needs room
        for one representative when ``O`` is empty).
    max_old : int >= 1, default 40
        At most this many old points enter each LP.
    lr : float > 0, default 0.05
        Step size of the model's SGD (momentum 0.9) and ``alpha`` of the look-ahead (eq. 9).
    lr_phi : float > 0, default 1e-3
        Step size of Adam on ``phi`` (``beta`` of the paper).
    model_loss : {"weighted", "selected"}, default "weighted"
        The model's step on eq. 8 weights each point's loss by ``u`` ("weighted", the loss whose
        look-ahead defines ``V``, so the two steps optimize one objective, eq. 10), or on the
        points with ``u >= xi`` only, with weight 1 ("selected", lines 15-16 of Algorithm 1).
        With the default smoothing most ``u`` lie near 0 or 1 and the two differ little.
    solver : {"native", "cvxpylayers"}, default "native"
        Solver of the LP layer.
    relaxation : {"budget", "mass"}, default "budget"
        The LP of :class:`FacilityLocationLP`: opening variables ``u`` with ``sum u <= gamma
        |D_i|`` ("budget"), or the authors' code's cap on the total mass of ``z_new`` ("mass").
        "mass" needs old points to carry the mass above its cap, so the first minibatch of each
        epoch (``O`` empty) is solved with "budget".
    selector_inputs : {"features", "features+label", "features+label+loss"}, default "features"
        What ``phi`` sees of a point: its features (the paper), also its one-hot label, or also
        the label and the model's current cross-entropy on it (no gradient through the model).
        The default ``phi`` is sized to match; a given ``embedding`` must take ``d`` (+ ``C``)
        (+ 1) inputs, in that order.
    smoothing : float or None, default None
        Relative quadratic smoothing of the layer (``None``: the layer's default).
    knn : {"auto", "faiss", "exact"}, default "auto"
        Nearest-neighbour search for the old set: faiss when importable ("auto"), or the exact
        torch search. Both are exact; they may break ties differently.
    test_batch_size : int >= 1, default 256
        ``V`` is measured on this many test points drawn at random at each step (all of them
        when fewer).
    standardize : bool, default True
        Center and scale every feature by the training set's mean and standard deviation
        (applied to ``X_test`` too) before ``phi`` and the model see them.
    seed : None, int >= 0 or numpy.random.Generator
        Initial weights (drawn in a forked torch RNG, so the global one is left alone),
        shuffles and test batches. The same seed gives the same result.
    progress : bool, default False
        Show a progress bar over the minibatches of each epoch.
    checkpoint_dir : str, path or None, default None
        After every epoch the whole state (weights, optimizer states, scores, history, the
        epoch's old set, the seed stream) is written with :func:`torch.save` to
        ``checkpoint_dir / "hostcp_checkpoint.pt"`` (atomically: a temporary file renamed).
        ``fit(..., resume=True)`` continues from it to exactly the result of an uninterrupted
        run.
    device : str, default "cpu"
        Torch device of the model, ``phi`` and the layer.

    Attributes
    ----------
    selected_ : ndarray of bool, shape (n,)
        The ``round(budget_fraction * n)`` points with the highest ``scores_`` (ties broken by
        the ``u`` of the last epoch, then by index). The count lands on the budget by
        construction; the online selection itself (``O`` at the end of an epoch) is usually
        smaller, because old points represent part of each minibatch (its size per epoch is in
        ``history_``).
    scores_ : ndarray of float, shape (n,)
        Mean ``u`` of each point over the epochs (each point is seen once per epoch).
    selection_frequency_ : ndarray of float, shape (n,)
        Share of epochs in which the point had ``u >= xi``.
    last_selected_ : ndarray of bool, shape (n,)
        ``O`` at the end of the last epoch (the paper's online selection).
    embedding_ : torch.nn.Module
        The trained ``phi`` (in eval mode).
    model_ : torch.nn.Module
        The trained model (in eval mode).
    classes_ : ndarray, shape (C,)
        The labels, sorted; the model's outputs follow this order.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (mean selected loss of eq. 8), ``value_loss`` (mean
        look-ahead test loss, ``-V``), ``test_loss``, ``test_accuracy`` (of the model after the
        epoch), ``n_selected`` (``|O|`` at the epoch's end), ``seconds``.

    Notes
    -----
    Without ``X_test`` the look-ahead value and the reported accuracy use the training data
    itself (noisy labels included); pass held-out data, as the paper does.

    With ``selector_inputs="features"`` ``phi`` never sees the labels, so it can move a
    mislabelled point away from (or towards) its neighbours only through the features, and the
    scores carry no information on which labels are wrong (``benchmarks/valuation.py``: mislabel
    AUC about 0.5). Facility location opens points unlike their neighbours; a label (or a loss)
    that disagrees with the neighbours makes a point unlike them, so the label-aware inputs only
    help when the look-ahead value's gradient reaches ``phi`` strongly enough to undo that,
    which takes a larger ``smoothing`` of the layer (measured in the benchmark).

    Complexity, per epoch with ``n`` points of ``d`` features, minibatches of ``b``, ``m =
    max_old``, embedding dimension ``p`` and ``|O| <= gamma n`` old points: ``n / b`` LP solves
    of ``O(T (b (b + m) + b^3))`` each (see :class:`FacilityLocationLP`), per minibatch a double
    backward through the model on ``b`` points and a forward / backward on ``test_batch_size``
    test points -- all linear in ``n`` -- and, for the old-set search, ``phi`` of all of ``O``
    and an exact kNN, ``O(|O| (d + b) p)`` per minibatch, so ``O(gamma n^2 (d + b) p / b)`` per
    epoch: quadratic in ``n`` with a small constant (measured negligible next to the LP at
    ``n = 1000``). Memory ``O(n (d + 1) + b (b + m) + |model|)``.

    Examples
    --------
    >>> import numpy as np
    >>> from subsel.valuation import HostCP
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
    >>> y = np.repeat([0, 1], 60)
    >>> sel = HostCP(0.2, epochs=2, seed=0).fit(X, y, X, y)
    >>> int(sel.selected_.sum())
    24
    """

    def __init__(
        self,
        budget_fraction: float = 0.2,
        *,
        xi: float = 0.9,
        model: nn.Module | None = None,
        embedding: nn.Module | None = None,
        epochs: int = 5,
        batch_size: int = 40,
        max_old: int = 40,
        lr: float = 0.05,
        lr_phi: float = 1e-3,
        model_loss: str = "weighted",
        solver: str = "native",
        relaxation: str = "budget",
        selector_inputs: str = "features",
        smoothing: float | None = None,
        knn: str = "auto",
        test_batch_size: int = 256,
        standardize: bool = True,
        seed=None,
        progress: bool = False,
        checkpoint_dir=None,
        device: str = "cpu",
    ):
        self.budget_fraction = budget_fraction
        self.xi = xi
        self.model = model
        self.embedding = embedding
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_old = max_old
        self.lr = lr
        self.lr_phi = lr_phi
        self.model_loss = model_loss
        self.solver = solver
        self.relaxation = relaxation
        self.selector_inputs = selector_inputs
        self.smoothing = smoothing
        self.knn = knn
        self.test_batch_size = test_batch_size
        self.standardize = standardize
        self.seed = seed
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.device = device

    # -----------------------------------------------------------------------------------------
    def _checked(self) -> dict:
        f = _FUNC
        p = {
            "budget_fraction": check_real(
                self.budget_fraction, "budget_fraction", f, low=0.0, high=1.0, low_open=True
            ),
            "xi": check_real(self.xi, "xi", f, low=0.0, high=1.0, low_open=True),
            "epochs": check_int(self.epochs, "epochs", f, low=1),
            "batch_size": check_int(self.batch_size, "batch_size", f, low=2),
            "max_old": check_int(self.max_old, "max_old", f, low=1),
            "lr": check_real(self.lr, "lr", f, low=0.0, low_open=True),
            "lr_phi": check_real(self.lr_phi, "lr_phi", f, low=0.0, low_open=True),
            "model_loss": check_choice(self.model_loss, ("weighted", "selected"), "model_loss", f),
            "solver": check_choice(self.solver, ("native", "cvxpylayers"), "solver", f),
            "relaxation": check_choice(self.relaxation, ("budget", "mass"), "relaxation", f),
            "selector_inputs": check_choice(
                self.selector_inputs, _SELECTOR_INPUTS, "selector_inputs", f
            ),
            "knn": check_choice(self.knn, ("auto", "faiss", "exact"), "knn", f),
            "test_batch_size": check_int(self.test_batch_size, "test_batch_size", f, low=1),
            "standardize": check_bool(self.standardize, "standardize", f),
            "progress": check_bool(self.progress, "progress", f),
        }
        for name in ("model", "embedding"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, nn.Module):
                raise param_error(f, name, "None or a torch.nn.Module", value, kind=TypeError)
        if self.smoothing is not None:
            check_real(self.smoothing, "smoothing", f, low=0.0)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, Path)):
            raise param_error(
                f,
                "checkpoint_dir",
                "None, a str or a pathlib.Path",
                self.checkpoint_dir,
                kind=TypeError,
            )
        try:
            p["device"] = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise param_error(
                f, "device", "a torch device name such as 'cpu' or 'cuda'", self.device
            ) from None
        if p["budget_fraction"] * p["batch_size"] < 1.0 - 1e-12:
            raise param_error(
                f,
                "budget_fraction",
                f"at least 1 / batch_size = {1.0 / p['batch_size']:g} (batch_size="
                f"{p['batch_size']}), so that each minibatch may open one representative; raise "
                "batch_size or budget_fraction",
                self.budget_fraction,
            )
        return p

    # -----------------------------------------------------------------------------------------
    def fit(self, X, y, X_test=None, y_test=None, *, resume: bool = False):
        """Train the selector and the model jointly (Algorithm 1); returns ``self``.

        Parameters
        ----------
        X : array-like or Tensor, shape (n, d)
            Features (e.g. fixed embeddings of a pretrained network).
        y : array-like, shape (n,)
            Integer class labels (at least 2 distinct).
        X_test, y_test : array-like, shapes (n_test, d) and (n_test,), or None
            Held-out data for the look-ahead value (eq. 9) and the reported accuracy; its
            labels must occur in ``y``. ``None`` (both): the training data.
        resume : bool, default False
            Continue from ``checkpoint_dir``'s checkpoint when there is one (from scratch when
            there is none). The data and every setting but ``epochs`` and ``progress`` must
            match the checkpointed run.

        Returns
        -------
        self
        """
        p = self._checked()
        resume = check_bool(resume, "resume", _FUNC)
        if resume and self.checkpoint_dir is None:
            raise param_error(
                _FUNC,
                "resume",
                "False when checkpoint_dir is None (nothing to resume from)",
                resume,
            )
        X, yi, Xt, yt, classes = _check_data(X, y, X_test, y_test)
        n, d = X.shape
        if n < 2:
            raise input_error(_FUNC, "X", f"has {n} row", "pass at least 2 training points")
        if p["standardize"]:
            mean, std = X.mean(0), X.std(0)
            std = np.where(std > 0, std, 1.0)
            X, Xt = (X - mean) / std, (Xt - mean) / std
        dev = p["device"]
        Xg = torch.as_tensor(X, dtype=torch.float32, device=dev)
        yg = torch.as_tensor(yi, dtype=torch.long, device=dev)
        Xtg = torch.as_tensor(Xt, dtype=torch.float32, device=dev)
        ytg = torch.as_tensor(yt, dtype=torch.long, device=dev)

        rng = check_seed(self.seed, _FUNC)
        base_seed = int(rng.integers(0, 2**62))
        d_phi = (
            d + len(classes) * ("label" in p["selector_inputs"]) + ("loss" in p["selector_inputs"])
        )
        model, phi = self._build(d, d_phi, len(classes), base_seed, dev)
        p["n_classes"] = len(classes)
        _check_embedding_inputs(phi, d_phi, p["selector_inputs"], dev)
        opt = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=0.9)
        opt_phi = torch.optim.Adam(phi.parameters(), lr=p["lr_phi"])
        layer = FacilityLocationLP(
            p["budget_fraction"],
            p["xi"],
            solver=p["solver"],
            relaxation=p["relaxation"],
            smoothing=self.smoothing,
        )
        # the epochs' first minibatches, where O is empty (see `relaxation`)
        first_layer = FacilityLocationLP(
            p["budget_fraction"], p["xi"], solver=p["solver"], smoothing=self.smoothing
        )
        st = {
            "epoch": 0,
            "u_sum": torch.zeros(n, dtype=torch.float64),
            "hits": torch.zeros(n, dtype=torch.float64),
            "seen": torch.zeros(n, dtype=torch.float64),
            "last_u": torch.zeros(n, dtype=torch.float64),
            "old": torch.zeros(0, dtype=torch.long),
            "history": [],
        }
        ckpt = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / _CKPT_NAME
        fingerprint = _fingerprint(X, yi, Xt, yt)
        if resume and ckpt.exists():
            base_seed = load_checkpoint(
                ckpt, _state_params(self), fingerprint, model, phi, opt, opt_phi, st
            )

        knn = _knn_backend(p["knn"])
        for epoch in range(st["epoch"], p["epochs"]):
            t0 = time.perf_counter()
            stats = run_epoch(
                epoch,
                base_seed,
                p,
                Xg,
                yg,
                Xtg,
                ytg,
                model,
                phi,
                opt,
                opt_phi,
                (layer, first_layer),
                knn,
                st,
            )
            test_loss, test_acc = _evaluate(model, Xtg, ytg)
            st["history"].append(
                {
                    "epoch": epoch + 1,
                    "loss": stats[0],
                    "value_loss": stats[1],
                    "test_loss": test_loss,
                    "test_accuracy": test_acc,
                    "n_selected": int(st["old"].numel()),
                    "seconds": time.perf_counter() - t0,
                }
            )
            st["epoch"] = epoch + 1
            if ckpt is not None:
                save_checkpoint(
                    ckpt, _state_params(self), fingerprint, base_seed, model, phi, opt, opt_phi, st
                )

        seen = st["seen"].numpy()
        scores = st["u_sum"].numpy() / np.maximum(seen, 1.0)
        k = int(round(p["budget_fraction"] * n))
        # highest score first; ties by the last epoch's u, then by index (lexsort: last key first)
        order = np.lexsort((np.arange(n), -st["last_u"].numpy(), -scores))
        selected = np.zeros(n, dtype=bool)
        selected[order[:k]] = True
        last = np.zeros(n, dtype=bool)
        last[st["old"].numpy()] = True
        self.selected_ = selected
        self.scores_ = scores
        self.selection_frequency_ = st["hits"].numpy() / np.maximum(seen, 1.0)
        self.last_selected_ = last
        self.embedding_ = phi.eval()
        self.model_ = model.eval()
        self.classes_ = classes
        self.history_ = st["history"]
        return self

    # -----------------------------------------------------------------------------------------
    def _build(self, d: int, d_phi: int, n_classes: int, base_seed: int, dev):
        """Copies of the given modules, or the defaults, initialized in a forked torch RNG."""
        import copy

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(base_seed)
            if self.model is None:
                model = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, n_classes))
            else:
                model = copy.deepcopy(self.model)
            if self.embedding is None:
                phi = nn.Sequential(nn.Linear(d_phi, 100), nn.ReLU(), nn.BatchNorm1d(100))
            else:
                phi = copy.deepcopy(self.embedding)
        return model.to(dev).float(), phi.to(dev).float()


def _state_params(est: HostCP) -> dict:
    """Settings that must match for a resume (all but epochs and progress), as strings."""
    out = {}
    for k, v in est.get_params().items():
        if k in ("epochs", "progress", "checkpoint_dir"):
            continue
        if isinstance(v, (nn.Module, np.random.Generator)):
            out[k] = type(v).__name__  # the stream itself is restored from base_seed
        else:
            out[k] = repr(v)
    return out
