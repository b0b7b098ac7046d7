"""``GanZoo``: train a generator on uint8 images and sample from its checkpoint (the generator source's backend).

``train`` builds the family from a plain spec dict (conf/gan/<family>.yaml's ``spec``), trains it with
Lightning under a fixed seed, writes ``samples.png`` (an 8x8 grid) and then, last and atomically,
``generator.pt``: a finished checkpoint therefore implies a finished run. ``sample`` rebuilds the generator
from the spec stored in the checkpoint and draws ``n`` images deterministically for a seed. The data layer
calls these through its own small protocol; this module knows nothing of sources, caches or manifests.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from ganprint.errors import ConfigError

from .checkpoint import GeneratorCheckpointError, load_generator_payload, save_generator
from .family import GANFamily
from .images import TensorImageDataset, check_images, image_grid, save_png, to_uint8
from .module import GANModule
from .registry import build_family

CHECKPOINT_NAME = "generator.pt"
GRID_NAME = "samples.png"
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


class GanZoo:
    """Trains and samples the in-project GANs.

    Args:
        accelerator, devices: passed to ``pl.Trainer`` (``"cpu"`` by default; ``"gpu"``/``"auto"`` at paper scale).
        logger: a Lightning logger (e.g. WandbLogger) or None; sample grids go to wandb when it is one.
        grid_every_n_steps: also write a training grid to ``out_dir/grids/`` every so many generator steps (0: off).
        num_threads: torch intra-op threads while training/sampling (None: leave as is).
    """

    def __init__(self, accelerator: str = "cpu", devices: int | str = 1, logger: Any = None,
                 grid_every_n_steps: int = 0, num_threads: int | None = None, log_every_n_steps: int = 50) -> None:
        self.accelerator = accelerator
        self.devices = devices
        self.logger = logger
        self.grid_every_n_steps = grid_every_n_steps
        self.num_threads = num_threads
        self.log_every_n_steps = log_every_n_steps

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
              batch_size: int, progress: bool = True) -> Path:
        """Train a generator on uint8 ``[N, H, W, C]`` images; return the path of its checkpoint.

        ``max_steps`` counts generator steps (each after ``n_dis`` critic steps on fresh real batches).
        Writes ``out_dir/samples.png`` and then ``out_dir/generator.pt``; ``out_dir/grids/`` when
        ``grid_every_n_steps`` is set.
        """
        check_images(images, "GAN training images")
        if batch_size < 2:
            raise ConfigError(f"batch_size must be >= 2 for GAN training, got {batch_size}; set gan.batch_size.")
        spec = self.resolve_spec(spec, images)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with _threads(self.num_threads):
            pl.seed_everything(seed, workers=True, verbose=False)
            family = build_family(**spec)
            module = GANModule(family, max_steps, grid_every_n_steps=self.grid_every_n_steps,
                               grid_dir=out_dir / "grids", grid_seed=seed)
            dataset = TensorImageDataset(images)
            n_batches = max_steps * family.n_dis
            sampler = RandomSampler(dataset, num_samples=n_batches * batch_size,
                                    generator=torch.Generator().manual_seed(seed))
            loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=0)
            callbacks = []
            if progress:
                from pytorch_lightning.callbacks import RichProgressBar

                callbacks.append(RichProgressBar())
            trainer = pl.Trainer(
                accelerator=self.accelerator, devices=self.devices, max_epochs=1, logger=self.logger or False,
                enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress,
                callbacks=callbacks, default_root_dir=str(out_dir), log_every_n_steps=self.log_every_n_steps,
                num_sanity_val_steps=0,
            )
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.fit(module, loader)
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
            if module.g_steps < max_steps:
                raise RuntimeError(f"GAN training stopped after {module.g_steps} of {max_steps} generator steps.")
            generator = module.sampling_generator.cpu().eval()
            family = family.cpu()
            meta = {
                "seed": int(seed), "max_steps": int(max_steps), "batch_size": int(batch_size),
                "n_train_images": len(images), "images_seen": module.images_seen, "d_steps": module.d_steps,
                "g_steps": module.g_steps, "train_seconds": round(seconds, 3),
                "train_cpu_seconds": round(cpu_seconds, 3),
                "images_per_second": round(module.images_seen / max(seconds, 1e-9), 2),
                "torch": torch.__version__,
            }
            grid = self.generate_images(generator, family, 64, seed, 64, torch.device("cpu"))
            save_png(image_grid(grid, nrow=8), out_dir / GRID_NAME)
            return save_generator(out_dir / CHECKPOINT_NAME, generator, family.spec(), meta)

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
