"""Generator quality: the Fréchet report orders sample sets by how far they are from the real data.

The slow test trains a real DCGAN on Fashion-MNIST and checks it beats its own untrained generator.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganprint.errors import ConfigError
from ganprint.gans import GanZoo, build_family
from ganprint.gans.quality import frechet_report, pixel_features

FMNIST = Path(os.environ.get("GANPRINT_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def shapes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 16, 16, 1), np.uint8)
    for img in out:
        y, x = rng.integers(2, 8, 2)
        img[y:y + 6, x:x + 6] = rng.integers(150, 256)
    return out


def test_frechet_report_orders_sets_by_distance_to_the_real_data():
    real = shapes(400, 0)
    noise = np.random.default_rng(1).integers(0, 256, real.shape, dtype=np.uint8)
    close = shapes(200, 2)
    dim = (real.astype(np.int32) * 2 // 3).astype(np.uint8)
    rep = frechet_report(lambda x: pixel_features(x, size=8), real, {"noise": noise, "close": close, "dim": dim})
    assert rep["n_per_set"] == 200
    fd = rep["fd"]
    assert max(rep["real_halves"], fd["close"]) < fd["dim"] < fd["noise"]
    assert fd["noise"] > 20 * rep["real_halves"]
    with pytest.raises(ConfigError, match="sample at least 200"):
        frechet_report(pixel_features, real, {"few": close[:10]})


def test_pixel_features_shape_and_range():
    f = pixel_features(shapes(3, 0), size=4)
    assert f.shape == (3, 16) and f.min() >= 0 and f.max() <= 1


def load_fashion_mnist(n: int) -> np.ndarray:
    with gzip.open(FMNIST / "train-images-idx3-ubyte.gz", "rb") as f:
        data = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    out = np.zeros((len(data), 32, 32, 1), np.uint8)
    out[:, 2:30, 2:30, 0] = data  # zero-padded to 32x32, as the project does
    return out


@pytest.mark.slow
@pytest.mark.skipif(not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed")
def test_trained_dcgan_is_far_closer_to_fashion_mnist_than_untrained(tmp_path):
    torch.set_num_threads(1)
    real = load_fashion_mnist(5000)
    spec = {"family": "dcgan", "arch": {"g_ch": 32, "d_ch": 32}}
    zoo = GanZoo()
    ckpt = zoo.train(real, spec, seed=0, out_dir=tmp_path, max_steps=400, batch_size=64, progress=False)
    trained = zoo.sample(ckpt, n=2500, seed=1)
    torch.manual_seed(0)
    fam = build_family(**zoo.resolve_spec(spec, real))  # same architecture, untrained weights
    untrained = GanZoo.generate_images(fam.generator, fam, 2500, seed=1)
    rep = frechet_report(pixel_features, real, {"trained": trained, "untrained": untrained})
    fd = rep["fd"]
    assert fd["trained"] < 0.3 * fd["untrained"], rep
    assert rep["real_halves"] < fd["trained"]
