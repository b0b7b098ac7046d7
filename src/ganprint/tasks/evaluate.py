"""Evaluating a saved attribution checkpoint on a source set (optionally perturbed); same run record."""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
from omegaconf import DictConfig

from ganprint.data import AttributionDataModule
from ganprint.errors import ConfigError
from ganprint.models.checkpoint import load_attribution_module
from ganprint.tasks.job import output_dir
from ganprint.tasks.train import scalar_metrics
from ganprint.utils.config import config_hash, to_container
from ganprint.utils.instantiate import instantiate_group
from ganprint.utils.run_record import write_run_record

log = logging.getLogger("ganprint")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-eval ckpt=/path/to/checkpoint.ckpt`.")
    datamodule: AttributionDataModule = hydra.utils.instantiate(cfg.data)
    module = load_attribution_module(cfg.ckpt, expected_sources=datamodule.source_names)
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    trainer.test(module, datamodule=datamodule)
    metrics = scalar_metrics(trainer.callback_metrics)
    if trainer.is_global_zero:
        datamodule.manifest.write(output_dir(cfg) / "manifest.csv")
        write_run_record(
            output_dir(cfg), task=cfg.get("task_name", "eval"), status="ok", metrics=metrics,
            sources=datamodule.source_names, seed=cfg.get("seed"), ckpt_path=str(cfg.ckpt),
            confusion_matrix=trainer.callback_metrics.get("test/confusion_matrix"),
            response_matrix=trainer.callback_metrics.get("test/response_matrix"), data=datamodule.summary(),
            manifest_sha256=datamodule.manifest.sha256, config=to_container(cfg),
            config_sha256=config_hash(cfg), wall_time_s=time.time() - start, tags=list(cfg.get("tags") or []),
        )
        log.info("test/acc=%.4f", metrics.get("test/acc", float("nan")))
    return metrics
