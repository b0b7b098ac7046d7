"""The Source interface: a name and a way to get images.

A source lists stable keys for the images it can give (a file path, an index into a dataset) and loads any of
them as uint8 arrays at a requested resolution and channel count. Splits, labels and caching live in the data
module, so a source knows nothing of other sources. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LoadResult:
    """Images as uint8 ``[N, H, W, C]`` in the order of ``keys``; unreadable ones are listed in ``skipped``."""

    keys: list[str]
    images: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


class Source(ABC):
    """Base class of every source kind (``fashion_mnist``, ``folder``, ``synthetic``, ``generator``)."""

    kind: str = "source"

    def __init__(self, name: str) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("every source needs a non-empty `name`; set it in its conf/sources/*.yaml entry.")
        self.name = name

    @abstractmethod
    def keys(self) -> list[str]:
        """All image keys this source can give, in a fixed, deterministic order."""

    @abstractmethod
    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        """Load ``keys`` as uint8 ``[N, resolution, resolution, channels]``; skip (and report) bad images."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Make the images exist (train a generator, sample it). Called once, on rank 0, before ``keys``."""

    def describe(self) -> dict:
        """A JSON-able description that goes into the manifest and config hashes."""
        return {"name": self.name, "kind": self.kind}

    def content_stamp(self, keys: Sequence[str]) -> str:
        """What changes when the images behind ``keys`` change under the same keys (the decoded-array cache
        keys on it). Built-in and generator sources are immutable for a given description: nothing."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
