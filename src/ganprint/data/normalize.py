"""``data.normalize``: re-encode every source the same way before splitting, to remove file-format shortcuts.

When the real folder is JPEG and the generated ones PNG, or one source is greyscale, larger, or saved at another
quality, a classifier can tell the sources apart without any generator fingerprint (the shortcut audit,
``ganprint-audit``, says so). ``data.normalize`` gives every source one processing path: each file is decoded,
converted to one colour mode, cropped by its source's own crop, resized once (Lanczos) to ``size`` (default:
the working resolution) and saved as PNG, or as JPEG at one fixed quality, into ``<cache>/normalized/``; the
data module then reads those files. In-memory sources (``fashion_mnist``, ``synthetic``) are made at the working
resolution already; under ``jpeg`` their images go through the same JPEG encoding, under ``png`` (lossless) they
are unchanged. The resolved setting is part of every source's description, so the manifest hash, the array
cache and the run record (``data.normalize``) all say the data were normalised.

Values: ``null`` (off), ``png``, ``jpeg`` (quality 95), or a mapping ``{format: png|jpeg, quality: 1-100, size:
<pixels>, mode: L|RGB}``. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganprint.data.imageio import ImageDecodeError, decode_image
from ganprint.data.sources.base import LoadResult, Source
from ganprint.data.sources.files import folder_of, source_paths
from ganprint.errors import ConfigError
from ganprint.utils.atomic import atomic_write

FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}
DEFAULT_JPEG_QUALITY = 95
FIX = "set `data.normalize` to png, jpeg or {format: jpeg, quality: 90, size: 128, mode: RGB}"


def resolve_normalize(value: Any, resolution: int, channels: int) -> dict[str, Any] | None:
    """The full setting (format, quality, size, mode) for ``data.normalize``; None when off."""
    if value in (None, False, "none", "null", ""):
        return None
    spec = {"format": value} if isinstance(value, str) else dict(value) if isinstance(value, Mapping) else None
    if spec is None:
        raise ConfigError(f"data.normalize={value!r} is not a format or a mapping; {FIX}.")
    unknown = set(spec) - {"format", "quality", "size", "mode"}
    if unknown:
        raise ConfigError(f"data.normalize has unknown keys {sorted(unknown)}; {FIX}.")
    fmt = FORMATS.get(str(spec.get("format", "png")).lower())
    if fmt is None:
        raise ConfigError(f"data.normalize format {spec.get('format')!r} is not png or jpeg; {FIX}.")
    quality = spec.get("quality")
    if fmt == "JPEG":
        quality = DEFAULT_JPEG_QUALITY if quality is None else int(quality)
        if not 1 <= quality <= 100:
            raise ConfigError(f"data.normalize quality {quality} is outside 1-100; {FIX}.")
    elif quality is not None:
        raise ConfigError(f"data.normalize quality applies to jpeg only, not {fmt.lower()}; drop it or {FIX}.")
    size = int(spec.get("size") or resolution)
    if size < 1:
        raise ConfigError(f"data.normalize size {size} is not a positive pixel count; {FIX}.")
    mode = spec.get("mode") or ("RGB" if channels == 3 else "L")
    if mode not in ("L", "RGB"):
        raise ConfigError(f"data.normalize mode {mode!r} is neither L nor RGB; {FIX}.")
    return {"format": fmt.lower(), "quality": quality, "size": size, "mode": mode}


def encode(image: np.ndarray, spec: Mapping[str, Any]) -> bytes:
    """A uint8 ``[H, W, C]`` image saved as the setting's format (no metadata: no EXIF, no ICC)."""
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buf = io.BytesIO()
    if spec["format"] == "jpeg":
        pil.save(buf, "JPEG", quality=int(spec["quality"]))
    else:
        pil.save(buf, "PNG")
    return buf.getvalue()


def round_trip(images: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """In-memory images through the setting's encoding (identity for lossless PNG)."""
    if spec["format"] != "jpeg" or not len(images):
        return images
    out = []
    for img in images:
        with Image.open(io.BytesIO(encode(img, spec))) as dec:
            arr = np.asarray(dec.convert("L" if img.shape[-1] == 1 else "RGB"), dtype=np.uint8)
        out.append(arr[..., None] if arr.ndim == 2 else arr)
    return np.stack(out)


class NormalizedSource(Source):
    """``inner`` with every image re-encoded by the ``data.normalize`` setting ``spec`` (resolved)."""

    def __init__(self, inner: Source, spec: Mapping[str, Any], cache_dir: str | Path | None = None) -> None:
        super().__init__(inner.name)
        self.inner, self.spec = inner, dict(spec)
        self.kind = inner.kind
        self._given_dir = Path(cache_dir) if cache_dir else None
        self._temp_dir: Path | None = None
        self._failed: dict[str, str] = {}

    @property
    def _cache_dir(self) -> Path:
        if self._given_dir is not None:
            return self._given_dir
        # Without a data cache the re-encoded files live for this process only: made on first use (a source
        # that is never read leaves no folder behind) and removed when the source is collected or at exit.
        if self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="ganprint-normalized-"))
            weakref.finalize(self, shutil.rmtree, self._temp_dir, ignore_errors=True)
        return self._temp_dir

    def __getattr__(self, name: str) -> Any:
        # Everything else (e.g. a real source's content ``labels``) is the inner source's.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def out_dir(self) -> Path:
        spec = json.dumps({"source": self.inner.describe(), "normalize": self.spec}, sort_keys=True, default=str)
        return self._cache_dir / "normalized" / f"{self.name}-{hashlib.sha256(spec.encode()).hexdigest()[:20]}"

    def prepare(self) -> None:
        self.inner.prepare()

    def keys(self) -> list[str]:
        return self.inner.keys()

    def describe(self) -> dict:
        return {**self.inner.describe(), "normalize": self.spec}

    def _target(self, key: str) -> Path:
        return self.out_dir / f"{key.lstrip('/')}.{'jpg' if self.spec['format'] == 'jpeg' else 'png'}"

    def file_paths(self, keys: Sequence[str]) -> list[Path] | None:
        """The normalised file of each key (written on first use); None if the inner source has no files."""
        originals = source_paths(self.inner, keys)
        if originals is None:
            return None
        folder = folder_of(self.inner)
        crop = folder.crop if folder is not None else None
        channels = 3 if self.spec["mode"] == "RGB" else 1
        out = []
        for key, src in zip(keys, originals, strict=True):
            dst = self._target(key)
            # Written again when the original is newer (a folder refilled under the same file names).
            stale = dst.is_file() and src.is_file() and dst.stat().st_mtime_ns < src.stat().st_mtime_ns
            if (stale or not dst.is_file()) and key not in self._failed:
                try:
                    data = encode(decode_image(src, int(self.spec["size"]), channels, crop), self.spec)
                    atomic_write(dst, lambda tmp, data=data: tmp.write_bytes(data))
                except (ImageDecodeError, FileNotFoundError) as exc:
                    self._failed[key] = f"{src}: {exc}"
            out.append(dst)
        return out

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        paths = self.file_paths(keys)
        if paths is None:
            res = self.inner.load(keys, resolution, channels)
            return LoadResult(res.keys, round_trip(res.images, self.spec), res.skipped)
        images, ok, skipped = [], [], []
        for key, path in zip(keys, paths, strict=True):
            if key in self._failed:
                skipped.append((key, self._failed[key]))
                continue
            try:
                images.append(decode_image(path, resolution, channels, None))  # cropped when normalised
                ok.append(key)
            except (ImageDecodeError, FileNotFoundError) as exc:
                skipped.append((str(path), str(exc)))
        arr = np.stack(images) if images else np.zeros((0, resolution, resolution, channels), np.uint8)
        return LoadResult(ok, arr, skipped)
