"""A per-step schedule (the cpu scale's one-cycle) spans the run's own length, however the budget was set."""

from __future__ import annotations

import functools

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from ganprint.models.attnet import AttNet
from ganprint.models.module import AttributionModule


def test_one_cycle_gets_the_trainers_step_budget_and_ends_at_its_floor(tmp_path):
    torch.manual_seed(0)
    net = AttNet(3, 1, 8, fmap_base=16, fmap_max=8, fingerprint_dim=8, norm="batch")
    module = AttributionModule(
        net, ["a", "b", "c"], optimizer=functools.partial(torch.optim.Adam, lr=1e-2, betas=(0.0, 0.99)),
        scheduler=functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, pct_start=0.2,
                                    cycle_momentum=False))
    data = TensorDataset(torch.randn(64, 1, 8, 8), torch.randint(0, 3, (64,)))
    trainer = pl.Trainer(max_epochs=100, max_steps=12, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(data, batch_size=16))
    scheduler = trainer.lr_scheduler_configs[0]
    assert scheduler.interval == "step" and scheduler.scheduler.total_steps == 12
    assert trainer.global_step == 12
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr < 1e-2 / 20  # annealed towards its floor by the last step, not cut off mid-cycle at the peak


def _visnet_module(scheduler):
    from ganprint.models.visnet import VisNet
    from ganprint.models.visnet_module import VisNetModule

    net = VisNet(3, 1, 8, fmap_base=16, fmap_max=8, norm="batch")
    return VisNetModule(net, ["a", "b", "c"], figure_samples=0, scheduler=scheduler,
                        optimizer=functools.partial(torch.optim.Adam, lr=1e-2, betas=(0.0, 0.99)))


def _fit_visnet(module, n_images: int, tmp_path, **budget) -> pl.Trainer:
    """Fit on ``n_images`` random 8x8 images in batches of 16 under ``budget`` (max_epochs, max_steps)."""
    data = TensorDataset(torch.rand(n_images, 1, 8, 8) * 2 - 1, torch.randint(0, 3, (n_images,)))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path, **budget)
    trainer.fit(module, DataLoader(data, batch_size=16))
    return trainer


def test_visnet_one_cycle_spans_the_batches_of_a_step_budget_that_counts_two_steps_per_batch(tmp_path):
    torch.manual_seed(0)
    module = _visnet_module(functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, pct_start=0.2,
                                              cycle_momentum=False))
    trainer = _fit_visnet(module, 64, tmp_path, max_epochs=100, max_steps=24)
    assert trainer.global_step == 24 and int(module.ema_updates) == 12  # 12 batches, 2 optimizer steps each
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.total_steps == 12 and scheduler.last_epoch == 12
    eg_lr, critic_lr = (o.param_groups[0]["lr"] for o in trainer.optimizers)
    assert eg_lr < 1e-2 / 20  # the encoder-decoder's schedule ran to its end
    assert critic_lr == 1e-2  # the critic keeps its constant rate


def test_visnet_one_cycle_takes_the_epoch_budget_when_it_ends_first(tmp_path):
    module = _visnet_module(functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2,
                                              cycle_momentum=False))
    trainer = _fit_visnet(module, 48, tmp_path, max_epochs=2, max_steps=1000)
    assert trainer.lr_scheduler_configs[0].scheduler.total_steps == 6 and int(module.ema_updates) == 6
