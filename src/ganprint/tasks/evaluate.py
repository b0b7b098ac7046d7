"""Evaluating a saved attribution checkpoint on a source set (optionally perturbed, optionally under attack).

``perturb`` (conf/perturb/) changes the test images once, as data; ``attack`` (conf/attack/, e.g. PGD) needs the
model, so it is handed to the loaded module and applied in its test step. Either way the run record is the same
as a training run's, and its ``test/acc`` is the accuracy under the perturbation / attack. Called by
``ganprint.evaluate`` (the ``ganprint-eval`` entry point) and by the reproduction's in-process runner.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
from hydra.errors import InstantiationException
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


def build_attack(cfg: DictConfig):
    """The configured test-time attack (``cfg.attack``), or None for ``attack=none``."""
    spec = cfg.get("attack")
    if not spec:
        return None
    if "_target_" not in spec:
        raise ConfigError("`attack` has no `_target_`; choose a config with `attack=pgd` (or `attack=none`).")
    try:
        attack = hydra.utils.instantiate(spec)
    except InstantiationException as exc:  # e.g. a fraction outside [0, 1]: the cause names the key to fix
        raise ConfigError(str(exc.__cause__ or exc)) from exc
    log.info("evaluating under attack %s", attack)
    return attack


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-eval ckpt=/path/to/checkpoint.ckpt`.")
    datamodule: AttributionDataModule = hydra.utils.instantiate(cfg.data)
    module = load_attribution_module(cfg.ckpt, expected_sources=datamodule.source_names)
    module.attack = build_attack(cfg)
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
