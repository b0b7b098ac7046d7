"""GAN training throughput: a hand-written generator + critic loop against ganprint's ``GANModule`` in Lightning.

Both build the family from the same spec (conf/gan/<family>.yaml's ``spec``, e.g. DCGAN at the cpu scale), seed
it the same way and train on the same in-memory images with the same batch size: per step one critic step on a
real batch and, every ``n_dis`` steps, one generator step, with the family's own losses, optimizers, gradient
clipping and EMA. The plain loop freezes the critic during the generator step (as ``toggle_optimizer`` does)
and iterates a float ``TensorDataset``; Lightning runs ``GANModule`` with the Trainer ``GanZoo.train`` builds
(no progress bar, no checkpointing) over ``TensorImageDataset``. Throughput counts real images per second.
Imported by ``benchmarks.runner`` and ``benchmarks.gpu``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from benchmarks.timing import StepTimer, Window
from benchmarks.training import compare_training
from ganprint.errors import ConfigError
from ganprint.gans import GANModule, TensorImageDataset, build_family
from ganprint.gans.ops import clip_per_tensor
from ganprint.utils.config import CONFIG_DIR
from ganprint.utils.pixels import to_signed


def gan_spec(family: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """conf/gan/<family>.yaml's ``spec`` as a plain dict, ``overrides`` merged one level into nested dicts."""
    path = Path(CONFIG_DIR) / "gan" / f"{family}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"no GAN config {path}; pass --gan with one of {', '.join(names)}.")
    spec = OmegaConf.to_container(OmegaConf.load(path).spec, resolve=True)
    spec.pop("_target_", None)
    for key, value in (overrides or {}).items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return spec


def _images_nchw_float(images: np.ndarray) -> torch.Tensor:
    return to_signed(torch.from_numpy(images).permute(0, 3, 1, 2)).contiguous()


def plain_gan(spec: dict, images: np.ndarray, batch_size: int, warmup: int, steps: int, seed: int,
              device: torch.device) -> dict[str, float]:
    """Real images/s of the hand-written loop over ``steps`` timed critic steps after ``warmup``."""
    torch.manual_seed(seed)
    fam = build_family(**copy.deepcopy(spec)).to(device).train()
    opt_g, opt_d = fam.make_optimizers()
    g_ema = copy.deepcopy(fam.generator).requires_grad_(False) if fam.ema_beta else None
    loader = DataLoader(TensorDataset(_images_nchw_float(images)), batch_size=batch_size, shuffle=True,
                        drop_last=True, pin_memory=device.type == "cuda")
    batches = iter(loader)
    clip = fam.grad_clip
    window, images_seen = Window(device), 0
    for step in range(warmup + steps):
        if step == warmup:
            window.start()
        (real,) = next(batches)
        real = fam.preprocess_real(real.to(device, non_blocking=True))
        fam.set_progress(images_seen)
        d_loss, _ = fam.critic_loss(real)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        clip_per_tensor(fam.critic, clip)
        opt_d.step()
        images_seen += real.shape[0]
        if (step + 1) % fam.n_dis == 0:
            fam.critic.requires_grad_(False)
            g_loss, _ = fam.generator_loss(real)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            clip_per_tensor(fam.generator, clip)
            opt_g.step()
            fam.critic.requires_grad_(True)
            if g_ema is not None:
                with torch.no_grad():
                    for pe, p in zip(g_ema.parameters(), fam.generator.parameters(), strict=True):
                        pe.lerp_(p, 1.0 - float(fam.ema_beta))
    return window.stop(steps * batch_size)


def lightning_gan(spec: dict, images: np.ndarray, batch_size: int, warmup: int, steps: int, seed: int,
                  device: torch.device, root_dir: Path) -> dict[str, float]:
    """Real images/s of ``GANModule`` in the Trainer ``GanZoo.train`` uses, over the same timed steps."""
    torch.manual_seed(seed)
    fam = build_family(**copy.deepcopy(spec))
    n_batches = warmup + steps
    module = GANModule(fam, max_steps=max(1, n_batches // fam.n_dis), grid_every_n_steps=0, grid_seed=seed)
    dataset = TensorImageDataset(images)
    sampler = RandomSampler(dataset, num_samples=n_batches * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=0,
                        pin_memory=device.type == "cuda")
    timer = StepTimer(warmup, steps, batch_size)
    trainer = pl.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1,
                         logger=False, enable_checkpointing=False, enable_model_summary=False,
                         enable_progress_bar=False, callbacks=[timer], default_root_dir=str(root_dir),
                         log_every_n_steps=50, num_sanity_val_steps=0)
    trainer.fit(module, loader)
    return timer.measured()


def gan_training(family: str, overrides: dict[str, Any] | None, batch_size: int, warmup: int, steps: int,
                 repeats: int, seed: int, device: torch.device, root_dir: Path) -> dict:
    """``{"family", "spec", "params", "plain", "lightning"}``: medians of alternating repetitions."""
    from benchmarks.workload import RandomImageSource

    spec = gan_spec(family, overrides)
    n = (warmup + steps) * batch_size
    images = RandomImageSource("gan", n, seed=seed).load([f"gan:{i}" for i in range(n)], spec["resolution"],
                                                         spec["channels"]).images
    fam = build_family(**copy.deepcopy(spec))
    params = {"generator": sum(p.numel() for p in fam.generator.parameters()),
              "critic": sum(p.numel() for p in fam.critic.parameters())}
    runs = compare_training({
        "plain": lambda: plain_gan(spec, images, batch_size, warmup, steps, seed, device),
        "lightning": lambda: lightning_gan(spec, images, batch_size, warmup, steps, seed, device, root_dir),
    }, repeats)
    return {"family": family, "spec": spec, "params": params, "batch_size": batch_size, **runs}
