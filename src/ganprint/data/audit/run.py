"""The shortcut audit of a source set: file properties per source, the metadata-only classifier, duplicates
across sources, and the warnings they give.

``audit_sources`` returns one JSON-able dict (the run record's ``data.audit``, and ``audit.json``) with a
``warnings`` list of one-paragraph texts; ``render`` prints it. The content-only score needs a model, so the
caller (``tasks/audit.py``) adds it under ``content``. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganprint.data.audit.classifier import DEFAULT_FEATURES, metadata_classifier
from ganprint.data.audit.phash import MIN_CORRELATION, correlation, near_duplicate_pairs
from ganprint.data.audit.properties import UNREADABLE, source_properties
from ganprint.data.audit.summary import LABELS, describe, summarize, top
from ganprint.data.sources.base import Source
from ganprint.data.sources.files import source_paths
from ganprint.data.splits import stable_seed

log = logging.getLogger(__name__)
FIX = ("rerun with `data.normalize={setting}`, which decodes every source, converts it to one colour mode, crops and "
       "resizes it by one path to one size and saves it the same way before splitting, and compare the "
       "accuracies{why}; better still, prepare every source the same way")
JPEG_WHY = (" (JPEG, not png: png would make the files alike but keep the JPEG artifacts already in one source's "
            "pixels, while JPEG at the lowest quality seen puts the same artifacts on top of everyone's)")
MAX_LISTED_PAIRS = 1000   # pairs kept in the record; the count is always exact


def pick_keys(keys: list[str], name: str, max_files: int | None) -> list[str]:
    """All keys, or a fixed random ``max_files`` of them (seeded by the source name), in key order."""
    if not max_files or len(keys) <= max_files:
        return keys
    pick = np.random.default_rng(stable_seed("audit-files", name)).choice(len(keys), size=max_files, replace=False)
    return [keys[i] for i in sorted(pick)]


def fix_text(strong: list[str], qualities: list[int]) -> str:
    """The fix: ``png`` unless JPEG compression is among what separates the sources (then JPEG at the lowest
    quality seen)."""
    if qualities and {"format", "jpeg_quality", "subsampling"} & set(strong):
        return FIX.format(setting=f"{{format:jpeg,quality:{min(qualities)}}}", why=JPEG_WHY)
    return FIX.format(setting="png", why="")


def metadata_warning(meta: Mapping[str, Any], summaries: Mapping[str, Any], margin: float,
                     qualities: list[int]) -> str:
    majority = meta["majority"]
    strong = [(p, a) for p, a in meta["per_property"].items() if a >= majority + margin]
    if "width" in dict(strong) and "height" in dict(strong):  # one size, said once
        strong = [(p, a) for p, a in strong if p != "height"]
    parts = [f"{LABELS.get(p, p)} alone {a * 100:.1f} % ({describe(p, summaries)})" for p, a in strong[:3]]
    if not parts:
        parts = ["no single property does it alone; their combination does"]
    recall = ", ".join(f"{n} {r * 100:.0f} %" for n, r in meta["per_source"].items())
    return (f"Shortcut: the file metadata alone (no pixels) predicts the source of {meta['test_acc'] * 100:.1f} % "
            f"of held-out files, where always answering the largest source gives "
            f"{majority * 100:.1f} % (the audit warns at {margin * 100:.0f} points above that): {'; '.join(parts)}. "
            f"Each source's files told from all others' (balanced accuracy, 50 % = chance): {recall}. "
            f"An attribution model can score this without learning any fingerprint. Fix: "
            f"{fix_text([p for p, _ in strong], qualities)}.")


def duplicate_warning(dups: Mapping[str, Any]) -> str:
    pairs = dups["pairs"]
    shown = "; ".join(f"{p['a_source']}:{p['a_path']} = {p['b_source']}:{p['b_path']}"
                      + ("" if p["exact"] else f" ({p['distance']} bits)") for p in pairs[:5])
    more = f" (first 5 of {dups['n_pairs']}; all in audit.json)" if dups["n_pairs"] > 5 else ""
    return (f"Duplicates: {dups['n_pairs']} images sit in two sources ({dups['n_exact']} byte-identical, the others "
            f"within {dups['max_distance']} bits of perceptual hash and correlated at least {dups['min_correlation']} on a "
            f"16x16 thumbnail): {shown}{more}. Each carries one picture under "
            f"two labels; the data module keeps the first copy of a pixel-identical image and drops the others, "
            f"near-duplicates stay in both. Fix: remove them from all but one source.")


def audit_sources(sources: Sequence[Source], cache_dir: str | None = None, margin: float = 0.2,
                  max_files: int | None = 10000, features: Sequence[str] = DEFAULT_FEATURES,
                  max_distance: int = 4, min_correlation: float = MIN_CORRELATION,
                  normalize: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Audit the files behind ``sources`` (in-memory sources are listed as such, never flagged)."""
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    per_source: dict[str, Any] = {}
    in_memory: list[str] = []
    file_sources: list[str] = []
    for source in sources:
        keys = source.keys()
        chosen = pick_keys(keys, source.name, max_files)
        paths = source_paths(source, chosen)
        if paths is None:
            in_memory.append(source.name)
            per_source[source.name] = {"kind": source.kind, "files": False, "n_images": len(keys)}
            continue
        # Files refilled under the same names must be read again: the source's stamp of sizes and times, if it has one.
        stamp = source.content_stamp(chosen) if hasattr(source, "content_stamp") else ""
        props = source_properties(source.name, {**source.describe(), "stamp": stamp}, chosen, paths, cache_dir)
        readable = [p for p in props if p.get("format") != UNREADABLE]
        per_source[source.name] = {"kind": source.kind, "files": True, "n_images": len(keys),
                                   "n_audited": len(props), "unreadable": len(props) - len(readable),
                                   "summary": summarize(readable)}
        label = len(file_sources)
        file_sources.append(source.name)
        for p in readable:
            rows.append({**p, "source": source.name})
            labels.append(label)
    summaries = {n: per_source[n]["summary"] for n in file_sources}
    result: dict[str, Any] = {"version": 1, "margin": margin, "normalize": dict(normalize) if normalize else None,
                              "sources": per_source, "in_memory": in_memory, "file_sources": file_sources,
                              "warnings": []}
    if len(file_sources) >= 2:
        meta = metadata_classifier(rows, np.array(labels), file_sources, features)
    else:
        meta = {"skipped": "fewer than two sources have files"
                           + (f" ({', '.join(in_memory)} are made in memory, one way, at the working resolution)"
                              if in_memory else "")}
    meta["flagged"] = "test_acc" in meta and meta["test_acc"] >= meta["majority"] + margin
    result["metadata"] = meta
    if meta["flagged"]:
        qualities = sorted({r["jpeg_quality"] for r in rows if r.get("jpeg_quality") is not None})
        result["warnings"].append(metadata_warning(meta, summaries, margin, qualities))
    candidates = near_duplicate_pairs([r["phash"] for r in rows], [r["source"] for r in rows], max_distance)
    listed = []
    for i, j, d in candidates:
        exact = rows[i]["sha1"] == rows[j]["sha1"]
        corr = 1.0 if exact else correlation(rows[i]["thumb"], rows[j]["thumb"])
        if corr >= min_correlation:
            listed.append({"a_source": rows[i]["source"], "a_path": rows[i]["path"], "b_source": rows[j]["source"],
                           "b_path": rows[j]["path"], "distance": d, "correlation": corr, "exact": exact})
    dups = {"max_distance": max_distance, "min_correlation": min_correlation, "n_candidates": len(candidates),
            "n_pairs": len(listed), "n_exact": sum(p["exact"] for p in listed), "pairs": listed[:MAX_LISTED_PAIRS]}
    result["duplicates"] = dups
    if listed:
        result["warnings"].append(duplicate_warning(dups))
    result["flagged"] = bool(result["warnings"])
    result["n_files"] = len(rows)
    result["seconds"] = time.perf_counter() - t0
    return result


def render(result: Mapping[str, Any]) -> str:
    """The audit as text: one line per source, the classifier scores, then each warning as a paragraph."""
    lines = ["Shortcut audit" + (f" (data normalised: {result['normalize']})" if result.get("normalize") else "")]
    for name, s in result["sources"].items():
        if not s["files"]:
            lines.append(f"  {name} ({s['kind']}): made in memory, no files: nothing to audit")
            continue
        sm = s["summary"]
        bad = f", {s['unreadable']} unreadable" if s["unreadable"] else ""
        lines.append(f"  {name} ({s['kind']}, {s['n_audited']} files{bad}): "
                     + " | ".join(top(sm, p) for p in ("format", "jpeg_quality", "size", "mode", "bit_depth",
                                                        "exif", "icc", "bytes_per_pixel")))
    meta = result["metadata"]
    if "test_acc" in meta:
        best = ", ".join(f"{LABELS.get(p, p)} {a * 100:.1f} %" for p, a in list(meta["per_property"].items())[:3])
        lines.append(f"  metadata-only classifier: {meta['test_acc'] * 100:.1f} % on {meta['n_test']} held-out files "
                     f"(majority class {meta['majority'] * 100:.1f} %, warns at +{result['margin'] * 100:.0f} points); "
                     f"best single properties: {best}")
    else:
        lines.append(f"  metadata-only classifier: not run ({meta['skipped']})")
    content = result.get("content")
    if content:
        if "test_acc" in content:
            lines.append(f"  content-only score (information, not a warning): {content['test_acc'] * 100:.1f} % "
                         f"({content['method']}; chance {content['chance'] * 100:.1f} %)")
        else:
            lines.append(f"  content-only score: not computed ({content.get('skipped')})")
    d = result["duplicates"]
    lines.append(f"  duplicates across sources: {d['n_pairs']} ({d['n_exact']} byte-identical; perceptual hash within "
                 f"{d['max_distance']} bits and thumbnail correlation >= {d['min_correlation']}; "
                 f"{d['n_candidates']} hash candidates)")
    lines.append(f"  {result['n_files']} files in {result['seconds']:.1f} s")
    lines += ["", *[f"WARNING: {w}" for w in result["warnings"]]] if result["warnings"] else ["  no shortcut found"]
    return "\n".join(lines)
