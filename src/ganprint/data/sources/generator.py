"""The ``generator`` source: a GAN trained in-project on the real data, sampled into a cached PNG folder.

The data layer defines the small ``GeneratorBackend`` protocol it needs (train on uint8 images, sample from a
checkpoint); the GAN zoo (``ganprint.gans.zoo.GanZoo``) implements it and is passed in through config, so
``data/`` never imports ``gans/``. A generator and its samples live under
``<cache>/generators/<hash of everything that defines them>/``; asking again for the same generator reuses
them, a changed config gets a new entry, and an entry left half-written by a killed run is detected (no
completion marker) and rebuilt, except its ``resume/`` folder: there the backend keeps its resume checkpoint,
so a killed training continues where it stopped instead of starting over. A file lock keeps two processes
from building the same entry at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ganprint.data.sources.base import LoadResult, Source
from ganprint.data.sources.folder import FolderSource
from ganprint.data.splits import stable_seed
from ganprint.errors import ConfigError
from ganprint.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)
COMPLETE = "manifest.json"   # written last: its presence means the entry is whole
# The backend's resumable training state (ganprint.gans.zoo.RESUME_DIR): kept when an incomplete entry is rebuilt.
RESUME_DIR = "resume"


class GeneratorBackend(Protocol):
    """Trains into ``out_dir`` (``generator.pt`` last) and samples from it. A backend that can resume a killed
    training keeps its state under ``out_dir/RESUME_DIR`` and continues from it when asked again."""

    def train(self, images: np.ndarray, spec: Mapping[str, Any], seed: int, out_dir: Path, max_steps: int,
              batch_size: int, progress: bool = True, precision: str = "32-true") -> Path: ...

    def sample(self, ckpt_path: Path, n: int, seed: int, batch_size: int = 256) -> np.ndarray: ...

    def info(self, ckpt_path: Path) -> dict: ...


def training_subset(keys: Sequence[str], n: int | None, diff: int, seed: int) -> list[str]:
    """The real images a generator trains on: a base subset of ``n`` keys, with its last ``diff`` replaced by
    keys from outside it ("ProGANs trained on sets that differ by i images"). Deterministic in ``seed``;
    ``diff=0`` is the base subset itself, and every ``diff`` shares the base's first ``n - diff`` images."""
    keys = list(keys)
    perm = np.random.default_rng(stable_seed("gan-subset", seed)).permutation(len(keys))
    n = len(keys) if n is None else int(n)
    if not 0 <= diff <= n or n > len(keys) or (diff and n + diff > len(keys)):
        raise ConfigError(f"cannot take a training subset of {n} images differing by {diff} from {len(keys)} real "
                          f"images; lower `train_images` or `subset_diff` of the generator source.")
    chosen = list(perm[: n - diff]) + list(perm[n : n + diff])
    return [keys[i] for i in sorted(chosen)]


@contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class GeneratorSource(Source):
    """Images sampled from a generator trained on ``real``.

    ``gan``: the zoo config (``conf/gan/<family>.yaml``: ``spec``, ``max_steps``, ``batch_size``).
    ``train_seed``: the generator's training seed (the paper's "differ only by seed"). ``train_images`` and
    ``subset_diff``: its training subset (the paper's "differ by i images"). ``n_images`` samples are drawn
    with ``sample_seed``; the data module splits them like any other source.
    """

    kind = "generator"

    def __init__(self, name: str, real: Source, gan: Mapping[str, Any], backend: GeneratorBackend,
                 cache_dir: str | Path, n_images: int = 4000, train_seed: int = 0, sample_seed: int = 0,
                 train_images: int | None = None, subset_diff: int = 0, resolution: int = 32,
                 channels: int = 1, progress: bool = True) -> None:
        super().__init__(name)
        for key in ("spec", "max_steps", "batch_size"):
            if key not in gan:
                raise ConfigError(f"generator source {name!r}: its `gan` config lacks `{key}`; use a conf/gan/*.yaml.")
        self.real, self.backend = real, backend
        self.gan = json.loads(json.dumps(dict(gan), default=lambda o: dict(o) if isinstance(o, Mapping) else list(o)))
        self.cache_dir = Path(cache_dir)
        self.n_images, self.train_seed, self.sample_seed = int(n_images), int(train_seed), int(sample_seed)
        self.train_images = None if train_images is None else int(train_images)
        self.subset_diff = int(subset_diff)
        self.resolution, self.channels = int(resolution), int(channels)
        self.progress = progress
        self._folder: FolderSource | None = None

    # -- identity and cache ----------------------------------------------------------------------------
    def generator_id(self) -> dict[str, Any]:
        """Everything that defines the trained generator (not its name, not how many samples)."""
        return {"real": self.real.describe(), "gan": self.gan, "train_seed": self.train_seed,
                "train_images": self.train_images, "subset_diff": self.subset_diff,
                "resolution": self.resolution, "channels": self.channels}

    @property
    def entry_dir(self) -> Path:
        digest = hashlib.sha256(json.dumps(self.generator_id(), sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / "generators" / f"{self.gan['spec'].get('family', 'gan')}-{digest}"

    @property
    def samples_dir(self) -> Path:
        return self.entry_dir / f"samples_n{self.n_images}_s{self.sample_seed}"

    # -- building ----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        if (self.samples_dir / COMPLETE).is_file():
            return
        with file_lock(self.entry_dir.parent / f".{self.entry_dir.name}.lock"):
            ckpt = self.entry_dir / "generator.pt"
            if not (self.entry_dir / "trained.json").is_file():
                self._train(ckpt)
            if not (self.samples_dir / COMPLETE).is_file():
                self._sample(ckpt)

    def _train(self, ckpt: Path) -> None:
        if self.entry_dir.exists():
            resume = self.entry_dir / RESUME_DIR
            keep = resume.is_dir() and any(resume.iterdir())
            log.warning("generator cache entry %s is incomplete (a killed run?); rebuilding it%s", self.entry_dir,
                        ", continuing from its resume checkpoint" if keep else "")
            for child in self.entry_dir.iterdir():
                if keep and child == resume:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.entry_dir.mkdir(parents=True, exist_ok=True)
        self.real.prepare()
        real_keys = [k for k in self.real.keys() if not k.startswith("test:")]  # never the real test file
        keys = training_subset(real_keys, self.train_images, self.subset_diff, self.train_seed)
        images = self.real.load(keys, self.resolution, self.channels).images
        log.info("training generator %r (%s, seed %d) on %d real images -> %s", self.name,
                 self.gan["spec"].get("family"), self.train_seed, len(images), self.entry_dir)
        start = time.time()
        self.backend.train(images, self.gan["spec"], seed=self.train_seed, out_dir=self.entry_dir,
                           max_steps=int(self.gan["max_steps"]), batch_size=int(self.gan["batch_size"]),
                           progress=self.progress, precision=str(self.gan.get("precision", "32-true")))
        info = self.backend.info(ckpt)["meta"]
        atomic_write_json(self.entry_dir / "trained.json", {
            "generator": self.generator_id(), "train_wall_s": time.time() - start,  # this attempt only
            "resumed_from_step": int(info.get("resumed_from_step", 0)),
            "train_seconds_total": info.get("train_seconds"),  # all attempts, as the backend measured them
            "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
            "training_keys_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
            "info": info})

    def _sample(self, ckpt: Path) -> None:
        tmp = self.samples_dir.with_name(self.samples_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        images = self.backend.sample(ckpt, self.n_images, seed=self.sample_seed)
        for i, img in enumerate(images):
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(tmp / f"{i:06d}.png")
        trained = json.loads((self.entry_dir / "trained.json").read_text())
        atomic_write_json(tmp / COMPLETE, {"source": self.name, "family": self.gan["spec"].get("family"),
                                           "train_seed": self.train_seed, "train_images": self.train_images,
                                           "subset_diff": self.subset_diff, "sample_seed": self.sample_seed,
                                           "n_images": len(images), "checkpoint_sha256": trained["checkpoint_sha256"]})
        shutil.rmtree(self.samples_dir, ignore_errors=True)
        tmp.rename(self.samples_dir)

    # -- Source interface ----------------------------------------------------------------------------------
    def _as_folder(self) -> FolderSource:
        if self._folder is None:
            self.prepare()
            self._folder = FolderSource(self.name, self.samples_dir, crop=None)
        return self._folder

    def keys(self) -> list[str]:
        return self._as_folder().keys()

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        return self._as_folder().load(keys, resolution, channels)

    def describe(self) -> dict:
        return {**super().describe(), **self.generator_id(), "n_images": self.n_images,
                "sample_seed": self.sample_seed, "entry": self.entry_dir.name}
