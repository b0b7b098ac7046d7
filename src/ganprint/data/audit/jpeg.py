"""JPEG quality estimated from a file's quantization tables.

The IJG encoder (libjpeg, used by Pillow, OpenCV, most cameras' software paths) scales one standard table per
component by the quality factor, so a file's luminance table names its quality. The reference tables are
Pillow's own, made once by encoding a tiny image at every quality 1..100: they come in the order Pillow reports
a file's tables, whatever its version. A file saved with custom tables (some cameras, Photoshop) gets the
nearest IJG quality. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image


@lru_cache(maxsize=1)
def reference_tables() -> np.ndarray:
    """``[100, 64]``: Pillow's luminance quantization table at quality 1..100."""
    tiny = Image.new("L", (8, 8))
    out = []
    for q in range(1, 101):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as img:
            out.append(np.asarray(img.quantization[0], dtype=np.float64))
    return np.stack(out)


def estimate_quality(quantization: dict | None) -> int | None:
    """The IJG quality (1-100) whose luminance table is nearest the file's; None without tables."""
    if not quantization or 0 not in quantization or len(quantization[0]) != 64:
        return None
    table = np.asarray(quantization[0], dtype=np.float64)
    err = np.abs(reference_tables() - table).mean(axis=1)
    return int(np.argmin(err)) + 1
