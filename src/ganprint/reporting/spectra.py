"""Frequency figures of sources: mean amplitude spectra (FFT) per source, and one sample per source in each
frequency band. Pure figure code on arrays; the run that has the data calls it and saves beside its record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ganprint.transforms.filters import band_full, lowpass_full
from ganprint.utils.atomic import atomic_write
from ganprint.utils.pixels import to_signed


def mean_log_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean over images of log(1 + |FFT|) of the zero-mean greyscale image, DC centred. ``images``: uint8 NHWC."""
    x = images.astype(np.float64).mean(axis=-1) / 255.0
    x = x - x.mean(axis=(1, 2), keepdims=True)
    amp = np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(1, 2)))
    return np.log1p(amp).mean(axis=0)


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def spectra_figure(images_by_source: dict[str, np.ndarray], path: Path) -> Path:
    """One panel per source: its mean log-amplitude spectrum, and its difference from the first (real) source."""
    names = list(images_by_source)
    spectra = {n: mean_log_spectrum(images_by_source[n]) for n in names}
    ref = spectra[names[0]]
    fig = Figure(figsize=(2.2 * len(names), 4.6))
    vmin, vmax = min(s.min() for s in spectra.values()), max(s.max() for s in spectra.values())
    lim = max(float(np.abs(spectra[n] - ref).max()) for n in names) or 1.0
    for i, n in enumerate(names):
        ax = fig.add_subplot(2, len(names), i + 1)
        ax.imshow(spectra[n], cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_title(n, fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(2, len(names), len(names) + i + 1)
        ax.imshow(spectra[n] - ref, cmap="coolwarm", vmin=-lim, vmax=lim)
        ax.set_title(f"{n} − {names[0]}", fontsize=8)
        ax.axis("off")
    fig.suptitle("mean log amplitude spectrum (top) and difference from the real source (bottom)", fontsize=9)
    return _save(fig, path)


def bands_figure(samples: dict[str, np.ndarray], resolutions: list[int], path: Path) -> Path:
    """Rows: one sample image per source; columns: the image, its low-pass at each r, its band 2r↔r."""
    names = list(samples)
    cols = [("image", None, None)] + [(f"low-pass {r}", "low", r) for r in resolutions] + \
           [(f"band {2 * r}↔{r}", "band", r) for r in resolutions if 2 * r <= samples[names[0]].shape[0]]
    fig = Figure(figsize=(1.4 * len(cols), 1.5 * len(names)))
    for i, n in enumerate(names):
        x = to_signed(torch.from_numpy(samples[n]).permute(2, 0, 1)[None])
        for j, (title, kind, r) in enumerate(cols):
            y = x if kind is None else (lowpass_full(x, r) if kind == "low" else band_full(x, r))
            img = y[0].permute(1, 2, 0).numpy()
            img = img.mean(-1) if img.shape[-1] == 1 else img
            if kind == "band":
                lim = float(np.abs(img).max()) or 1.0
                img = img / (2 * lim) + 0.5
            else:
                img = (img + 1) / 2
            ax = fig.add_subplot(len(names), len(cols), i * len(cols) + j + 1)
            ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=7)
            if j == 0:
                ax.set_ylabel(n, fontsize=8)
    return _save(fig, path)
