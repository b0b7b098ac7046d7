"""Decoding image files of any mode into uint8 arrays of a fixed size and channel count.

Used by folder-like sources and by the attribution CLI. Every failure is returned as a reason string rather
than raised, so one bad file never aborts a batch. May be imported by anything.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Larger images are refused with a clear message instead of exhausting memory (decompression bombs).
MAX_PIXELS = 8192 * 8192
TOO_LARGE = "8192x8192 pixels"

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(ValueError):
    """An image file that cannot be used; the message says why."""


def bit_depth(img: Image.Image) -> int:
    """Bits per sample the file declares for an integer mode ("I;16*" or "I"): its full scale is 2**bits - 1.

    Taken from the file, never guessed from the pixel values: a dark 16-bit image (all values <= 255) is not
    an 8-bit one. PNG and PNM store at most 16 bits per sample in mode "I"; TIFF says so in its BitsPerSample
    tag; any other "I" image is taken as 32-bit."""
    if img.mode.startswith("I;16"):
        return 16
    if img.format in ("PNG", "PPM"):
        return 16
    tags = getattr(img, "tag_v2", None)
    if tags is not None and 258 in tags:
        bits = tags[258]
        return int(bits[0] if isinstance(bits, tuple) else bits)
    return 32


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode (16-bit, palette, CMYK, alpha) to L or RGB without changing content scale."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(2 ** bit_depth(img) - 1)
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
                    raise ImageDecodeError(f"image too large ({w}x{h} pixels, the limit is {TOO_LARGE}); downscale it "
                                           f"first")
                if min(w, h) < 1:
                    raise ImageDecodeError("image has no pixels")
                frames = int(getattr(img, "n_frames", 1) or 1)
                if frames > 1:
                    # Which frame would be attributed is a guess; a folder and a single file must agree on it.
                    raise ImageDecodeError(f"animated image ({frames} frames); save the frame to attribute as a PNG "
                                           f"first")
                img.load()
                img = _to_mode(img, channels)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own message quotes its limit, not the documented one this module enforces.
        raise ImageDecodeError(f"image too large (more than {TOO_LARGE}); downscale it first") from exc
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


def display_path(path: str | Path) -> str:
    """``path`` as printable text: bytes of a file name that are not valid UTF-8 (kept by Python as lone
    surrogates) become U+FFFD, so a report, a CSV or a JSON file can always be written."""
    return os.fsencode(str(path)).decode("utf-8", errors="replace")


def list_candidates(spec: str | Path) -> tuple[list[Path], list[dict[str, str]]]:
    """Every file named by ``spec`` (a file, a folder searched recursively or a glob), sorted, and the entries
    that cannot even be opened (broken symbolic links) as ``{"path", "reason"}``.

    Unlike ``list_images`` nothing is dropped by its extension: the attribution decodes every candidate and
    lists what fails with its reason, so a folder gives the same answer as passing its files one by one."""
    spec_str = str(spec)
    p = Path(spec_str).expanduser()
    if any(ch in spec_str for ch in "*?["):
        anchor = Path(p.anchor) if p.is_absolute() else Path(".")
        pattern = str(p.relative_to(anchor)) if p.is_absolute() else spec_str
        found = sorted(anchor.glob(pattern))
    elif p.is_dir():
        found = sorted(p.rglob("*"))
    elif p.is_file():
        return [p], []
    elif p.is_symlink():
        found = [p]
    else:
        return [], []
    files, skipped = [], []
    for f in found:
        if f.is_file():
            files.append(f)
        elif f.is_symlink() and not f.exists():
            skipped.append({"path": display_path(f), "reason": f"broken symbolic link (to {display_path(os.readlink(f))}); "
                                                               f"fix or remove the link"})
    return files, skipped


def _walk_files(root: str) -> list[str]:
    """Files under ``root``, recursively, as ``rglob("*")`` + ``is_file()`` finds them (symlinked folders not
    entered). ``scandir`` reads the file types from the directory listing; ``is_file()`` on each path costs a stat
    per file, which every job paid for every generator folder it opened (9,000 files each at the cpu scale)."""
    out, stack = [], [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    out.append(entry.path)
    return out


def list_images(spec: str | Path) -> list[Path]:
    """Files named by a folder (recursive), a glob pattern or a single file, sorted, images only."""
    spec_str = str(spec)
    p = Path(spec_str).expanduser()
    if any(ch in spec_str for ch in "*?["):
        anchor = Path(p.anchor) if p.is_absolute() else Path(".")
        pattern = str(p.relative_to(anchor)) if p.is_absolute() else spec_str
        files = sorted(f for f in anchor.glob(pattern) if f.is_file())
    elif p.is_dir():
        files = sorted(Path(f) for f in _walk_files(str(p)))
    elif p.is_file():
        return [p]
    else:
        return []
    return [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
