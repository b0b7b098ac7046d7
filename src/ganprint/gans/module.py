"""``GANModule``: one LightningModule that trains any GAN family with manual optimization.

Each training step takes one real batch and makes one critic step on it; every ``n_dis``-th step is followed
by one generator step (so ``max_steps`` generator steps consume ``max_steps * n_dis`` batches). The module
keeps the generator EMA when the family asks for one (ProGAN), applies the family's learning-rate schedule and
per-tensor gradient clipping, logs ``train/d_loss``, ``train/g_loss`` (and the family's extra scalars), and
writes sample grids from a fixed latent batch as PNG (and to wandb when a WandbLogger is attached).
Imported by ``ganprint.gans.zoo`` and entry points; takes tensors only (PNG grids go to ``grid_dir``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from ganprint.errors import ConfigError

from .family import GANFamily
from .images import image_grid, save_png, to_uint8


class GANModule(pl.LightningModule):
    def __init__(
        self,
        family: GANFamily,
        max_steps: int,
        grid_every_n_steps: int = 0,
        grid_size: int = 64,
        grid_dir: str | Path | None = None,
        grid_seed: int = 0,
    ) -> None:
        super().__init__()
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 generator steps, got {max_steps}; set gan.max_steps.")
        self.automatic_optimization = False
        self.family = family
        self.max_steps = int(max_steps)
        self.grid_every_n_steps = int(grid_every_n_steps)
        self.grid_dir = Path(grid_dir) if grid_dir is not None else None
        self.g_ema: nn.Module | None = None
        if family.ema_beta:
            # Left in train mode like the rest of the module; sample_grid() and GanZoo switch it to eval.
            self.g_ema = copy.deepcopy(family.generator).requires_grad_(False)
        z = family.sample_latent(grid_size, generator=torch.Generator().manual_seed(grid_seed))
        self.register_buffer("fixed_z", z, persistent=False)
        self.images_seen = 0
        self.d_steps = 0
        self.g_steps = 0

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when the family keeps one (ProGAN's Gs)."""
        return self.g_ema if self.g_ema is not None else self.family.generator

    def configure_optimizers(self):
        opt_g, opt_d = self.family.make_optimizers()
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["base_lr"] = group["lr"]
        return [opt_g, opt_d]

    def _set_lr(self, *opts) -> None:
        factor = self.family.lr_factor(self.g_steps / self.max_steps)
        for opt in opts:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor

    def _optimizer_step(self, opt, loss_fn, real, module):
        """One step of ``opt`` on ``loss_fn(real)``, with only its own parameters trainable (toggle), clipped."""
        self.toggle_optimizer(opt)
        loss, logs = loss_fn(real)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self._clip(module)
        opt.step()
        self.untoggle_optimizer(opt)
        return loss, logs

    def _clip(self, module: nn.Module) -> None:
        clip = self.family.grad_clip
        if clip:  # per tensor, as tf.clip_by_norm on each gradient in the MMD-GAN code
            for p in module.parameters():
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], clip)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        fam = self.family
        opt_g, opt_d = self.optimizers()
        progress_logs = fam.set_progress(self.images_seen)
        self._set_lr(opt_g.optimizer, opt_d.optimizer)
        real = fam.preprocess_real(batch)

        d_loss, d_logs = self._optimizer_step(opt_d, fam.critic_loss, real, fam.critic)
        self.images_seen += real.shape[0]
        self.d_steps += 1
        logs = {"train/d_loss": d_loss.detach(), **{f"train/{k}": v for k, v in {**d_logs, **progress_logs}.items()}}

        if self.d_steps % fam.n_dis == 0:
            g_loss, g_logs = self._optimizer_step(opt_g, fam.generator_loss, real, fam.generator)
            self.g_steps += 1
            self._update_ema()
            logs["train/g_loss"] = g_loss.detach()
            logs.update({f"train/{k}": v for k, v in g_logs.items()})
            if self.grid_every_n_steps and self.g_steps % self.grid_every_n_steps == 0:
                self.write_grid(f"step_{self.g_steps:07d}")
        self.log_dict(logs, on_step=True, on_epoch=False, prog_bar=False, batch_size=real.shape[0])
        self.log("d_loss", d_loss.detach(), prog_bar=True, logger=False, on_step=True, on_epoch=False)

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.g_ema is None:
            return
        beta = float(self.family.ema_beta)
        for p_ema, p in zip(self.g_ema.parameters(), self.family.generator.parameters(), strict=True):
            p_ema.lerp_(p, 1.0 - beta)
        for b_ema, b in zip(self.g_ema.buffers(), self.family.generator.buffers(), strict=True):
            b_ema.copy_(b)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Images from the fixed latent batch, in [-1, 1], with the generator in eval mode."""
        gen = self.sampling_generator
        was_training = gen.training
        gen.eval()
        try:
            return gen(self.fixed_z)
        finally:
            gen.train(was_training)

    def write_grid(self, tag: str) -> None:
        grid = image_grid(to_uint8(self.sample_grid()))
        if self.grid_dir is not None:
            save_png(grid, self.grid_dir / f"{tag}.png")
        try:
            from pytorch_lightning.loggers import WandbLogger
        except ImportError:  # pragma: no cover - wandb logger unavailable
            return
        for logger in self.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="samples", images=[grid], caption=[tag])

    def on_train_end(self) -> None:
        if self.grid_every_n_steps and self.g_steps % self.grid_every_n_steps:
            self.write_grid(f"step_{self.g_steps:07d}")
