"""``GanZoo``: train a generator on uint8 images and sample from its checkpoint (the generator source's backend).

``train`` builds the family from a plain spec dict (conf/gan/<family>.yaml's ``spec``), trains it with
Lightning under a fixed seed, writes ``samples.png`` (an 8x8 grid) and then, last and atomically,
``generator.pt``: a finished checkpoint therefore implies a finished run. ``sample`` rebuilds the generator
from the spec stored in the checkpoint and draws ``n`` images deterministically for a seed. The data layer
calls these through its own small protocol; this module knows nothing of sources, caches or manifests.

Killed runs resume. While training, ``train`` keeps ``out_dir/resume/last.ckpt`` (atomic; a whole training
state, see ``GANModule.training_state``) up to date; called again with the same images, spec, seed and sizes,
it continues from there: the same weights, optimizer moments, RNG states and position in the sequence of real
batches, so the finished generator is the one an uninterrupted run gives. It is an explicit state rather than
a Lightning checkpoint because Lightning's mid-epoch resume does not restore a plain sampler's position and its
checkpoints carry loop and callback objects; this one is plain tensors, loaded with ``weights_only=True``.
The folder is removed once ``generator.pt`` is written.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import logging
import shutil
import time
from collections.abc import Iterator, Mapping, Sized
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Sampler

from ganprint.errors import ConfigError
from ganprint.utils.precision import warn_if_emulated

from .checkpoint import (
    GeneratorCheckpointError,
    ResumeCheckpointError,
    load_generator_payload,
    load_resume,
    save_generator,
    save_resume,
)
from .family import GANFamily
from .images import TensorImageDataset, check_images, image_grid, save_png, to_uint8
from .module import GANModule
from .registry import build_family

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "generator.pt"
GRID_NAME = "samples.png"
# The generator source keeps this folder when it rebuilds an incomplete cache entry
# (ganprint.data.sources.generator.RESUME_DIR; the data layer does not import this package).
RESUME_DIR = "resume"
RESUME_NAME = "last.ckpt"
LATENT_CHUNK = 1024  # latents are drawn in fixed chunks, so the first k of n samples do not depend on n


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _SkipSampler(Sampler[int]):
    """``sampler``'s indices from the ``skip``-th on: a resumed run draws exactly the real batches that were left.

    Skipping iterates the seeded sampler rather than reseeding it, so the sequence is the uninterrupted run's
    (a few seconds for the paper scale's ~50M indices, once per resume).
    """

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, int(skip)

    def __len__(self) -> int:
        assert isinstance(self.sampler, Sized)
        return max(0, len(self.sampler) - self.skip)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)


class _ResumeCheckpoints(pl.Callback):
    """Writes the resume checkpoint after a generator step, every ``every_n_steps`` of them or ``every_s``
    seconds, whichever comes first (never after the last step: ``generator.pt`` follows at once)."""

    def __init__(self, path: Path, fingerprint: dict, every_n_steps: int, every_s: float,
                 prior_seconds: float, prior_cpu_seconds: float, attempt: int) -> None:
        self.path, self.fingerprint = path, fingerprint
        self.every_n_steps, self.every_s = int(every_n_steps or 0), float(every_s or 0)
        self.prior_seconds, self.prior_cpu_seconds, self.attempt = prior_seconds, prior_cpu_seconds, attempt
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        self.last_time = self.t0
        self.saves = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        g = module.g_steps
        if module.d_steps % module.family.n_dis or g >= module.max_steps:
            return  # only right after a generator step: the state is then a whole number of steps
        now = time.perf_counter()
        due_steps = self.every_n_steps and g % self.every_n_steps == 0
        due_time = self.every_s and now - self.last_time >= self.every_s
        if not (due_steps or due_time):
            return
        meta = {"g_steps": g, "max_steps": module.max_steps, "attempt": self.attempt,
                "train_seconds": self.prior_seconds + now - self.t0,
                "train_cpu_seconds": self.prior_cpu_seconds + time.process_time() - self.c0}
        save_resume(self.path, self.fingerprint, module.training_state(), meta)
        self.last_time, self.saves = time.perf_counter(), self.saves + 1


class GanZoo:
    """Trains and samples the in-project GANs.

    Args:
        accelerator, devices: passed to ``pl.Trainer`` (``"cpu"`` by default; ``"gpu"``/``"auto"`` at paper scale).
        logger: a Lightning logger (e.g. WandbLogger) or None; sample grids go to wandb when it is one.
        grid_every_n_steps: also write a training grid to ``out_dir/grids/`` every so many generator steps (0: off).
        num_threads: torch intra-op threads while training/sampling (None: leave as is).
        log_every_n_steps: critic steps between logged scalars (Lightning's setting; 0: none).
        resume_every_s, resume_every_n_steps: refresh ``out_dir/resume/last.ckpt`` at the first generator step
            after so many seconds, and every so many generator steps (0: off). Time is the default because a
            step lasts milliseconds at the cpu scale and about a second at the paper scale: 60 s bounds the
            work a kill loses to a minute at every scale, while a save (under a second even for the paper
            scale's ProGAN with its EMA and Adam moments) costs at most ~2% of the training time.
    """

    def __init__(self, accelerator: str = "cpu", devices: int | str = 1, logger: Any = None,
                 grid_every_n_steps: int = 0, num_threads: int | None = None, log_every_n_steps: int = 50,
                 resume_every_s: float = 60.0, resume_every_n_steps: int = 0) -> None:
        self.accelerator = accelerator
        self.devices = devices
        self.logger = logger
        self.grid_every_n_steps = grid_every_n_steps
        self.num_threads = num_threads
        self.log_every_n_steps = log_every_n_steps
        self.resume_every_s = resume_every_s
        self.resume_every_n_steps = resume_every_n_steps

    @property
    def device(self) -> torch.device:
        if self.accelerator in ("gpu", "cuda") or (self.accelerator == "auto" and torch.cuda.is_available()):
            return torch.device("cuda")
        return torch.device("cpu")

    # --- training -----------------------------------------------------------------------------------------
    @staticmethod
    def resolve_spec(spec: Mapping[str, Any], images: np.ndarray) -> dict:
        """The spec as a plain dict, with ``resolution``/``channels`` taken from the images when absent."""
        spec = copy.deepcopy(dict(spec))
        spec.pop("_target_", None)
        _, h, w, c = images.shape
        if h != w:
            raise ConfigError(f"GAN training images must be square, got {h}x{w}; set the source resolution.")
        for key, value in (("resolution", h), ("channels", c)):
            if spec.get(key) is None:
                spec[key] = value
            elif spec[key] != value:
                raise ConfigError(f"the training images have {key} {value} but the GAN spec says {spec[key]}; set "
                                 f"gan.spec.{key} (conf/gan/{spec.get('family', '<family>')}.yaml) to {value}.")
        return spec

    def train(self, images: np.ndarray, spec: Mapping[str, Any], seed: int, out_dir: Path, max_steps: int,
              batch_size: int, progress: bool = True, precision: str = "32-true") -> Path:
        """Train a generator on uint8 ``[N, H, W, C]`` images; return the path of its checkpoint.

        ``max_steps`` counts generator steps (each after ``n_dis`` critic steps on fresh real batches).
        Writes ``out_dir/samples.png`` and then ``out_dir/generator.pt``; ``out_dir/grids/`` when
        ``grid_every_n_steps`` is set. ``precision`` is Lightning's: ``"bf16-mixed"`` autocasts the critic and
        generator steps while weights and optimizer state stay fp32, and samples are drawn in fp32. Continues from
        ``out_dir/resume/last.ckpt`` when a killed call with the same arguments left one (its meta then has
        ``resumed_from_step`` > 0).
        """
        check_images(images, "GAN training images")
        if batch_size < 2:
            raise ConfigError(f"batch_size must be >= 2 for GAN training, got {batch_size}; set gan.batch_size.")
        spec = self.resolve_spec(spec, images)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        resume_path = out_dir / RESUME_DIR / RESUME_NAME
        # What the resume checkpoint must match to be continued (as JSON, the form it is stored in).
        fingerprint = json.loads(json.dumps({
            "spec": spec, "seed": int(seed), "max_steps": int(max_steps), "batch_size": int(batch_size),
            "precision": str(precision),
            "images": [list(images.shape), hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()],
        }, sort_keys=True, default=str))
        resume = self._read_resume(resume_path, fingerprint)
        warn_if_emulated(precision, self.accelerator, key=f"scale.gan.precision.{spec.get('family', '<family>')}")
        with _threads(self.num_threads):
            family, module, resume = self._build(spec, seed, max_steps, out_dir, resume, resume_path)
            start_step = module.g_steps
            prior = resume[0] if resume else {}
            if start_step:
                log.info("resuming generator %s (%s) from step %d of %d", out_dir.name, family.name, start_step,
                         max_steps)
            dataset = TensorImageDataset(images)
            n_batches = max_steps * family.n_dis
            sampler = RandomSampler(dataset, num_samples=n_batches * batch_size,
                                    generator=torch.Generator().manual_seed(seed))
            loader = DataLoader(dataset, batch_size=batch_size, drop_last=True, num_workers=0,
                                sampler=_SkipSampler(sampler, module.d_steps * batch_size))
            saver = _ResumeCheckpoints(resume_path, fingerprint, self.resume_every_n_steps, self.resume_every_s,
                                       float(prior.get("train_seconds", 0.0)),
                                       float(prior.get("train_cpu_seconds", 0.0)), int(prior.get("attempt", 0)) + 1)
            callbacks: list[pl.Callback] = [saver]
            if progress:
                from pytorch_lightning.callbacks import RichProgressBar

                callbacks.append(RichProgressBar())
            trainer = pl.Trainer(
                accelerator=self.accelerator, devices=self.devices, max_epochs=1, logger=self.logger or False,
                enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress,
                callbacks=callbacks, default_root_dir=str(out_dir), log_every_n_steps=self.log_every_n_steps,
                num_sanity_val_steps=0, precision=precision,
            )
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.fit(module, loader)
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
            if module.g_steps < max_steps:
                raise RuntimeError(f"GAN training stopped after {module.g_steps} of {max_steps} generator steps; "
                                   f"rerun the same call to continue from its last resume checkpoint.")
            generator = module.sampling_generator.cpu().eval()
            family = family.cpu()
            total_seconds = saver.prior_seconds + seconds
            meta = {
                "seed": int(seed), "max_steps": int(max_steps), "batch_size": int(batch_size),
                "n_train_images": len(images), "images_seen": module.images_seen, "d_steps": module.d_steps,
                "g_steps": module.g_steps, "train_seconds": round(total_seconds, 3),
                "train_cpu_seconds": round(saver.prior_cpu_seconds + cpu_seconds, 3),
                "images_per_second": round(module.images_seen / max(total_seconds, 1e-9), 2),
                "resumed_from_step": int(start_step), "attempts": saver.attempt,
                "resume_checkpoints_written": saver.saves, "precision": str(precision),
                "torch": torch.__version__,
            }
            grid = self.generate_images(generator, family, 64, seed, 64, torch.device("cpu"))
            save_png(image_grid(grid, nrow=8), out_dir / GRID_NAME)
            ckpt = save_generator(out_dir / CHECKPOINT_NAME, generator, family.spec(), meta)
            shutil.rmtree(resume_path.parent, ignore_errors=True)  # generator.pt is whole: nothing left to resume
            return ckpt

    @staticmethod
    def _read_resume(path: Path, fingerprint: dict) -> tuple[dict, dict] | None:
        """``(meta, state)`` of a resume checkpoint that continues this very training, else None.

        A corrupt, foreign or crafted file (or one from another training) is reported, removed and never used.
        """
        if not path.is_file():
            return None
        for stale in path.parent.glob("*.tmp"):  # a save killed mid-write
            stale.unlink(missing_ok=True)
        try:
            found, meta, state = load_resume(path)
        except ResumeCheckpointError as e:
            log.warning("%s", e)
            path.unlink(missing_ok=True)
            return None
        if found != fingerprint:
            diff = sorted(k for k in set(found) | set(fingerprint) if found.get(k) != fingerprint.get(k))
            log.warning("%s belongs to another training (different %s); training restarts from step 0 and "
                        "overwrites it.", path, ", ".join(diff) or "fingerprint")
            path.unlink(missing_ok=True)
            return None
        return meta, state

    def _build(self, spec: dict, seed: int, max_steps: int, out_dir: Path, resume: tuple[dict, dict] | None,
               resume_path: Path) -> tuple[GANFamily, GANModule, tuple[dict, dict] | None]:
        """Seed, build the family and module, and load ``resume`` into them; a state that does not fit is
        reported and the build starts over from scratch (the same seed, so as if it had never existed)."""
        pl.seed_everything(seed, workers=True, verbose=False)
        family = build_family(**spec)
        module = GANModule(family, max_steps, grid_every_n_steps=self.grid_every_n_steps,
                           grid_dir=out_dir / "grids", grid_seed=seed)
        if resume is None:
            return family, module, None
        try:
            module.restore_training_state(resume[1])
        except (ValueError, RuntimeError, TypeError, KeyError) as e:
            log.warning("%s does not fit this generator (%s); training restarts from step 0 and overwrites it.",
                        resume_path, str(e).splitlines()[0][:300])
            resume_path.unlink(missing_ok=True)
            return self._build(spec, seed, max_steps, out_dir, None, resume_path)
        return family, module, resume

    # --- sampling -----------------------------------------------------------------------------------------
    def load(self, ckpt_path: Path) -> tuple[nn.Module, GANFamily, dict]:
        """Rebuild ``(generator in eval mode, family, meta)`` from a checkpoint written by ``train``."""
        spec, meta, state = load_generator_payload(Path(ckpt_path))
        try:
            family = build_family(**spec)
            family.generator.load_state_dict(state, strict=True)
        except (ValueError, TypeError, RuntimeError, KeyError) as e:
            raise GeneratorCheckpointError(
                f"{ckpt_path} is not a ganprint generator checkpoint; delete it and rerun (its spec or weights do "
                f"not match this version: {str(e).splitlines()[0]}).") from e
        return family.generator.eval(), family, meta

    def info(self, ckpt_path: Path) -> dict:
        """``{"spec": ..., "meta": ...}`` of a checkpoint (train time, images/s, seed, ...), without building it."""
        spec, meta, _ = load_generator_payload(Path(ckpt_path))
        return {"spec": spec, "meta": meta}

    @staticmethod
    @torch.no_grad()
    def generate_images(generator: nn.Module, family: GANFamily, n: int, seed: int, batch_size: int = 256,
                        device: torch.device | str = "cpu") -> np.ndarray:
        """uint8 ``[n, H, W, C]`` images from ``generator`` (eval mode), latents drawn from ``seed``."""
        generator = generator.to(device).eval()
        rng = torch.Generator().manual_seed(int(seed))
        out = np.empty((n, family.resolution, family.resolution, family.channels), dtype=np.uint8)
        for c0 in range(0, n, LATENT_CHUNK):
            z = family.sample_latent(LATENT_CHUNK, generator=rng)[: n - c0]
            for b0 in range(0, len(z), batch_size):
                zb = z[b0: b0 + batch_size].to(device)
                out[c0 + b0: c0 + b0 + len(zb)] = to_uint8(generator(zb))
        return out

    def sample(self, ckpt_path: Path, n: int, seed: int, batch_size: int = 256) -> np.ndarray:
        """``n`` uint8 ``[n, H, W, C]`` samples; the same seed gives the same images."""
        if n < 0 or batch_size < 1:
            raise ConfigError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}.")
        with _threads(self.num_threads):
            generator, family, _ = self.load(ckpt_path)
            return self.generate_images(generator, family, n, seed, batch_size, self.device)
