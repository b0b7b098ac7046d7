"""What each image file is, read from the file itself: container format, JPEG quality and chroma subsampling,
original width x height, colour mode and bit depth, EXIF and ICC presence, bytes per pixel, a hash of its bytes,
a perceptual hash of its pixels and the small thumbnail that confirms a near-duplicate.

Each file is read once (its bytes hashed, then decoded from memory; JPEGs through Pillow's DCT-domain draft,
which decodes at 1/8 size for the thumbnail the perceptual hash needs) and the properties of a source are
cached as JSON beside the decoded arrays (``<cache>/audit/``), keyed like them by what the source is and which
keys were read. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, JpegImagePlugin

from ganprint.data.audit.jpeg import estimate_quality
from ganprint.data.audit.phash import phash, thumbnail
from ganprint.data.imageio import MAX_PIXELS, _to_mode
from ganprint.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)
VERSION = 2   # bump when a property changes meaning: old cache entries are then ignored
UNREADABLE = "unreadable"
SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
BIT_DEPTH = {"1": 1, "L": 8, "P": 8, "LA": 8, "PA": 8, "RGB": 8, "RGBA": 8, "RGBX": 8, "CMYK": 8, "YCbCr": 8,
             "LAB": 8, "HSV": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}


def file_properties(path: str | Path) -> dict[str, Any]:
    """The properties of one file; an unreadable one has ``format: unreadable`` and a ``reason``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"format": UNREADABLE, "reason": f"{type(exc).__name__}: {exc}"}
    out: dict[str, Any] = {"bytes": len(data), "sha1": hashlib.sha1(data).hexdigest()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > MAX_PIXELS or min(w, h) < 1:
                    return {**out, "format": UNREADABLE, "reason": f"{w}x{h} pixels is outside what is decoded"}
                fmt = str(img.format or "unknown")
                out.update({"format": fmt, "width": w, "height": h, "mode": img.mode,
                            # PNG keeps 16-bit samples in Pillow's 32-bit mode "I"
                            "bit_depth": 16 if (img.mode == "I" and fmt == "PNG") else BIT_DEPTH.get(img.mode, 8), "exif": bool(img.info.get("exif")),
                            "icc": bool(img.info.get("icc_profile")), "bytes_per_pixel": len(data) / (w * h),
                            "jpeg_quality": None, "subsampling": None})
                if fmt == "JPEG":
                    out["jpeg_quality"] = estimate_quality(getattr(img, "quantization", None))
                    out["subsampling"] = SUBSAMPLING.get(JpegImagePlugin.get_sampling(img))
                    img.draft("L", (64, 64))  # decode in the DCT domain at the smallest scale >= 64 px
                img.load()
                if img.mode in ("P", "PA", "RGBA", "LA", "I;16", "I;16B", "I;16L", "I", "F"):
                    img = _to_mode(img, 1)  # the same mode conversion the data module's decoder applies
                out["phash"] = phash(img)
                out["thumb"] = thumbnail(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return {**out, "format": UNREADABLE, "reason": f"{type(exc).__name__}: {exc}"}
    return out


def cache_file(cache_dir: str | Path | None, what: dict[str, Any], keys: Sequence[str], name: str) -> Path | None:
    if cache_dir is None:
        return None
    spec = json.dumps({"what": what, "keys": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
                       "version": VERSION}, sort_keys=True, default=str)
    return Path(cache_dir) / "audit" / f"{name}-{hashlib.sha256(spec.encode()).hexdigest()[:20]}.json"


def source_properties(name: str, describe: dict[str, Any], keys: Sequence[str], paths: Sequence[Path],
                      cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The properties of every file of one source (``key`` and ``path`` added), read or taken from the cache."""
    cache = cache_file(cache_dir, describe, keys, name)
    if cache is not None and cache.is_file():
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable audit cache %s (%s); reading the files again", cache, exc)
    rows = [{"key": k, "path": str(p), **file_properties(p)} for k, p in zip(keys, paths, strict=True)]
    if cache is not None:
        atomic_write_json(cache, rows)
    return rows
