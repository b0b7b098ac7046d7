"""Deterministic per-source train/val/test splits.

Each source's images are drawn with a permutation seeded by (split seed, source name) alone, so an image's
split never depends on which other sources are present or in which order. May be imported by anything.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from ganprint.errors import ConfigError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts, identical across processes (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class SplitCounts:
    train: int
    val: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.val + self.test


def split_keys(keys: list[str], source_name: str, counts: SplitCounts, seed: int) -> dict[str, list[str]]:
    """Pick ``counts`` keys per split for one source.

    If the source has fewer images than asked, the counts shrink in proportion (and a warning says so); a
    split that would be empty is an error naming the config keys to change.
    """
    n = len(keys)
    want = counts
    if n < counts.total:
        frac = n / max(counts.total, 1)
        want = SplitCounts(int(counts.train * frac), int(counts.val * frac), int(counts.test * frac))
        log.warning("source %r has %d images, fewer than the %d asked for; using %s", source_name, n,
                    counts.total, want)
    if min(want.train, want.val, want.test) < 1:
        raise ConfigError(
            f"source {source_name!r} has {n} images: too few for train/val/test splits of {counts}. Add images "
            f"or lower `data.counts.train/val/test` (set by `scale`)."
        )
    perm = np.random.default_rng(stable_seed(seed, source_name)).permutation(n)
    bounds = np.cumsum([0, want.train, want.val, want.test])
    return {s: [keys[i] for i in perm[bounds[j] : bounds[j + 1]]] for j, s in enumerate(SPLITS)}
