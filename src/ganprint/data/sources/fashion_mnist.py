"""The built-in real source: Fashion-MNIST read from its four IDX files (Debian's `dataset-fashion-mnist`)."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ganprint.data.sources.base import LoadResult, Source
from ganprint.errors import UserError

IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


class MissingDataError(UserError, FileNotFoundError):
    """The real data is not where the config says; the message names the fix."""


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) into a numpy array of its declared dtype and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number); re-install dataset-fashion-mnist.")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{data[2]:02x}.")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated ({arr.size} of {int(np.prod(shape))} values); re-install it.")
    return arr.reshape(shape)


def find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise MissingDataError(
        f"Fashion-MNIST file {stem}(.gz) not found in {root}. Run `make install` (it installs Debian's "
        f"dataset-fashion-mnist) or put the four IDX files there and set `data.real.root` (or `paths.fashion_mnist_dir`)."
    )


class FashionMNISTSource(Source):
    """Fashion-MNIST's 70,000 images; keys are ``train:<i>`` and ``test:<i>`` into the original files.

    ``subset``: ``all`` (70k), ``train`` (the 60k of the original training file) or ``test`` (10k). The 28x28
    images are zero-padded to 32x32 (their background is black), then resized if another resolution is asked.
    """

    kind = "fashion_mnist"

    def __init__(self, name: str = "real", root: str | Path = "/usr/share/datasets/fashion-mnist",
                 subset: str = "all") -> None:
        super().__init__(name)
        if subset not in ("all", "train", "test"):
            raise ValueError(f"unknown Fashion-MNIST subset {subset!r}; use all, train or test.")
        self.root = Path(root).expanduser()
        self.subset = subset

    def _parts(self) -> tuple[str, ...]:
        return ("train", "test") if self.subset == "all" else (self.subset,)

    @cached_property
    def _arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self.root.is_dir():
            raise MissingDataError(
                f"Fashion-MNIST directory {self.root} does not exist. Run `make install` (Debian package "
                f"dataset-fashion-mnist) or set `paths.fashion_mnist_dir` to the folder holding the four IDX files."
            )
        out = {}
        for part in self._parts():
            images = read_idx(find_idx(self.root, IDX_FILES[(part, "images")]))
            labels = read_idx(find_idx(self.root, IDX_FILES[(part, "labels")]))
            if images.shape[0] != labels.shape[0]:
                raise ValueError(f"Fashion-MNIST {part}: {images.shape[0]} images but {labels.shape[0]} labels.")
            out[part] = (images, labels)
        return out

    def keys(self) -> list[str]:
        return [f"{part}:{i}" for part in self._parts() for i in range(self._arrays[part][0].shape[0])]

    def _index(self, keys: Sequence[str]) -> list[tuple[str, int]]:
        out = []
        for key in keys:
            part, _, idx = key.partition(":")
            out.append((part, int(idx)))
        return out

    def labels(self, keys: Sequence[str]) -> np.ndarray:
        """Product class (0-9) of each key: the content labels the content classifier learns."""
        return np.array([int(self._arrays[p][1][i]) for p, i in self._index(keys)], dtype=np.int64)

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        raw = np.stack([self._arrays[p][0][i] for p, i in self._index(keys)]) if keys else np.zeros((0, 28, 28), np.uint8)
        padded = np.pad(raw, ((0, 0), (2, 2), (2, 2)))
        if resolution != 32:
            padded = np.stack([
                np.asarray(Image.fromarray(im).resize((resolution, resolution), Image.Resampling.LANCZOS))
                for im in padded
            ]) if len(padded) else np.zeros((0, resolution, resolution), np.uint8)
        images = padded[..., None]
        if channels == 3:
            images = np.repeat(images, 3, axis=-1)
        return LoadResult(list(keys), np.ascontiguousarray(images))

    def describe(self) -> dict:
        return {**super().describe(), "root": str(self.root), "subset": self.subset}
