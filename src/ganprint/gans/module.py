"""``GANModule``: one LightningModule that trains any GAN family with manual optimization.

Each training step takes one real batch and makes one critic step on it; every ``n_dis``-th step is followed
by one generator step (so ``max_steps`` generator steps consume ``max_steps * n_dis`` batches). The module
keeps the generator EMA when the family asks for one (ProGAN), applies the family's learning-rate schedule and
per-tensor gradient clipping, logs ``train/d_loss``, ``train/g_loss`` (and the family's extra scalars) every
``trainer.log_every_n_steps`` critic steps, and writes sample grids from a fixed latent batch as PNG (and to
wandb when a WandbLogger is attached). ``training_state``/``restore_training_state`` capture and restore
everything a killed run needs to continue bit for bit (weights, EMA, optimizers, counters, RNG states) as plain
tensors and numbers; ``GanZoo`` writes them to its resume checkpoint. Imported by ``ganprint.gans.zoo`` and
entry points; takes tensors only (PNG grids go to ``grid_dir``).
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from ganprint.errors import ConfigError
from ganprint.utils.loggers import log_images

from .family import GANFamily
from .images import image_grid, save_png, to_uint8
from .ops import clip_per_tensor


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
        self._g_logs: dict[str, torch.Tensor] = {}   # the last generator step's scalars, logged with the critic's
        self._pending: dict[str, Any] | None = None  # optimizer/RNG state of a resumed run, applied once fit starts

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
        clip_per_tensor(module, self.family.grad_clip)
        opt.step()
        self.untoggle_optimizer(opt)
        return loss, logs

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        if self._pending is not None and "rng" in self._pending:
            # Restored here, not earlier: Lightning draws from the global RNG while it sets up the loop, and the
            # uninterrupted run's next draw after the saved step is this step's latent batch.
            set_rng_states(self._pending.pop("rng"))
        fam = self.family
        opt_g, opt_d = self.optimizers()
        progress_logs = fam.set_progress(self.images_seen)
        self._set_lr(opt_g.optimizer, opt_d.optimizer)
        real = fam.preprocess_real(batch)

        d_loss, d_logs = self._optimizer_step(opt_d, fam.critic_loss, real, fam.critic)
        self.images_seen += real.shape[0]
        self.d_steps += 1

        if self.d_steps % fam.n_dis == 0:
            g_loss, g_logs = self._optimizer_step(opt_g, fam.generator_loss, real, fam.generator)
            self.g_steps += 1
            self._update_ema()
            self._g_logs = {"train/g_loss": g_loss.detach(), **{f"train/{k}": v for k, v in g_logs.items()}}
            if self.grid_every_n_steps and self.g_steps % self.grid_every_n_steps == 0:
                self.write_grid(f"step_{self.g_steps:07d}")
        if self._should_log():
            self._log_scalars({"train/d_loss": d_loss,
                               **{f"train/{k}": v for k, v in {**d_logs, **progress_logs}.items()}, **self._g_logs})

    def _should_log(self) -> bool:
        """On the steps Lightning hands metrics to the loggers (and the last one), so nothing logged is lost.

        Lightning flushes after the ``i``-th batch when ``(i + 1) % log_every_n_steps == 0``; ``d_steps`` is
        ``i + 1`` here (``on_train_start`` keeps that true for a resumed run). Logging every step instead
        costs a dozen ``self.log`` calls per step and, on a GPU, a host sync per step for the progress bar.
        """
        every = self.trainer.log_every_n_steps
        return bool(every) and (self.d_steps % every == 0 or self.d_steps == self.max_steps * self.family.n_dis)

    def _log_scalars(self, logs: dict[str, Any]) -> None:
        # One device->host copy for all scalars; logging CPU tensors keeps Lightning's per-batch progress-bar
        # conversion (``.item()`` on every logged prog_bar value, every batch) off the accelerator.
        names = list(logs)
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=self.device).detach().reshape(())
                              for v in logs.values()]).cpu()
        cpu = dict(zip(names, values.unbind(), strict=True))
        self.log_dict(cpu, on_step=True, on_epoch=False, prog_bar=False, batch_size=1)
        self.log("d_loss", cpu["train/d_loss"], prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=1)

    # --- resuming -----------------------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: plain tensors, numbers and lists only.

        Call between steps (``GanZoo`` does after a generator step); the optimizers must exist (inside fit).
        """
        opt_g, opt_d = self.optimizers()
        return {
            "counters": {"images_seen": int(self.images_seen), "d_steps": int(self.d_steps),
                         "g_steps": int(self.g_steps)},
            "model": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "opt_g": _cpu(opt_g.optimizer.state_dict()),
            "opt_d": _cpu(opt_d.optimizer.state_dict()),
            "rng": get_rng_states(),
        }

    def restore_training_state(self, state: dict[str, Any]) -> None:
        """Load a ``training_state`` before ``trainer.fit``; optimizer and RNG states are applied once fit starts.

        Raises ``ValueError`` or ``RuntimeError`` when the state does not fit this module (counters, weights,
        optimizer or RNG states); the weights may then be half-loaded, so the caller starts over with a new module.
        """
        try:
            counters = {k: int(state["counters"][k]) for k in ("images_seen", "d_steps", "g_steps")}
            model, opt_g_state, opt_d_state, rng = state["model"], state["opt_g"], state["opt_d"], state["rng"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"incomplete training state ({type(e).__name__}: {e})") from e
        g, d = counters["g_steps"], counters["d_steps"]
        if not (0 <= g <= self.max_steps and d == g * self.family.n_dis and counters["images_seen"] >= d):
            raise ValueError(f"inconsistent counters {counters} for {self.max_steps} steps, n_dis {self.family.n_dis}")
        # Dry-run the optimizer states on throwaway optimizers over the same parameters: a mismatch must show
        # now, while a fresh start is still possible, not as a crash in the middle of training.
        for opt, opt_state, params in zip(self.family.make_optimizers(), (opt_g_state, opt_d_state),
                                          (self.family.generator, self.family.critic), strict=True):
            opt.load_state_dict(opt_state)
            shapes = {id(p): p.shape for p in params.parameters()}
            for p, st in opt.state.items():
                for key, value in st.items():
                    if torch.is_tensor(value) and value.ndim and value.shape != shapes.get(id(p)):
                        raise ValueError(f"optimizer state {key!r} of shape {tuple(value.shape)} does not fit its "
                                         f"parameter")
        check_rng_states(rng)
        self.load_state_dict(model, strict=True)  # RuntimeError on missing/unexpected keys or shapes
        self.images_seen, self.d_steps, self.g_steps = counters["images_seen"], d, g
        self._pending = {"opt_g": opt_g_state, "opt_d": opt_d_state, "rng": rng}

    def on_train_start(self) -> None:
        if self._pending is None:
            return
        for opt, key in zip(self.optimizers(), ("opt_g", "opt_d"), strict=True):
            opt.optimizer.load_state_dict(self._pending.pop(key))
        # Continue Lightning's logging step where the killed run stopped (so log steps stay aligned with
        # ``_should_log`` and logger x-axes continue); private, hence guarded.
        epoch_loop = getattr(getattr(self.trainer, "fit_loop", None), "epoch_loop", None)
        if epoch_loop is not None and hasattr(epoch_loop, "_batches_that_stepped"):
            epoch_loop._batches_that_stepped = self.d_steps

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
        log_images(self.loggers, {"samples": grid}, caption=tag)

    def on_train_end(self) -> None:
        if self.grid_every_n_steps and self.g_steps % self.grid_every_n_steps:
            self.write_grid(f"step_{self.g_steps:07d}")


def _cpu(obj: Any) -> Any:
    """A copy of a (nested) optimizer state with tensors on the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def get_rng_states() -> dict[str, Any]:
    """The global torch (and CUDA), numpy and Python RNG states as tensors and numbers (``weights_only``-safe)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def check_rng_states(states: Any) -> None:
    """Raise ``ValueError`` unless ``states`` is what ``get_rng_states`` writes (so applying it cannot fail)."""
    try:
        ok = (states["torch"].dtype == torch.uint8 and states["torch"].shape == torch.get_rng_state().shape
              and states["numpy"]["keys"].shape == (624,) and len(states["python"]["state"]) == 625)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"malformed RNG states ({type(e).__name__}: {e})") from e
    if not ok:
        raise ValueError("malformed RNG states")


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = states["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
