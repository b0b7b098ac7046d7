"""The attribution LightningDataModule: an ordered list of sources becomes labelled train/val/test tensors.

Label ``i`` is the ``i``-th source of the source set; that order is written into every checkpoint. Images are
decoded once, kept in memory as uint8 (the cpu scale fits easily) and cached on disk by a hash of what was
selected, so folders are decoded once across runs. Imports ``data/`` only; ``perturb`` callables come from
``transforms/`` through config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ganprint.data.manifest import Manifest, content_hash
from ganprint.data.normalize import NormalizedSource, resolve_normalize
from ganprint.data.sources.base import Source
from ganprint.data.splits import SPLITS, SplitCounts, split_keys, stable_seed
from ganprint.errors import ConfigError
from ganprint.utils.atomic import atomic_write
from ganprint.utils.pixels import to_signed

log = logging.getLogger(__name__)

# A perturbation takes a uint8 [N, H, W, C] batch and a seed and returns the same shape (transforms/).
Perturb = Callable[[np.ndarray, int], np.ndarray]


class LeakageError(RuntimeError):  # a bug, not a user error: never expected
    """An image appears in two splits."""


class ImageArrayDataset(Dataset):
    """uint8 images ``[N, C, H, W]`` and labels; items are float tensors in [-1, 1].

    ``perturb`` (training-time, e.g. immunization) is applied per item with a seed that changes every epoch,
    so fine-tuning sees fresh perturbations while staying reproducible for a given seed.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, perturb: Perturb | None = None,
                 seed: int = 0) -> None:
        self.images, self.labels, self.perturb, self.seed = images, labels, perturb, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        img = self.images[i]
        if self.perturb is not None:
            hwc = img.permute(1, 2, 0).numpy()[None]
            img = torch.from_numpy(np.ascontiguousarray(self.perturb(hwc, stable_seed(self.seed, self.epoch, i))[0]))
            img = img.permute(2, 0, 1)
        return to_signed(img), self.labels[i]


def to_float(images_uint8_nhwc: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` → float ``[N, C, H, W]`` in [-1, 1], the networks' input range."""
    return to_signed(torch.from_numpy(np.ascontiguousarray(images_uint8_nhwc)).permute(0, 3, 1, 2))


def describe(perturb: Perturb | None) -> dict | None:
    if perturb is None:
        return None
    return perturb.describe() if hasattr(perturb, "describe") else {"name": repr(perturb)}


class AttributionDataModule(pl.LightningDataModule):
    """Sources → labels, deterministic splits, in-memory uint8 tensors, manifest, leakage checks."""

    def __init__(
        self,
        sources: Sequence[Source],
        resolution: int = 32,
        channels: int = 1,
        counts: dict[str, int] | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 0,
        cache_dir: str | Path | None = None,
        train_perturb: Perturb | None = None,
        test_perturb: Perturb | None = None,
        perturb_seed: int = 0,
        normalize: str | dict | None = None,
        test_limit: int | None = None,
    ) -> None:
        super().__init__()
        sources = list(sources)
        names = [s.name for s in sources]
        if len(sources) < 2:
            raise ConfigError("a source set needs at least two sources to attribute between; see conf/sources/.")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"source names must be unique, {dup} repeat; rename them in the source set (conf/sources/).")
        # data.normalize (data/normalize.py): every source re-encoded one way before splitting; None when off.
        self.normalize = resolve_normalize(normalize, int(resolution), int(channels))
        if self.normalize is not None:
            sources = [NormalizedSource(s, self.normalize, cache_dir) for s in sources]
        self.sources = sources
        self.audit: dict[str, Any] | None = None  # the shortcut audit's result, when one ran (tasks/audit.py)
        self.resolution, self.channels = int(resolution), int(channels)
        counts = dict(counts or {"train": 1000, "val": 200, "test": 500})
        # Checked here, by name: a zero or negative count otherwise surfaces as "too few images", and a zero
        # batch size as a traceback from inside the DataLoader.
        for split in SPLITS:
            if int(counts[split]) < 1:
                raise ConfigError(f"scale.counts.{split} is {counts[split]}: each split needs at least one image per "
                                  f"source; set `scale.counts.{split}` (data.counts.{split}) to a positive number.")
        if int(batch_size) < 1:
            raise ConfigError(f"the batch size is {batch_size}; set `scale.batch_size` (data.batch_size) to a positive "
                              f"number of images.")
        self.counts = SplitCounts(int(counts["train"]), int(counts["val"]), int(counts["test"]))
        if test_limit is not None and int(test_limit) < 1:
            raise ConfigError(f"data.test_limit is {test_limit}: it caps the test images per source, so set it to a "
                              f"positive number or null (no cap).")
        # A cap, not a smaller counts.test: the split is drawn at the full counts and cut to its first images, so
        # train and val stay exactly the checkpoint's and a capped test split is a subset of the full one.
        self.test_limit = None if test_limit is None else int(test_limit)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or 4 * batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.split_seed = int(split_seed)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.train_perturb, self.test_perturb, self.perturb_seed = train_perturb, test_perturb, int(perturb_seed)
        self.data: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.manifest = Manifest()
        self.skipped: list[dict[str, str]] = []
        self.dropped_duplicates = 0
        self.batch_size_per_device = self.batch_size

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    @property
    def num_classes(self) -> int:
        return len(self.sources)

    # -- preparation --------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        for s in self.sources:
            s.prepare()

    def _cache_path(self, source: Source, keys: list[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        spec = {"source": source.describe(), "res": self.resolution, "ch": self.channels,
                "keys": hashlib.sha256("\n".join(keys).encode()).hexdigest()}
        stamp = source.content_stamp(keys) if hasattr(source, "content_stamp") else ""
        if stamp:  # only sources whose files can change add it, so existing caches of the others stay valid
            spec["content"] = stamp
        spec = json.dumps(spec, sort_keys=True, default=str)
        return self.cache_dir / "arrays" / f"{source.name}-{hashlib.sha256(spec.encode()).hexdigest()[:20]}.npz"

    def _load(self, source: Source, keys: list[str]) -> tuple[list[str], np.ndarray]:
        path = self._cache_path(source, keys)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    skipped = json.loads(str(z["skipped"]))
                    self.skipped.extend(skipped)
                    return [str(k) for k in z["keys"]], z["images"]
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring unreadable cache entry %s (%s); rebuilding it", path, exc)
        res = source.load(keys, self.resolution, self.channels)
        skipped = [{"source": source.name, "path": k, "reason": r} for k, r in res.skipped]
        for item in skipped:
            log.warning("skipped %s (%s): %s", item["path"], source.name, item["reason"])
        self.skipped.extend(skipped)
        if path is not None:
            def save(tmp: Path) -> None:
                with tmp.open("wb") as fh:
                    np.savez(fh, images=res.images, keys=np.array(res.keys, dtype=str),
                             skipped=np.array(json.dumps(skipped)))
            atomic_write(path, save)
        return res.keys, res.images

    def setup(self, stage: str | None = None) -> None:
        if self.data:
            return
        if self.trainer is not None and self.batch_size % self.trainer.world_size == 0:
            self.batch_size_per_device = self.batch_size // self.trainer.world_size
        elif self.trainer is not None:
            raise ConfigError(f"batch size {self.batch_size} is not divisible by the {self.trainer.world_size} "
                             f"devices; change `data.batch_size` or `trainer.devices`.")
        per_split: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {s: ([], []) for s in SPLITS}
        seen: dict[str, tuple[str, str]] = {}  # content hash -> (split, source) it was first assigned to
        for label, source in enumerate(self.sources):
            chosen = split_keys(source.keys(), source.name, self.counts, self.split_seed)
            if self.test_limit is not None:
                chosen["test"] = chosen["test"][: self.test_limit]
            for split in SPLITS:
                keys, images = self._load(source, chosen[split])
                hashes = [content_hash(im) for im in images]
                keep = []
                for j, h in enumerate(hashes):
                    first = seen.setdefault(h, (split, source.name))
                    # The same picture can sit under two keys (datasets have exact duplicates) or in two
                    # sources (a generator that reproduced a real image); it may only ever have one split and
                    # one label, so a later copy is dropped instead of leaking into val/test or another class.
                    if first != (split, source.name):
                        self.dropped_duplicates += 1
                    else:
                        keep.append(j)
                keys = [keys[j] for j in keep]
                images = images[keep]
                hashes = [hashes[j] for j in keep]
                self.manifest.add(split, source.name, label, keys, hashes)
                per_split[split][0].append(images)
                per_split[split][1].append(np.full(len(images), label, dtype=np.int64))
        self.check_no_leakage()
        for split, (imgs, labels) in per_split.items():
            x = np.concatenate(imgs)
            if split == "test" and self.test_perturb is not None:
                x = self.test_perturb(x, self.perturb_seed)
            self.data[split] = (torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous(),
                                torch.from_numpy(np.concatenate(labels)))
        if self.dropped_duplicates:
            log.info("dropped %d duplicate images that would have been in two splits", self.dropped_duplicates)

    def check_no_leakage(self) -> None:
        """Raise LeakageError if any content hash is in two splits or two sources."""
        where: dict[str, set[tuple[str, str]]] = {}
        for split, source, _label, _key, h in self.manifest.rows:
            where.setdefault(h, set()).add((split, source))
        leaked = [h for h, s in where.items() if len(s) > 1]
        if leaked:
            raise LeakageError(f"{len(leaked)} images are in more than one split or source (e.g. {leaked[0]}).")

    # -- loaders ------------------------------------------------------------------------------------
    def dataset(self, split: str) -> ImageArrayDataset:
        if not self.data:
            self.setup()
        images, labels = self.data[split]
        perturb = self.train_perturb if split == "train" else None
        return ImageArrayDataset(images, labels, perturb, seed=stable_seed(self.perturb_seed, "train"))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        bs = self.batch_size_per_device if split == "train" else self.eval_batch_size
        return DataLoader(self.dataset(split), batch_size=bs, shuffle=shuffle, drop_last=False,
                          num_workers=self.num_workers, pin_memory=self.pin_memory,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def summary(self) -> dict[str, Any]:
        """What goes into the run record about the data."""
        return {"sources": [s.describe() for s in self.sources], "counts": self.manifest.counts(),
                "manifest_sha256": self.manifest.sha256, "skipped": self.skipped,
                "dropped_duplicates": self.dropped_duplicates, "resolution": self.resolution,
                "channels": self.channels, "split_seed": self.split_seed,
                "test_perturb": describe(self.test_perturb), "train_perturb": describe(self.train_perturb),
                "normalize": self.normalize, **({"audit": self.audit} if self.audit is not None else {})}
