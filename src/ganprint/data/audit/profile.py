"""What the training files looked like (the input profile stored in checkpoints), and whether a new file fits it.

A model trained only on 256x256 PNGs that is shown a 4000x3000 JPEG extrapolates; ``ganprint-attribute``
warns about such inputs. The profile holds the formats, colour modes and bit depths seen, the range of
original widths, heights and JPEG qualities, over the file-backed training sources (in-memory sources have no
files and add nothing). May be imported by anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def input_profile(rows_by_source: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, Any] | None:
    """The profile of readable property rows (``data/audit/properties.py``) per source; None without files."""
    rows = [r for rs in rows_by_source.values() for r in rs if r.get("format") != "unreadable"]
    if not rows:
        return None
    qualities = [r["jpeg_quality"] for r in rows if r.get("jpeg_quality") is not None]
    return {"sources": list(rows_by_source), "n_files": len(rows),
            "formats": sorted({r["format"] for r in rows}), "modes": sorted({r["mode"] for r in rows}),
            "bit_depths": sorted({int(r["bit_depth"]) for r in rows}),
            "width": [min(r["width"] for r in rows), max(r["width"] for r in rows)],
            "height": [min(r["height"] for r in rows), max(r["height"] for r in rows)],
            "jpeg_quality": [min(qualities), max(qualities)] if qualities else None}


def outside(profile: Mapping[str, Any], props: Mapping[str, Any]) -> list[str]:
    """How a file's properties lie outside ``profile`` (empty when they fit or the file is unreadable)."""
    if props.get("format") == "unreadable":
        return []
    out = []
    if props["format"] not in profile["formats"]:
        out.append(f"format {props['format']} (trained on {', '.join(profile['formats'])})")
    if props["mode"] not in profile["modes"]:
        out.append(f"mode {props['mode']} (trained on {', '.join(profile['modes'])})")
    if int(props["bit_depth"]) not in profile["bit_depths"]:
        out.append(f"{props['bit_depth']}-bit (trained on {', '.join(map(str, profile['bit_depths']))}-bit)")
    for dim in ("width", "height"):
        lo, hi = profile[dim]
        if not lo <= props[dim] <= hi:
            out.append(f"{dim} {props[dim]} (trained on {lo}-{hi})")
    q, qr = props.get("jpeg_quality"), profile.get("jpeg_quality")
    if q is not None and qr and not qr[0] <= q <= qr[1]:
        out.append(f"JPEG quality {q} (trained on {qr[0]}-{qr[1]})")
    return out
