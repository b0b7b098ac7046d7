"""Sources: IDX parsing on the real Fashion-MNIST files, folder decoding of odd images, synthetic sources."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tests.helpers.hydra_cli import FMNIST_DIR, requires_fmnist

from ganprint.data.sources import (
    FashionMNISTSource,
    FolderSource,
    MissingDataError,
    SyntheticSource,
    read_idx,
)


@requires_fmnist
def test_idx_parsing_matches_fashion_mnist():
    images = read_idx(next(FMNIST_DIR.glob("train-images-idx3-ubyte*")))
    labels = read_idx(next(FMNIST_DIR.glob("train-labels-idx1-ubyte*")))
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,)
    assert np.bincount(labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    test = read_idx(next(FMNIST_DIR.glob("t10k-images-idx3-ubyte*")))
    assert test.shape == (10000, 28, 28)
    assert 60 < images.mean() < 80  # mean pixel of Fashion-MNIST is ~72.9


@requires_fmnist
def test_fashion_mnist_source_pads_to_32_with_black_border():
    src = FashionMNISTSource(root=FMNIST_DIR)
    assert len(src.keys()) == 70000
    res = src.load(src.keys()[:5], resolution=32, channels=1)
    assert res.images.shape == (5, 32, 32, 1)
    assert res.images[:, :2].max() == 0 and res.images[:, :, -2:].max() == 0
    rgb = src.load(["test:3"], resolution=64, channels=3).images
    assert rgb.shape == (1, 64, 64, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_idx_rejects_truncated_file(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(bad)


def test_missing_fashion_mnist_names_the_fix(tmp_path):
    with pytest.raises(MissingDataError, match="paths.fashion_mnist_dir"):
        FashionMNISTSource(root=tmp_path / "nowhere").keys()


def make_odd_images(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(folder / "grey.jpg", quality=90)
    Image.fromarray((rng.integers(0, 65535, (16, 16))).astype(np.uint16)).save(folder / "deep16.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 4), dtype=np.uint8), mode="RGBA").save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).convert("P").save(folder / "palette.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "tiny.png")
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / "photo.webp")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image at all")
    good = (folder / "rgb.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.txt").write_text("ignored: not an image extension")


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_source_decodes_odd_modes_and_reports_bad_files(tmp_path, channels):
    make_odd_images(tmp_path / "imgs")
    src = FolderSource("f", tmp_path / "imgs")
    keys = src.keys()
    assert len(keys) == 11  # notes.txt is not listed
    res = src.load(keys, resolution=32, channels=channels)
    assert res.images.shape == (8, 32, 32, channels) and res.images.dtype == np.uint8
    bad = {p.split("/")[-1]: why for p, why in res.skipped}
    assert set(bad) == {"empty.png", "text.jpg", "truncated.png"}
    assert "empty" in bad["empty.png"]


def test_folder_source_glob_and_missing(tmp_path):
    make_odd_images(tmp_path / "imgs")
    assert len(FolderSource("g", str(tmp_path / "imgs" / "*.png")).keys()) == 7
    with pytest.raises(FileNotFoundError, match="conf/sources"):
        FolderSource("none", tmp_path / "void").keys()


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from ganprint.data import imageio

    monkeypatch.setattr(imageio, "MAX_PIXELS", 100)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(imageio.ImageDecodeError, match="too large"):
        imageio.decode_image(tmp_path / "big.png", 8, 1)


class ArraySource(FolderSource):
    """An in-memory source for tests."""

    kind = "array"

    def __init__(self, name, images):
        self.name, self.images = name, images

    def keys(self):
        return [str(i) for i in range(len(self.images))]

    def load(self, keys, resolution, channels):
        from ganprint.data.sources.base import LoadResult

        return LoadResult(list(keys), self.images[[int(k) for k in keys]])

    def describe(self):
        return {"name": self.name, "kind": self.kind}


def test_synthetic_sources_differ_by_seed_and_keep_range():
    rng = np.random.default_rng(0)
    base = ArraySource("real", rng.integers(0, 255, (4, 32, 32, 1), dtype=np.uint8))
    a = SyntheticSource("a", base, seed=0).load(["0", "1"], 32, 1).images
    a2 = SyntheticSource("a", base, seed=0).load(["0", "1"], 32, 1).images
    b = SyntheticSource("b", base, seed=1).load(["0", "1"], 32, 1).images
    assert a.shape == (2, 32, 32, 1) and a.dtype == np.uint8
    assert np.array_equal(a, a2) and not np.array_equal(a, b)
