"""The manifest: every image a run used, with its source, label, split and content hash.

Written as CSV into the run directory; its SHA-256 goes into the run record, so two runs on the same data can
be recognised. May be imported by anything under ``ganprint``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np

from ganprint.utils.atomic import atomic_write_text

FIELDS = ("split", "source", "label", "key", "sha1")


def content_hash(image: np.ndarray) -> str:
    """SHA-1 of an image's uint8 pixels and shape (the same picture from two files hashes the same)."""
    h = hashlib.sha1(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


class Manifest:
    """Rows of (split, source, label, key, sha1)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, str, str]] = []

    def add(self, split: str, source: str, label: int, keys: list[str], hashes: list[str]) -> None:
        self.rows.extend((split, source, int(label), k, h) for k, h in zip(keys, hashes, strict=True))

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(self.rows)
        return buf.getvalue()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_csv().encode()).hexdigest()

    def write(self, path: str | Path) -> Path:
        return atomic_write_text(Path(path), self.to_csv())

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for split, source, *_ in self.rows:
            out.setdefault(split, {}).setdefault(source, 0)
            out[split][source] += 1
        return out
