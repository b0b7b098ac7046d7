"""t-SNE panels of feature sets coloured by source (the paper's Fig. 1: content features vs attNet fingerprints).

Takes features already computed by the run that owns the model and writes a PNG; logging it to wandb is the
caller's job. Imports no model code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from ganprint.utils.atomic import atomic_write


def embed_2d(feats: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of ``[N, D]`` features (PCA to 50 dimensions first when D > 50, as is customary)."""
    x = np.asarray(feats, dtype=np.float32).reshape(len(feats), -1)
    if len(x) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(x)}.")
    if x.shape[1] > 50:
        x = PCA(n_components=min(50, len(x)), random_state=seed).fit_transform(x)
    # sklearn requires perplexity < n_samples; a third of the points keeps small test sets meaningful.
    perp = float(min(perplexity, max(2.0, (len(x) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perp, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(x)


def tsne_figure(features_by_name: Mapping[str, tuple[np.ndarray, np.ndarray]], source_names: Sequence[str],
                path: str | Path, seed: int = 0, perplexity: float = 30.0) -> Path:
    """One t-SNE panel per feature set, side by side, points coloured by source; saved as a PNG at ``path``.

    ``features_by_name`` maps a panel title (e.g. "content features", "attNet fingerprints") to
    ``(features [N, D], labels [N])`` with labels indexing ``source_names``.
    """
    if not features_by_name:
        raise ValueError("tsne_figure needs at least one feature set.")
    n = len(features_by_name)
    fig = Figure(figsize=(5.0 * n + 1.8, 5.0), dpi=120)
    axes = fig.subplots(1, n, squeeze=False)[0]
    colours = [f"C{i % 10}" for i in range(len(source_names))]
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    for ax, (title, (feats, labels)) in zip(axes, features_by_name.items(), strict=True):
        labels = np.asarray(labels)
        if len(labels) != len(feats):
            raise ValueError(f"{title!r}: {len(feats)} feature rows but {len(labels)} labels.")
        if labels.min() < 0 or labels.max() >= len(source_names):
            raise ValueError(f"{title!r}: labels must index source_names ({len(source_names)} names).")
        xy = embed_2d(feats, seed=seed, perplexity=perplexity)
        for s, name in enumerate(source_names):
            m = labels == s
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.7, c=colours[s],
                           marker=markers[(s // 10) % len(markers)], label=name, linewidths=0)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    legend: dict[str, object] = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(name, handle)
    fig.legend(list(legend.values()), list(legend.keys()), loc="center right", markerscale=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.6 / (5.0 * n + 1.8), 1))
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path
