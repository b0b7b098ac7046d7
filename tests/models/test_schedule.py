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
