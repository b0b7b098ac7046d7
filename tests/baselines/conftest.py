"""Small data sets with known structure for the baseline tests (Fashion-MNIST read straight from its IDX files)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Run these tests on one thread: on a small shared machine, thread oversubscription costs 10x."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


FMNIST_DIR = Path(os.environ.get("GANPRINT_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def read_fashion_mnist(part: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, 32, 32, 1] (28x28 zero-padded) and product labels of the `train` or `t10k` files."""
    img, lab = FMNIST_DIR / f"{part}-images-idx3-ubyte.gz", FMNIST_DIR / f"{part}-labels-idx1-ubyte.gz"
    if not img.is_file() or not lab.is_file():
        pytest.skip(f"Fashion-MNIST IDX files not in {FMNIST_DIR} (set GANPRINT_FASHION_MNIST_DIR)")
    with gzip.open(img) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(lab) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None], y


def planted_pattern(seed: int, shape=(32, 32, 1)) -> np.ndarray:
    """A fixed random +-1 pattern."""
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)


def transposed_conv_generator(x: np.ndarray, seed: int, strength: float) -> np.ndarray:
    """2x average-pool, then a fixed random 4x4 stride-2 transposed convolution (a seed-specific checkerboard)."""
    g = torch.Generator().manual_seed(seed)
    bilinear = torch.tensor([0.25, 0.75, 0.75, 0.25])
    k = torch.outer(bilinear, bilinear)[None, None] + strength * torch.randn(1, 1, 4, 4, generator=g)
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    y = F.conv_transpose2d(F.avg_pool2d(t, 2), k, stride=2, padding=1)
    return ((y.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def three_way_split(x: np.ndarray, y: np.ndarray, seed: int = 0):
    """60/20/20 train/val/test split as ((x, y), (x, y), (x, y))."""
    p = np.random.default_rng(seed).permutation(len(x))
    a, b = int(0.6 * len(x)), int(0.8 * len(x))
    return tuple((x[p[s]], y[p[s]]) for s in (slice(0, a), slice(a, b), slice(b, len(x))))


@pytest.fixture(scope="session")
def fashion_train() -> tuple[np.ndarray, np.ndarray]:
    return read_fashion_mnist("train")


@pytest.fixture(scope="session")
def fashion_test() -> tuple[np.ndarray, np.ndarray]:
    return read_fashion_mnist("t10k")


PATTERN_AMPLITUDE = 4.0  # grey levels out of 255


@pytest.fixture(scope="session")
def planted_splits(fashion_train):
    """3 sources, 250 images each, same content distribution: real, real + pattern 1, real + pattern 2.

    Returns (train, val, test, patterns) with ~150 training images per source.
    """
    x, _ = fashion_train
    idx = np.random.default_rng(0).permutation(len(x))[:750]
    patterns = {c: planted_pattern(100 + c) for c in (1, 2)}
    xs, ys = [], []
    for c in range(3):
        im = x[idx[c * 250 : (c + 1) * 250]].astype(np.float64)
        if c in patterns:
            im = im + PATTERN_AMPLITUDE * patterns[c]
        xs.append(np.clip(np.round(im), 0, 255).astype(np.uint8))
        ys.append(np.full(250, c, dtype=np.int64))
    return (*three_way_split(np.concatenate(xs), np.concatenate(ys)), patterns)


@pytest.fixture(scope="session")
def upsampling_splits(fashion_train):
    """3 sources, 250 images each: real, and two random transposed-conv 'generators' applied to other images."""
    x, _ = fashion_train
    idx = np.random.default_rng(1).permutation(len(x))[:750]
    xs, ys = [], []
    for c in range(3):
        im = x[idx[c * 250 : (c + 1) * 250]]
        xs.append(im if c == 0 else transposed_conv_generator(im, seed=200 + c, strength=0.1))
        ys.append(np.full(250, c, dtype=np.int64))
    return three_way_split(np.concatenate(xs), np.concatenate(ys))


@pytest.fixture(scope="session")
def content_model(fashion_train):
    """A narrow content classifier trained for one epoch on 5000 Fashion-MNIST training images (~3 s)."""
    from ganprint.models.baselines.content import train_content_classifier

    x, y = fashion_train
    return train_content_classifier(x[-5000:], y[-5000:], epochs=1, batch_size=32, lr=3e-3, width=8, seed=0,
                                    progress=False)
