"""The section of the demo report on the models of section 4 of the subset-sampling paper
(Xie & Ermon 2019): deep stochastic kNN, instance-wise feature selection (L2X) and
neighbour-sampling SNE, all built on :func:`subsel.ops.relaxed_subset_sample` /
:func:`subsel.ops.relaxed_topk` (:mod:`subsel.apps`).

Live (reduced, scikit-learn's digits, so it runs anywhere in seconds): RSS-SNE and parametric
t-SNE in 2-D. From the records of ``benchmarks/knn.py``, ``benchmarks/explain.py`` and
``benchmarks/sne.py``: the accuracy, post-hoc accuracy and trustworthiness tables, the forward
time against m (the paper's Table 3) and the 2-D embeddings of the benchmark run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..report import Section, embed_figure, save_figure
from ._subset_records import _explain_html, _knn_html, _name, _sne_html, summarize

__all__ = ["TITLE", "build_section", "live_sne", "summarize"]

TITLE = "Learning with subset sampling: stochastic kNN, explanations, neighbour-sampling SNE"


# ----------------------------------------------------------------------------- live (digits)
def _digits(seed: int):
    """scikit-learn's digits in [0, 1], split 1297 train / 500 test (stratified, seeded)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=500, stratify=y, random_state=seed)


def live_sne(seed: int = 0, epochs: int = 40) -> dict:
    """RSS-SNE and parametric t-SNE in 2-D on the digits (a small network, seconds on a CPU).

    Returns ``{method: {"emb": (500, 2) test embedding, "trust": T(12), "nn1_error": float}}``
    and ``"labels"``: the test labels.
    """
    import torch
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    from ..apps.sne import train_neighbor_sne

    Xtr, Xte, ytr, yte = _digits(seed)
    out: dict = {"labels": yte}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method, extra in (
            ("subsel", {"method": "rss", "tau": 1.0, "init_scale": 30.0}),
            ("parametric_tsne", {"method": "parametric_tsne"}),
        ):
            model = train_neighbor_sne(
                Xtr,
                d=2,
                epochs=epochs,
                batch_size=500,
                lr=1e-3,
                hidden=(256, 256),
                seed=seed,
                **extra,
            )
            emb_tr, emb_te = model.transform(Xtr), model.transform(Xte)
            nn1 = KNeighborsClassifier(1).fit(emb_tr, ytr)
            out[method] = {
                "emb": emb_te,
                "trust": float(trustworthiness(Xte, emb_te, n_neighbors=12)),
                "nn1_error": float(1.0 - nn1.score(emb_te, yte)),
            }
    finally:
        torch.set_num_threads(threads)
    return out


def _plot_live_sne(res: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.6, 4.2))
    axes = fig.subplots(1, 2)
    for ax, m in zip(axes, ("subsel", "parametric_tsne"), strict=True):
        e = res[m]["emb"]
        sc = ax.scatter(e[:, 0], e[:, 1], c=res["labels"], cmap="tab10", s=6)
        ax.set_title(
            f"{_name(m)}: T(12) {res[m]['trust']:.3f}, 1-NN error {100 * res[m]['nn1_error']:.1f}%",
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=list(axes), fraction=0.03, label="digit")
    return fig


def build_section(
    out_dir: Path,
    *,
    samples: int = 10000,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
    results: Path | None = None,
) -> Section:
    """The live digits embedding, then the benchmark records of section 4's three models."""
    del samples
    step = step or (lambda _msg: None)
    out_dir = Path(out_dir)
    step("subset models: RSS-SNE and parametric t-SNE on the digits (live)")
    live = live_sne(seed)
    live_fig = embed_figure(
        save_figure(_plot_live_sne(live), out_dir / "subset_sne_digits.png"),
        "Live: 2-D embeddings of 500 held-out digits (scikit-learn's 8x8 digits, a 64-256-256-2 "
        "network, 40 epochs) by RSS-SNE (eq. 7, k = 1, tau = 1) and parametric t-SNE.",
    )
    step("subset models: records")
    knn_html, knn_rows = _knn_html(results, out_dir)
    explain_html, explain_rows = _explain_html(results)
    sne_html, sne_rows = _sne_html(results, out_dir)
    body = (
        "<p>Three models of section 4 of Xie &amp; Ermon (2019), in <code>subsel.apps</code>, "
        "each a small <code>torch.nn.Module</code> and a seeded training function that a user "
        "can drop into their own loop. The benchmark runs are reduced to fit 2 CPU cores (the "
        "benchmarks' docstrings say what was cut); CIFAR-10, full MNIST and IMDB are not "
        "available offline, so the MNIST rows use the 5000-image subset and the text task uses "
        "real tweets labelled by the client that sent them.</p>"
        + live_fig
        + knn_html
        + explain_html
        + sne_html
    )
    return Section(TITLE, body, [], "built", [*knn_rows, *explain_rows, *sne_rows])
