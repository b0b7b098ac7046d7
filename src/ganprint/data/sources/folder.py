"""The ``folder`` source: any folder, glob or file list of images (CelebA, LSUN, released GAN samples)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from ganprint.data.imageio import ImageDecodeError, decode_image, list_images
from ganprint.data.sources.base import LoadResult, Source
from ganprint.errors import UserError


class NoImagesError(UserError, FileNotFoundError):
    """A folder source found no images."""


class FolderSource(Source):
    """Images under ``root`` (a folder searched recursively, or a glob pattern).

    ``crop``: ``center`` (square by the shorter side, then resize: the paper's LSUN preparation), ``none``
    (resize as is) or a box ``[left, top, right, bottom]`` (CelebA: 128x128 centred at (89, 121)).
    """

    kind = "folder"

    def __init__(self, name: str, root: str | Path, crop: str | Sequence[int] | None = "center",
                 max_images: int | None = None) -> None:
        super().__init__(name)
        self.root = str(root)
        self.crop = None if crop in (None, "none") else (crop if isinstance(crop, str) else tuple(crop))
        self.max_images = max_images

    @cached_property
    def _files(self) -> list[Path]:
        files = list_images(self.root)
        if not files:
            raise NoImagesError(
                f"source {self.name!r}: no images (png/jpg/webp/bmp/tif) found at {self.root}. Fix its `root` in "
                f"the source set (conf/sources/) or the data config, e.g. `data.root=/path/to/images`."
            )
        return files[: self.max_images] if self.max_images else files

    @property
    def _base(self) -> Path:
        root = Path(self.root)
        return root if root.is_dir() else root.parent

    def keys(self) -> list[str]:
        base = self._base
        # String prefixes instead of Path.relative_to per file (the same keys, a tenth of the time on 9,000 files).
        prefix = str(base).rstrip(os.sep) + os.sep if str(base) not in ("", ".") else ""
        return [self._key(f, base, prefix) for f in self._files]

    @staticmethod
    def _key(f: Path, base: Path, prefix: str) -> str:
        """``f`` relative to ``base``; a file outside it (a glob that reaches elsewhere) keeps its whole path."""
        s = str(f)
        if prefix and s.startswith(prefix):
            return s[len(prefix):]
        if f.is_relative_to(base):
            return str(f.relative_to(base))
        return s

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        images, ok, skipped = [], [], []
        for key in keys:
            path = Path(key) if Path(key).is_absolute() else self._base / key
            try:
                images.append(decode_image(path, resolution, channels, self.crop))
                ok.append(key)
            except (ImageDecodeError, FileNotFoundError) as exc:
                skipped.append((str(path), str(exc)))
        arr = np.stack(images) if images else np.zeros((0, resolution, resolution, channels), np.uint8)
        return LoadResult(ok, arr, skipped)

    def describe(self) -> dict:
        return {**super().describe(), "root": self.root, "crop": self.crop, "max_images": self.max_images}

    def content_stamp(self, keys: Sequence[str]) -> str:
        """Size and modification time of every file: a folder refilled under the same file names (a rerun of a
        user's export script) must be decoded again, not served from the previous decode."""
        if not hasattr(self, "root"):  # a subclass that serves arrays, not files
            return ""
        digest = hashlib.sha256()
        for key in keys:
            path = Path(key) if Path(key).is_absolute() else self._base / key
            try:
                st = path.stat()
                digest.update(f"{key}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{key}\0missing\n".encode())
        return digest.hexdigest()
