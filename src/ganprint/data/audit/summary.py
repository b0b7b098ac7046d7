"""Per-source summaries of file properties, and which sources a property separates.

A summary holds, for every property, the share of each value among the source's readable files (sizes as
``WxH``, JPEG qualities as ``q75``) and, for bytes per pixel, mean and standard deviation. ``describe`` turns a
property into the sentence the warning uses ("real is JPEG (100 %); progan, sngan are PNG (100 %)"). May be
imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LABELS = {"format": "container format", "jpeg_quality": "JPEG quality", "subsampling": "JPEG chroma subsampling",
          "size": "original size", "width": "original width", "height": "original height", "mode": "colour mode",
          "bit_depth": "bit depth", "exif": "EXIF presence", "icc": "ICC profile presence",
          "bytes_per_pixel": "file size per pixel"}
SHOWN = ("format", "jpeg_quality", "subsampling", "size", "mode", "bit_depth", "exif", "icc")


def value_text(prop: str, value: Any) -> str:
    if prop in ("jpeg_quality", "subsampling") and value in (None, "None"):
        return "not JPEG"
    if prop == "jpeg_quality":
        return f"q{value}"
    if prop in ("exif", "icc"):
        return ("with " if value in (True, "True") else "no ") + ("EXIF" if prop == "exif" else "ICC profile")
    if prop == "bit_depth":
        return f"{value}-bit"
    return "—" if value in (None, "None") else str(value)


def shares(rows: Sequence[Mapping[str, Any]], prop: str) -> dict[str, float]:
    """Share of each value of ``prop`` among ``rows``, largest first."""
    if prop == "size":
        values = [f"{r['width']}x{r['height']}" for r in rows]
    else:
        values = [value_text(prop, r.get(prop)) for r in rows]
    counts = Counter(values)
    return {v: c / len(values) for v, c in counts.most_common()} if values else {}


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Value shares of every shown property, and bytes per pixel, over one source's readable files."""
    out: dict[str, Any] = {p: shares(rows, p) for p in SHOWN}
    bpp = np.array([r["bytes_per_pixel"] for r in rows], dtype=np.float64)
    out["bytes_per_pixel"] = {"mean": float(bpp.mean()), "std": float(bpp.std())} if len(bpp) else {}
    return out


def top(summary: Mapping[str, Any], prop: str, n: int = 2) -> str:
    """``"PNG (100 %)"``, or the two commonest values with their shares."""
    if prop == "bytes_per_pixel":
        s = summary.get("bytes_per_pixel") or {}
        return f"{s['mean']:.3g} ± {s['std']:.2g} bytes/pixel" if s else "—"
    items = list((summary.get(prop) or {}).items())[:n]
    return ", ".join(f"{v} ({share * 100:.0f} %)" for v, share in items) or "—"


def describe(prop: str, summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """Sources grouped by their commonest value of ``prop``: "real is JPEG (100 %); progan, sngan are PNG (100 %)"."""
    if prop in ("width", "height"):
        prop = "size"
    groups: dict[str, list[str]] = {}
    for name, summary in summaries.items():
        groups.setdefault(top(summary, prop, n=1), []).append(name)
    parts = [f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {value}" for value, names in groups.items()]
    return "; ".join(parts)
