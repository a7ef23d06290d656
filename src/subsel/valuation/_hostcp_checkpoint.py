"""HostCP's checkpoints: the whole training state after an epoch, written atomically and read
back with ``torch.load(weights_only=True)``, refused when the data or the settings differ."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from subsel._io import atomic_write_bytes

_FUNC = "HostCP"
_CKPT_VERSION = 1


def save_checkpoint(path: Path, params: dict, fingerprint, base_seed, model, phi, opt, opt_phi, st):
    """Write the state (``params``: the settings as strings; ``st``: scores, old set, history)."""
    state = {
        "version": _CKPT_VERSION,
        "fingerprint": fingerprint,
        "params": params,
        "base_seed": base_seed,
        "model": model.state_dict(),
        "embedding": phi.state_dict(),
        "opt": opt.state_dict(),
        "opt_phi": opt_phi.state_dict(),
        **{k: (v if k != "history" else [dict(h) for h in v]) for k, v in st.items()},
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, params: dict, fingerprint, model, phi, opt, opt_phi, st) -> int:
    """Restore the state into the modules, optimizers and ``st``; returns the run's base seed."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != _CKPT_VERSION:
        raise ValueError(
            f"The checkpoint {path} of {_FUNC} has version {state.get('version')!r}, not "
            f"{_CKPT_VERSION}; delete it or fit with resume=False."
        )
    if state["fingerprint"] != fingerprint:
        raise ValueError(
            f"The checkpoint {path} of {_FUNC} was made on other data (shapes or checksums "
            "of X, y, X_test, y_test differ); fit with the same data or resume=False."
        )
    if state["params"] != params:
        diff = sorted(k for k in state["params"] if state["params"][k] != params.get(k))
        raise ValueError(
            f"The checkpoint {path} of {_FUNC} was made with other settings ({', '.join(diff)}"
            "); only epochs and progress may change on resume. Use the same settings or "
            "resume=False."
        )
    model.load_state_dict(state["model"])
    phi.load_state_dict(state["embedding"])
    opt.load_state_dict(state["opt"])
    opt_phi.load_state_dict(state["opt_phi"])
    for k in st:
        st[k] = state[k]
    return int(state["base_seed"])
