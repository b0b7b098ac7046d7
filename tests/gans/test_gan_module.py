"""GANModule: critic/generator step accounting, logged keys, EMA, sample grids (PNG, wandb guard)."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, WandbLogger
from torch.utils.data import DataLoader

from ganprint.gans import GANModule, TensorImageDataset, build_family, image_grid, to_uint8


def fit(module: GANModule, n_batches: int, tmp_path, logger=False) -> pl.Trainer:
    images = np.random.default_rng(0).integers(0, 256, (8 * n_batches, 16, 16, 1), dtype=np.uint8)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         log_every_n_steps=1)
    trainer.fit(module, DataLoader(TensorImageDataset(images), batch_size=8, drop_last=True))
    return trainer


def test_dataset_maps_uint8_to_minus_one_one_and_back():
    imgs = np.array([[[[0], [255]], [[128], [1]]]], dtype=np.uint8)
    x = TensorImageDataset(imgs)[0]
    assert x.shape == (1, 2, 2) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert np.array_equal(to_uint8(x[None]), imgs)
    grid = image_grid(np.zeros((5, 4, 4, 1), np.uint8) + 255, nrow=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 1) and grid.sum() == 5 * 16 * 255


def test_critic_steps_then_generator_step_and_logged_keys(tmp_path):
    torch.manual_seed(0)
    fam = build_family("sngan", resolution=16, arch={"g_ch": 4, "d_ch": 4}, latent_dim=8, n_dis=3)
    module = GANModule(fam, max_steps=2, grid_every_n_steps=1, grid_dir=tmp_path / "grids", grid_size=4)
    g_before = [p.detach().clone() for p in fam.generator.parameters()]
    d_before = [p.detach().clone() for p in fam.critic.parameters()]
    trainer = fit(module, 6, tmp_path, logger=CSVLogger(tmp_path))
    assert (module.d_steps, module.g_steps, module.images_seen) == (6, 2, 48)
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"} <= set(trainer.callback_metrics)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, fam.generator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, fam.critic.parameters(), strict=True))
    grids = sorted(p.name for p in (tmp_path / "grids").glob("*.png"))
    assert grids == ["step_0000001.png", "step_0000002.png"]
    assert Image.open(tmp_path / "grids" / grids[0]).size == (2 * 18 + 2, 2 * 18 + 2)


def test_lr_schedule_reaches_zero_at_the_end(tmp_path):
    fam = build_family("sngan", resolution=8, arch={"g_ch": 2, "d_ch": 2}, latent_dim=4, n_dis=1,
                       optim={"decay_start": 0.5})
    module = GANModule(fam, max_steps=4)
    trainer = fit(module, 4, tmp_path)
    opt_g, _ = trainer.optimizers
    # lr is set before each step from the progress so far: step 4 ran at progress 3/4 -> factor 0.5.
    assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5)


def test_ema_generator_is_sampled_when_the_family_keeps_one(tmp_path):
    torch.manual_seed(0)
    fam = build_family("progan", resolution=16, arch={"fmap_base": 32, "fmap_max": 8}, latent_dim=8,
                       ema_beta=0.5, schedule={"lod_training_kimg": 0.008, "lod_transition_kimg": 0.008})
    module = GANModule(fam, max_steps=3)
    init = [p.detach().clone() for p in module.g_ema.parameters()]
    fit(module, 3, tmp_path)
    assert module.sampling_generator is module.g_ema
    ema, live = list(module.g_ema.parameters()), list(fam.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(init, ema, strict=True))
    assert any(not torch.allclose(a, b) for a, b in zip(ema, live, strict=True))
    assert float(module.g_ema.level) == float(fam.generator.level) > 2.0  # EMA carries the growing level


def test_grids_go_to_wandb_only_when_a_wandb_logger_is_attached(tmp_path, monkeypatch):
    class RecordingWandb(WandbLogger):
        def log_image(self, key, images, step=None, **kwargs):
            self.calls.append((key, images))

    wandb_logger = object.__new__(RecordingWandb)  # no wandb run: only log_image is exercised
    wandb_logger.calls = []
    fam = build_family("dcgan", resolution=8, arch={"g_ch": 2, "d_ch": 2}, latent_dim=4)
    module = GANModule(fam, max_steps=1, grid_dir=tmp_path, grid_size=9)
    monkeypatch.setattr(GANModule, "loggers", property(lambda self: [CSVLogger(tmp_path), wandb_logger]))
    module.write_grid("probe")
    assert (tmp_path / "probe.png").is_file()
    (key, images), = wandb_logger.calls
    assert key == "samples" and images[0].shape == (3 * 10 + 2, 3 * 10 + 2, 1)
    monkeypatch.setattr(GANModule, "loggers", property(lambda self: []))
    module.write_grid("no_logger")  # no logger at all: PNG only, no error
    assert (tmp_path / "no_logger.png").is_file()
