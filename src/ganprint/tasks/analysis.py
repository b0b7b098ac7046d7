"""Feature analyses done by the run that has the model: FD ratio of image fingerprints, the t-SNE figure
(content features vs attNet fingerprints, the paper's Fig. 1), and the content data they need."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ganprint.data import AttributionDataModule
from ganprint.metrics.frechet import fd_ratio

log = logging.getLogger("ganprint")
MAX_CONTENT_IMAGES = 20000
# The content classifier sees at most this many real images per attribution training image of one source: the
# cpu (1,500) and paper scales reach the 20,000 cap, while the smoke scale (96) trains it on 1,536 images in a
# second instead of 20,000 in ~15 s, which was the largest single cost of a smoke reproduction.
CONTENT_IMAGES_PER_TRAIN_IMAGE = 16


def content_image_budget(datamodule: AttributionDataModule) -> int:
    """How many real images the content classifier trains on for this data module's scale."""
    return min(MAX_CONTENT_IMAGES, CONTENT_IMAGES_PER_TRAIN_IMAGE * int(datamodule.counts.train))


def split_arrays(datamodule: AttributionDataModule, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[N, H, W, C]`` images and int labels of one split (after any test perturbation)."""
    images, labels = datamodule.data[split]
    return images.permute(0, 2, 3, 1).numpy(), labels.numpy()


def content_data(datamodule: AttributionDataModule) -> tuple[np.ndarray, np.ndarray] | None:
    """Real images with content (product-class) labels for the content classifier, or None if no source
    has content labels. Images that sit in the attribution val/test splits are left out; at most
    ``content_image_budget`` images, the first ones in the source's key order."""
    real = next((s for s in datamodule.sources if hasattr(s, "labels")), None)
    if real is None:
        return None
    held_out = {key for split, src, _l, key, _h in datamodule.manifest.rows if src == real.name and split != "train"}
    keys = [k for k in real.keys() if not k.startswith("test:") and k not in held_out][: content_image_budget(datamodule)]
    images = real.load(keys, datamodule.resolution, datamodule.channels).images
    return images, real.labels(keys)


def fd_ratio_metrics(features: np.ndarray, labels: np.ndarray, names: list[str], seed: int) -> dict[str, Any]:
    # Exact FD in more than 256 dimensions costs ~30 s per pair; a PCA to at most 256 (and to fewer than the
    # samples, so covariances stay estimable) keeps it to seconds.
    pca_dim = min(256, len(features) // 4)
    # Only the sources that have test images enter the ratio (a source whose images were all dropped as
    # duplicates of another's has none), each under its own name.
    present = [names[i] for i in np.unique(labels)]
    res = fd_ratio(features, labels, seed=seed, names=present, pca_dim=pca_dim if features.shape[1] > pca_dim else None)
    return {"test/fd_ratio": float(res["fd_ratio"]), "test/fd_inter": float(res["fd_inter_mean"]),
            "test/fd_intra": float(res["fd_intra_mean"])}


def tsne_of_run(panels: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str], out_dir: Path,
                seed: int, max_points: int = 2000) -> Path:
    """The t-SNE figure of several feature spaces of the same test images, saved as figures/tsne.png."""
    from ganprint.reporting.tsne import tsne_figure

    rng = np.random.default_rng(seed)
    n = len(next(iter(panels.values()))[1])
    idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    panels = {k: (f[idx], y[idx]) for k, (f, y) in panels.items()}
    return tsne_figure(panels, names, out_dir / "figures" / "tsne.png", seed=seed)


def frequency_figures(images: np.ndarray, labels: np.ndarray, names: list[str], out_dir: Path) -> dict[str, Path]:
    """figures/spectra.png (mean amplitude spectrum per source) and figures/bands.png (a sample per band)."""
    from ganprint.reporting.spectra import bands_figure, spectra_figure

    by_source = {n: images[labels == i] for i, n in enumerate(names) if (labels == i).any()}
    res = images.shape[1]
    rs = [r for r in (16, 8, 4) if r < res]
    return {"spectra": spectra_figure(by_source, out_dir / "figures" / "spectra.png"),
            "bands": bands_figure({n: x[0] for n, x in by_source.items()}, rs, out_dir / "figures" / "bands.png")}
