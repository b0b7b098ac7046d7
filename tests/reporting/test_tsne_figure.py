"""The t-SNE figure is written as a PNG with one panel per feature set."""

from __future__ import annotations

import numpy as np
import pytest

from ganprint.reporting.tsne import embed_2d, tsne_figure


def test_tsne_figure_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    separated = rng.normal(size=(120, 64)) + labels[:, None] * 3.0
    entangled = rng.normal(size=(120, 8))
    path = tsne_figure({"content features": (entangled, labels), "attNet fingerprints": (separated, labels)},
                       ["real", "gan_a", "gan_b"], tmp_path / "fig" / "tsne.png", seed=0)
    data = path.read_bytes()
    assert path.parent.name == "fig" and len(data) > 5000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.parent.glob("*.tmp"))


def test_tsne_separates_separable_features():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 30)
    xy = embed_2d(rng.normal(size=(60, 100)) + labels[:, None] * 5.0, seed=0)
    c0, c1 = xy[labels == 0].mean(0), xy[labels == 1].mean(0)
    spread = max(xy[labels == 0].std(0).max(), xy[labels == 1].std(0).max())
    assert np.linalg.norm(c0 - c1) > 2 * spread


def test_tsne_figure_checks_labels(tmp_path):
    with pytest.raises(ValueError, match="index source_names"):
        tsne_figure({"x": (np.zeros((10, 2)), np.full(10, 3))}, ["a", "b"], tmp_path / "t.png")
