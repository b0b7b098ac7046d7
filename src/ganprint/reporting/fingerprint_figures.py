"""visNet fingerprint figures (the paper's fingerprint visualisation; official ``classifier_visNet/util_scripts.py``).

Pure figure code on numpy arrays laid out as the networks give them (``[N, C, H, W]``, C = 1 or 3): the model
fingerprints of all sources, image fingerprints of sample images per source, the response of each image
fingerprint to each model fingerprint, and the source x source matrix of mean responses. The run that owns the
model computes the arrays and calls these (``callbacks.VisNetFigures``); logging the PNGs to wandb is the caller's
job. Imports no model code.

Display conventions follow the official code (docs/paper.md §2.3), with one change: the official code shows
image fingerprints in the fixed range [-1, 1] and responses in [-5, 5], tuned to 128x128 models trained for 25M
images; here both ranges default to the 99.5th percentile of the magnitudes shown (jointly over all panels of a
figure, so panels stay comparable), because residuals of short runs are far smaller and would show as flat grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ganprint.utils.atomic import atomic_write


# -- array helpers -------------------------------------------------------------------------------------
def joint_minmax(a: np.ndarray) -> np.ndarray:
    """``a`` scaled to [0, 1] with one min and max over all of it (model fingerprints stay comparable)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def response_maps(image_fingerprint: np.ndarray, model_fingerprints: np.ndarray) -> np.ndarray:
    """Response of one image fingerprint ``[C, H, W]`` to each model fingerprint ``[N, C, H, W]``: the element-wise
    product, with every pixel whose minimum over channels is negative set to zero (the official recipe, "for
    cleaner visualization"). Returns ``[N, C, H, W]``."""
    f = np.asarray(image_fingerprint, dtype=np.float64)
    w = np.asarray(model_fingerprints, dtype=np.float64)
    if f.shape != w.shape[1:]:
        raise ValueError(f"image fingerprint {f.shape} and model fingerprints {w.shape[1:]} differ in shape.")
    prod = f[None] * w
    keep = prod.min(axis=1, keepdims=True) >= 0
    return prod * keep


def _symmetric_range(a: np.ndarray, value_range: float | None) -> float:
    if value_range is not None:
        return float(value_range)
    a = np.abs(np.asarray(a, dtype=np.float64))
    if not a.size:
        return 1.0
    # A high percentile, not the maximum: a few outlier pixels would otherwise grey out everything else.
    r = float(np.percentile(a, 99.5))
    r = r if r > 0 else float(a.max())
    return r if r > 0 else 1.0


def _show(ax, chw: np.ndarray, title: str | None = None, fontsize: float = 7.0) -> None:
    """Show a ``[C, H, W]`` array already in [0, 1] (greyscale for one channel)."""
    img = np.clip(np.asarray(chw, dtype=np.float64), 0.0, 1.0)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def _check_nchw(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be [N, C, H, W] with C = 1 or 3, got shape {a.shape}.")
    return a


# -- figures -------------------------------------------------------------------------------------------
def model_fingerprints_figure(fingerprints: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    """One panel per source: its model fingerprint ``[N, C, H, W]``, min-max normalised jointly over all."""
    w = _check_nchw("model fingerprints", fingerprints)
    if len(w) != len(names):
        raise ValueError(f"{len(w)} model fingerprints but {len(names)} source names.")
    shown = joint_minmax(w)
    fig = Figure(figsize=(2.0 * len(w), 2.3), dpi=120)
    axes = fig.subplots(1, len(w), squeeze=False)[0]
    for ax, img, name in zip(axes, shown, names, strict=True):
        _show(ax, img, name, fontsize=9)
    fig.suptitle("model fingerprints (jointly min-max normalised)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def image_fingerprints_figure(images: np.ndarray, fingerprints: np.ndarray, labels: np.ndarray,
                              names: Sequence[str], path: str | Path, value_range: float | None = None) -> Path:
    """Per source (row) its sample images in [-1, 1] beside their image fingerprints ``I - R(I)``, shown in
    ``[-value_range, value_range]`` (default: the 99.5th percentile of the magnitudes shown)."""
    x = _check_nchw("images", images)
    f = _check_nchw("image fingerprints", fingerprints)
    labels = np.asarray(labels)
    if x.shape != f.shape or len(labels) != len(x):
        raise ValueError(f"images {x.shape}, fingerprints {f.shape} and {len(labels)} labels must match.")
    rows = [np.flatnonzero(labels == s) for s in range(len(names))]
    cols = max(1, max((len(r) for r in rows), default=1))
    r = _symmetric_range(f, value_range)
    fig = Figure(figsize=(1.5 * 2 * cols + 1.2, 1.5 * len(names) + 0.5), dpi=120)
    axes = fig.subplots(len(names), 2 * cols, squeeze=False)
    for s, idx in enumerate(rows):
        for j in range(cols):
            a_img, a_fp = axes[s, 2 * j], axes[s, 2 * j + 1]
            if j >= len(idx):
                a_img.axis("off")
                a_fp.axis("off")
                continue
            _show(a_img, (x[idx[j]] + 1.0) / 2.0, "image" if s == 0 else None)
            _show(a_fp, (f[idx[j]] / r + 1.0) / 2.0, "fingerprint" if s == 0 else None)
        axes[s, 0].set_ylabel(names[s], fontsize=8)
    fig.suptitle(f"image fingerprints I - R(I), shown in [-{r:.3g}, {r:.3g}]", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def responses_figure(image_fingerprints: np.ndarray, labels: np.ndarray, model_fingerprints: np.ndarray,
                     names: Sequence[str], path: str | Path, scores: np.ndarray | None = None,
                     value_range: float | None = None) -> Path:
    """Row i: image fingerprint i (first column) and its response to each model fingerprint (``response_maps``),
    shown in ``[-value_range, value_range]`` (default: the 99.5th percentile of the magnitudes shown). ``scores [M, N]`` (e.g. the
    logits) go into the panel titles; the row's largest is marked with an asterisk."""
    f = _check_nchw("image fingerprints", image_fingerprints)
    w = _check_nchw("model fingerprints", model_fingerprints)
    labels = np.asarray(labels)
    if len(w) != len(names) or len(labels) != len(f):
        raise ValueError(f"{len(w)} model fingerprints, {len(names)} names, {len(f)} fingerprints and "
                         f"{len(labels)} labels do not fit together.")
    maps = np.stack([response_maps(fi, w) for fi in f])  # [M, N, C, H, W]
    r = _symmetric_range(maps, value_range)
    rf = _symmetric_range(f, None)
    fig = Figure(figsize=(1.6 * (len(w) + 1) + 0.6, 1.7 * len(f) + 0.6), dpi=120)
    axes = fig.subplots(len(f), len(w) + 1, squeeze=False)
    for i in range(len(f)):
        _show(axes[i, 0], (f[i] / rf + 1.0) / 2.0, "image fingerprint" if i == 0 else None)
        axes[i, 0].set_ylabel(names[int(labels[i])], fontsize=8)
        best = int(np.argmax(scores[i])) if scores is not None else -1
        for j in range(len(w)):
            title = names[j] if i == 0 else ""
            if scores is not None:
                title = f"{title}\n{scores[i, j]:.3g}{'*' if j == best else ''}".strip()
            _show(axes[i, j + 1], (maps[i, j] / r + 1.0) / 2.0, title)
    fig.suptitle(f"responses (image fingerprint x model fingerprint, negative pixels zeroed; "
                 f"shown in [-{r:.3g}, {r:.3g}])", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def response_matrix_figure(matrix: np.ndarray, names: Sequence[str], path: str | Path,
                           title: str = "mean response (rows: image source, columns: model fingerprint)") -> Path:
    """Heatmap of the source x source matrix of mean responses, with the numbers written in."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (len(names), len(names)):
        raise ValueError(f"response matrix of shape {m.shape} does not fit {len(names)} source names.")
    n = len(names)
    fig = Figure(figsize=(1.0 * n + 2.6, 0.9 * n + 1.6), dpi=120)
    ax = fig.subplots()
    im = ax.imshow(m, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=list(names), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=list(names), fontsize=8)
    ax.set_xlabel("model fingerprint", fontsize=8)
    ax.set_ylabel("image source", fontsize=8)
    mid = (m.max() + m.min()) / 2.0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", fontsize=7,
                    color="black" if m[i, j] > mid else "white", fontweight="bold" if i == j else "normal")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
