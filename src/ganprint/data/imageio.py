"""Decoding image files of any mode into uint8 arrays of a fixed size and channel count.

Used by folder-like sources and by the attribution CLI. Every failure is returned as a reason string rather
than raised, so one bad file never aborts a batch. May be imported by anything.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Larger images are refused with a clear message instead of exhausting memory (decompression bombs).
MAX_PIXELS = 8192 * 8192

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(ValueError):
    """An image file that cannot be used; the message says why."""


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode (16-bit, palette, CMYK, alpha) to L or RGB without changing content scale."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8))
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        # Alpha is composited on black: the real data's background is black.
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("L" if channels == 1 else "RGB")


def center_square(img: Image.Image) -> Image.Image:
    """Centre crop to a square by the shorter side (the paper's LSUN preparation)."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def decode_image(
    path: str | Path,
    resolution: int,
    channels: int,
    crop: str | tuple[int, int, int, int] | None = "center",
) -> np.ndarray:
    """Read ``path`` as uint8 ``[resolution, resolution, channels]``.

    ``crop``: ``"center"`` (square by the shorter side), ``None`` (resize as is), or a box
    ``(left, top, right, bottom)`` in source pixels (the paper's CelebA crop). Raises ImageDecodeError.
    """
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}; fix `scale.channels`.")
    try:
        if path.stat().st_size == 0:
            raise ImageDecodeError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageDecodeError(
                        f"image too large ({w}x{h} pixels > {MAX_PIXELS}); downscale it first"
                    )
                if min(w, h) < 1:
                    raise ImageDecodeError("image has no pixels")
                img.load()
                img = _to_mode(img, channels)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"decompression bomb refused: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    if isinstance(crop, str) and crop == "center":
        img = center_square(img)
    elif crop is not None and not isinstance(crop, str):
        img = img.crop(tuple(int(v) for v in crop))
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def list_images(spec: str | Path) -> list[Path]:
    """Files named by a folder (recursive), a glob pattern or a single file, sorted, images only."""
    spec_str = str(spec)
    p = Path(spec_str).expanduser()
    if any(ch in spec_str for ch in "*?["):
        anchor = Path(p.anchor) if p.is_absolute() else Path(".")
        pattern = str(p.relative_to(anchor)) if p.is_absolute() else spec_str
        files = sorted(f for f in anchor.glob(pattern) if f.is_file())
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
    elif p.is_file():
        return [p]
    else:
        return []
    return [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
