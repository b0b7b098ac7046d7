"""The benchmark's workload, built through ganprint's real code path from the real configs.

``compose_train_cfg`` composes conf/train.yaml (the config ``ganprint-train`` runs) at a scale, with the attNet
sizes pinned, no experiment logger and the progress bar optional. From it come the ``AttributionModule`` (the
``model`` node), the ``pl.Trainer`` (``trainer`` node) with the ``callbacks`` node's callbacks, and the
``AttributionDataModule`` (``data`` node); only the sources are replaced by ``RandomImageSource``: seeded random
uint8 images held in memory, so the benchmark needs no dataset files and the timing does not depend on a disk.
Imported by the other ``benchmarks`` modules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from ganprint.data import AttributionDataModule
from ganprint.data.sources.base import LoadResult, Source
from ganprint.utils.config import CONFIG_DIR
from ganprint.utils.instantiate import instantiate_group
from ganprint.utils.pixels import to_signed


class RandomImageSource(Source):
    """``n`` seeded random uint8 images generated on demand; keys are ``"<name>:<i>"``.

    Every image is distinct (the data module drops duplicates), the same key always gives the same image, and
    the resolution and channels are whatever the data module asks for.
    """

    kind = "random"

    def __init__(self, name: str, n: int, seed: int = 0) -> None:
        super().__init__(name)
        self.n, self.seed = int(n), int(seed)

    def keys(self) -> list[str]:
        return [f"{self.name}:{i}" for i in range(self.n)]

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        idx = [int(k.rsplit(":", 1)[1]) for k in keys]
        images = np.empty((len(idx), resolution, resolution, channels), dtype=np.uint8)
        for j, i in enumerate(idx):
            rng = np.random.default_rng([self.seed, i])
            images[j] = rng.integers(0, 256, size=images.shape[1:], dtype=np.uint8)
        return LoadResult(list(keys), images)

    def describe(self) -> dict:
        return {**super().describe(), "n": self.n, "seed": self.seed}


def compose_train_cfg(scale: str, output_dir: Path, net: dict[str, int], batch_size: int,
                      progress_bar: bool = False, trainer: str = "default",
                      extra_overrides: Sequence[str] = ()) -> DictConfig:
    """conf/train.yaml at ``scale`` as ``ganprint-train scale=<scale> logger=none`` would see it."""
    overrides = [
        f"scale={scale}", "logger=none", f"trainer={trainer}", "sources=synthetic5",
        f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}/logs", f"paths.data_dir={output_dir}/data",
        f"scale.batch_size={batch_size}", f"scale.resolution={net['resolution']}",
        f"scale.channels={net['channels']}", f"scale.fmap_base={net['fmap_base']}",
        f"scale.fmap_max={net['fmap_max']}", f"scale.fingerprint_dim={net['fingerprint_dim']}",
        *([] if progress_bar else ["callbacks.progress_bar=null", "++trainer.enable_progress_bar=false"]),
        *extra_overrides,
    ]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name="train", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def build_datamodule(cfg: DictConfig, num_sources: int, counts: dict[str, int], seed: int = 0,
                     num_workers: int | None = None, pin_memory: bool | None = None) -> AttributionDataModule:
    """The ``data`` node's ``AttributionDataModule`` over ``num_sources`` in-memory random sources, set up.

    Each source holds exactly what its splits need, so ``counts`` are per source, as in conf/scale/*.yaml.
    """
    per_source = sum(counts.values())
    sources = [RandomImageSource(f"random{i}", per_source, seed=seed * 1000 + i) for i in range(num_sources)]
    kwargs = {"sources": sources, "counts": dict(counts), "cache_dir": None, "test_perturb": None,
              "train_perturb": None}
    if num_workers is not None:
        kwargs["num_workers"] = num_workers
    if pin_memory is not None:
        kwargs["pin_memory"] = pin_memory
    dm: AttributionDataModule = hydra.utils.instantiate(cfg.data, **kwargs)
    dm.setup("fit")
    return dm


def build_module(cfg: DictConfig, source_names: Sequence[str], seed: int) -> pl.LightningModule:
    """The ``model`` node's ``AttributionModule`` (attNet + Adam(1e-3, (0, 0.99))), seeded."""
    torch.manual_seed(seed)
    return hydra.utils.instantiate(cfg.model, source_names=list(source_names))


def build_trainer(cfg: DictConfig, extra_callbacks: Sequence[pl.Callback], max_batches: int,
                  **trainer_overrides) -> pl.Trainer:
    """The ``trainer`` node's ``pl.Trainer`` with the ``callbacks`` node's callbacks, for one short epoch.

    Validation is cut to one batch and the sanity check is off: they are never inside the timed window, and
    ModelCheckpoint (which monitors ``val/acc``) still sees a validation result at the epoch end.
    """
    callbacks = [*instantiate_group(cfg.get("callbacks")), *extra_callbacks]
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=False, max_epochs=1,
                                   limit_train_batches=max_batches, limit_val_batches=1, num_sanity_val_steps=0,
                                   **trainer_overrides)


def quiet_lightning() -> None:
    """Silence Lightning's per-Trainer banners and data-loader hints: a benchmark builds many Trainers."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def float_tensors(images_uint8_nchw: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` → float ``[N, C, H, W]`` in [-1, 1], once, as a plain loop over in-memory data does.

    The result has standard NCHW strides: with one channel the data module's tensors have a unit channel stride,
    which convolutions take for channels-last (a different, here faster, kernel), and batches sliced from them
    would not be comparable with collated ones.
    """
    x = torch.empty(images_uint8_nchw.shape, dtype=torch.float32, memory_format=torch.contiguous_format)
    return to_signed(images_uint8_nchw, out=x)
