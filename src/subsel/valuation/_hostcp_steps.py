"""The steps of :class:`~subsel.valuation.HostCP` that need no state of the estimator: input
checks, the data fingerprint of a checkpoint, ``phi``'s input rows, the old-set search, the
look-ahead value, one epoch of Algorithm 1 (:func:`run_epoch`) and the evaluation."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from subsel._progress import progress_range
from subsel._validation import check_embeddings, input_error, param_error

_FUNC = "HostCP"


def _check_data(X, y, X_test, y_test):
    """Validated float64 features, labels mapped to 0..C-1, and the sorted classes."""
    X = check_embeddings(X, _FUNC, "X")
    n = X.shape[0]
    yi, classes = _labels(y, n, "y")
    if classes.size < 2:
        raise input_error(
            _FUNC, "y", f"has a single class ({classes[0]!r})", "pass at least 2 classes"
        )
    if (X_test is None) != (y_test is None):
        missing = "y_test" if y_test is None else "X_test"
        raise input_error(
            _FUNC,
            missing,
            "is None while the other test argument is given",
            "pass both X_test and y_test, or neither",
        )
    if X_test is None:
        return X, yi, X, yi, classes
    Xt = check_embeddings(X_test, _FUNC, "X_test")
    if Xt.shape[1] != X.shape[1]:
        raise input_error(
            _FUNC,
            "X_test",
            f"has {Xt.shape[1]} columns but 'X' has {X.shape[1]}",
            "give the test points the same features",
        )
    yt_raw, _ = _labels(y_test, Xt.shape[0], "y_test")
    yt_vals = np.asarray(y_test).reshape(-1)
    unseen = np.setdiff1d(yt_vals, classes)
    if unseen.size:
        raise input_error(
            _FUNC,
            "y_test",
            f"holds {unseen.size} label(s) absent from 'y' (e.g. {unseen[:5].tolist()})",
            "drop those test points or add training points of those classes",
        )
    return X, yi, Xt, np.searchsorted(classes, yt_vals), classes


def _labels(y, n: int, name: str):
    """Integer labels of length ``n``: (codes 0..C-1, sorted classes)."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.shape[0] != n:
        other = "X" if name == "y" else "X_test"
        raise input_error(
            _FUNC,
            name,
            f"must have shape ({n},), one label per row of '{other}'; got shape {arr.shape}",
            "pass one integer label per point",
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise input_error(
            _FUNC,
            name,
            f"must hold integer class labels; got dtype {arr.dtype}",
            "encode the classes as integers (e.g. sklearn.preprocessing.LabelEncoder)",
            kind=TypeError,
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise input_error(
                _FUNC,
                name,
                "must hold integer class labels; got non-integer values",
                "encode the classes as integers",
            )
        arr = arr.astype(np.int64)
    classes, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), classes


def _fingerprint(X, y, Xt, yt) -> list:
    """Shapes and float checksums of the data (plain types, safe for weights_only loading)."""
    out = []
    for a in (X, y, Xt, yt):
        a64 = np.asarray(a, dtype=np.float64)
        w = np.arange(1, a64.size + 1, dtype=np.float64) % 97 + 1
        out.append([list(a.shape), float(a64.sum()), float((a64.ravel() * w).sum())])
    return out


def _knn_backend(choice: str):
    """The faiss module, or None for the exact torch search."""
    if choice == "exact":
        return None
    try:
        import faiss
    except ImportError:
        if choice == "faiss":
            raise ImportError(
                "HostCP(knn='faiss') needs faiss; install it with `pip install faiss-cpu` or use "
                "knn='auto' / 'exact'."
            ) from None
        return None
    return faiss


def _check_embedding_inputs(phi, d_phi: int, mode: str, dev) -> None:
    """A given ``embedding`` must take the ``d_phi`` columns that ``selector_inputs`` makes."""
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            was = phi.training
            phi.eval()
            phi(torch.zeros(2, d_phi, device=dev))
            phi.train(was)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise param_error(
            _FUNC,
            "embedding",
            f"a module taking {d_phi} input columns (selector_inputs={mode!r}: the features"
            + (", the one-hot label" if "label" in mode else "")
            + (", the model's loss" if "loss" in mode else "")
            + f"); it failed on them: {first}",
            type(phi).__name__,
        ) from None


def _selector_input(mode: str, Xg, yg, model, n_classes: int):
    """``ids -> phi``'s input rows: the features, then (by ``mode``) the one-hot label and the
    model's current cross-entropy on the point (no gradient; the model briefly in eval mode)."""

    def rows(ids) -> torch.Tensor:
        ids = torch.as_tensor(ids, device=Xg.device)
        parts = [Xg[ids]]
        if "label" in mode:
            parts.append(nn.functional.one_hot(yg[ids], n_classes).to(Xg.dtype))
        if "loss" in mode:
            was = model.training
            with torch.no_grad():
                model.eval()
                ce = nn.functional.cross_entropy(model(Xg[ids]), yg[ids], reduction="none")
            model.train(was)
            parts.append(ce.to(Xg.dtype).unsqueeze(1))
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    return rows


def _nearest_old(phi, phi_in, idx, old_idx, max_old, faiss):
    """At most ``max_old`` old points: the union of the new points' nearest old neighbours
    (l1 in ``phi``-space, eval mode), rank by rank; returned sorted by index."""
    with torch.no_grad():
        phi.eval()
        h = phi(phi_in(np.concatenate([idx, old_idx]))).float()
    b = idx.size
    kk = min(max_old, old_idx.size)
    if faiss is not None:
        hn = np.ascontiguousarray(h[:b].cpu().numpy(), dtype=np.float32)
        ho = np.ascontiguousarray(h[b:].cpu().numpy(), dtype=np.float32)
        index = faiss.IndexFlat(ho.shape[1], faiss.METRIC_L1)
        index.add(ho)
        _, nn_idx = index.search(hn, kk)
    else:
        dist = torch.cdist(h[:b], h[b:], p=1)
        nn_idx = torch.topk(dist, kk, dim=1, largest=False, sorted=True).indices.cpu().numpy()
    flat = nn_idx.T.reshape(-1)  # rank-major: every new point's nearest first
    flat = flat[flat >= 0]
    _, first = np.unique(flat, return_index=True)
    chosen = flat[np.sort(first)][:max_old]
    return np.sort(old_idx[chosen])


def _lookahead(model, params, u, x, y, x_test, y_test, lr, k):
    """The selected loss of eq. 8 and the look-ahead value of eq. 9.

    ``loss = sum_j u_j l_j(theta) / k`` on the minibatch ``x`` (b, d), ``y`` (b,) with weights
    ``u`` (b,); its gradient ``grads`` (one tensor per entry of ``params``) is kept
    differentiable in ``u``, so that ``value_loss = mean l_test(theta - lr * grads)`` on
    ``x_test``, ``y_test`` has ``d value_loss / d u_j = -lr / k * grad l_test(theta_hat) .
    grad l_j(theta)`` (eq. 12 with ``V = -value_loss``). Returns ``(losses (b,), loss, grads,
    value_loss)``. Cost: one forward / backward with ``create_graph`` on ``b`` points, one
    forward on the test batch.
    """
    ce = nn.functional.cross_entropy
    losses = ce(torch.func.functional_call(model, params, (x,)), y, reduction="none")
    loss = (u * losses).sum() / k
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    look = {name: params[name] - lr * g for name, g in zip(params, grads, strict=True)}
    value_loss = ce(torch.func.functional_call(model, look, (x_test,)), y_test)
    return losses, loss, grads, value_loss


def _evaluate(model, Xt, yt):
    """Mean cross-entropy and accuracy of ``model`` on the test data."""
    with torch.no_grad():
        model.eval()
        out = []
        for s in range(0, Xt.shape[0], 4096):
            out.append(model(Xt[s : s + 4096]))
        logits = torch.cat(out)
        loss = float(nn.functional.cross_entropy(logits, yt))
        acc = float((logits.argmax(1) == yt).float().mean())
    return loss, acc


def run_epoch(epoch, base_seed, p, Xg, yg, Xtg, ytg, model, phi, opt, opt_phi, layers, knn, st):
    """One pass over the data (Algorithm 1, lines 8-20); updates ``st`` in place."""
    n = Xg.shape[0]
    n_test = Xtg.shape[0]
    erng = np.random.default_rng([base_seed, epoch])
    perm = erng.permutation(n)
    batches = np.array_split(perm, math.ceil(n / p["batch_size"]))
    params = dict(model.named_parameters())
    gamma, xi, lr = p["budget_fraction"], p["xi"], p["lr"]
    old: list[np.ndarray] = []
    loss_sum = value_sum = 0.0
    layer, first_layer = layers
    phi_in = _selector_input(p["selector_inputs"], Xg, yg, model, p["n_classes"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(erng.integers(0, 2**62)))  # dropout etc. of user modules
        for bi in progress_range(len(batches), p["progress"], f"HOST-CP epoch {epoch + 1}"):
            idx = batches[bi]
            b = idx.size
            idx_t = torch.as_tensor(idx, device=Xg.device)
            old_idx = np.concatenate(old) if old else np.zeros(0, dtype=np.int64)
            if old_idx.size > p["max_old"]:
                old_idx = _nearest_old(phi, phi_in, idx, old_idx, p["max_old"], knn)
            # lines 10-14: embeddings, distances, the layer
            phi.train()
            h = phi(phi_in(np.concatenate([idx, old_idx])))
            h_new, h_old = h[:b], h[b:]
            d_nn = torch.cdist(h_new, h_new, p=1)
            d_no = torch.cdist(h_new, h_old, p=1)
            # "mass" needs old points to hold the mass above its cap: without them (each
            # epoch's first minibatch) the budget relaxation decides
            lp = layer if old_idx.size or p["relaxation"] == "budget" else first_layer
            u = lp(d_no, d_nn).to(torch.float32)
            # lines 16-19: the selected loss (eq. 8), the look-ahead value (eq. 9)
            model.train()
            k = gamma * b
            tb = (
                torch.as_tensor(
                    erng.choice(n_test, p["test_batch_size"], replace=False), device=Xg.device
                )
                if n_test > p["test_batch_size"]
                else slice(None)
            )
            losses, loss, grads, value_loss = _lookahead(
                model, params, u, Xg[idx_t], yg[idx_t], Xtg[tb], ytg[tb], lr, k
            )
            if p["model_loss"] == "selected":
                w = (u.detach() >= xi).to(losses.dtype)
                grads = torch.autograd.grad(
                    (w * losses).sum() / k, list(params.values()), retain_graph=True
                )
            phi_params = [q for q in phi.parameters() if q.requires_grad]
            phi_grads = torch.autograd.grad(value_loss, phi_params, allow_unused=True)
            # both steps at theta_t (the alternating update of the paper)
            opt.zero_grad(set_to_none=True)
            for q, g in zip(params.values(), grads, strict=True):
                q.grad = g.detach()
            opt.step()
            opt_phi.zero_grad(set_to_none=True)
            for q, g in zip(phi_params, phi_grads, strict=True):
                q.grad = None if g is None else g.detach()
            opt_phi.step()
            # line 15: selected points join O; bookkeeping of the scores
            ud = u.detach().to("cpu", torch.float64)
            sel = (ud >= xi).numpy()
            if sel.any():
                old.append(idx[sel])
            ic = torch.as_tensor(idx)
            st["u_sum"][ic] += ud
            st["hits"][ic] += torch.as_tensor(sel, dtype=torch.float64)
            st["seen"][ic] += 1.0
            st["last_u"][ic] = ud
            loss_sum += float(loss.detach()) * b
            value_sum += float(value_loss.detach()) * b
    st["old"] = torch.as_tensor(
        np.sort(np.concatenate(old)) if old else np.zeros(0, dtype=np.int64)
    )
    return loss_sum / n, value_sum / n
