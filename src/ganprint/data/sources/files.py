"""Which sources are backed by image files, and where those files are.

The shortcut audit reads file properties (format, quality, size, mode) and ``data.normalize`` re-encodes files,
so both need the file behind each key. A ``folder`` source is files; a ``generator`` source is its cached PNG
samples folder; a ``subset`` source is its base's files; a source that defines ``file_paths(keys)`` (the
normalised wrapper of ``data.normalize``) names its own. ``fashion_mnist`` and ``synthetic`` sources are arrays made in memory: they
have no files, and ``folder_of`` returns None for them. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ganprint.data.sources.base import Source
from ganprint.data.sources.folder import FolderSource
from ganprint.data.sources.generator import GeneratorSource
from ganprint.data.sources.subset import SubsetSource


def folder_of(source: Source) -> FolderSource | None:
    """The folder source whose files back ``source``'s keys, or None for in-memory sources."""
    if isinstance(source, FolderSource) and source.kind == "folder":  # not a subclass that holds arrays
        return source
    if isinstance(source, GeneratorSource):
        # Samples are written once as PNGs into the generator's cache entry; the generator reads them back
        # through this folder source, so its keys are that folder's keys.
        return source._as_folder()
    if isinstance(source, SubsetSource):
        return folder_of(source.base)
    return None


def key_paths(folder: FolderSource, keys: Sequence[str]) -> list[Path]:
    """The file behind each key of a folder source (keys are relative to its root folder, or absolute)."""
    base = folder._base
    return [Path(k) if Path(k).is_absolute() else base / k for k in keys]


def source_paths(source: Source, keys: Sequence[str]) -> list[Path] | None:
    """The file behind each of ``keys``, or None when ``source`` makes its images in memory."""
    if hasattr(source, "file_paths"):
        return source.file_paths(keys)
    folder = folder_of(source)
    return None if folder is None else key_paths(folder, keys)


def has_files(source: Source) -> bool:
    return source_paths(source, []) is not None
