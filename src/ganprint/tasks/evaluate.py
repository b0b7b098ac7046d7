"""Evaluating a saved attribution checkpoint on a source set (optionally perturbed, optionally under attack).

``perturb`` (conf/perturb/) changes the test images once, as data; ``attack`` (conf/attack/, e.g. PGD) needs the
model, so it is handed to the loaded module and applied in its test step. Either way the run record is the same
as a training run's, and its ``test/acc`` is the accuracy under the perturbation / attack. Called by
``ganprint.evaluate`` (the ``ganprint-eval`` entry point) and by the reproduction's in-process runner.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from ganprint.data import AttributionDataModule
from ganprint.errors import ConfigError
from ganprint.models.checkpoint import load_attribution_module
from ganprint.tasks.job import output_dir
from ganprint.tasks.train import scalar_metrics
from ganprint.utils.instantiate import instantiate_group
from ganprint.utils.precision import warn_if_emulated
from ganprint.utils.run_record import RunRecord, training_config

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


def check_input_size(module, datamodule: AttributionDataModule, ckpt: str) -> None:
    """Refuse data of another resolution or channel count than the checkpoint's network takes."""
    spec = module.net.spec()
    res, ch = int(spec.get("resolution", datamodule.resolution)), int(spec.get("in_channels", datamodule.channels))
    if (res, ch) != (datamodule.resolution, datamodule.channels):
        trained = ((training_config(ckpt) or {}).get("scale") or {}).get("name")
        fix = f"pass `scale={trained}`" if trained else f"set `scale.resolution={res}` and `scale.channels={ch}`"
        raise ConfigError(f"{ckpt} takes {res}x{res} images with {ch} channel(s), but this config gives "
                          f"{datamodule.resolution}x{datamodule.resolution} with {datamodule.channels}; {fix} "
                          f"(the scale it was trained at).")


OVERLAP_FLAG = "allow_train_overlap"   # `+allow_train_overlap=true`: evaluate anyway, warn and record it


def check_test_overlap(cfg: DictConfig, datamodule: AttributionDataModule) -> dict[str, Any]:
    """How many test images the checkpoint trained on or selected its epoch with (its run's manifest.csv,
    beside ``checkpoints/``); refused unless ``+allow_train_overlap=true``, which warns and records it.

    Another ``scale.counts`` or ``data.split_seed`` than the training's draws test images from its training
    images, and the accuracy then measures memory, not attribution."""
    manifest = Path(str(cfg.ckpt)).resolve().parent.parent / "manifest.csv"
    if not manifest.is_file():
        log.warning("no training manifest beside %s; cannot check that the test images were not trained on",
                    cfg.ckpt)
        return {"checked": False, "manifest": None, "images": None}
    with manifest.open(newline="") as fh:
        seen = {row["sha1"]: row["split"] for row in csv.DictReader(fh) if row["split"] in ("train", "val")}
    leaked = [h for split, *_rest, h in datamodule.manifest.rows if split == "test" and h in seen]
    result = {"checked": True, "manifest": str(manifest), "images": len(leaked),
              "train": sum(seen[h] == "train" for h in leaked), "val": sum(seen[h] == "val" for h in leaked)}
    if leaked and not cfg.get(OVERLAP_FLAG, False):
        raise ConfigError(f"{len(leaked)} of the test images were training ({result['train']}) or validation "
                          f"({result['val']}) images of {cfg.ckpt} ({manifest}); evaluate with the scale "
                          f"(scale.counts) and data.split_seed it was trained with, or pass "
                          f"`+{OVERLAP_FLAG}=true` to evaluate anyway (recorded in the run record).")
    if leaked:
        log.warning("%d test images were seen in training (%s); evaluating anyway as %s=true asks",
                    len(leaked), manifest, OVERLAP_FLAG)
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-eval ckpt=/path/to/checkpoint.ckpt`.")
    datamodule: AttributionDataModule = hydra.utils.instantiate(cfg.data)
    module = load_attribution_module(cfg.ckpt, expected_sources=datamodule.source_names)
    check_input_size(module, datamodule, cfg.ckpt)
    module.attack = build_attack(cfg)
    loggers = instantiate_group(cfg.get("logger"))
    warn_if_emulated(cfg.trainer.get("precision"), cfg.trainer.get("accelerator"))
    trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=instantiate_group(cfg.get("callbacks")))
    # The test images are drawn before testing, so images the checkpoint trained on are refused before any
    # number is computed from them.
    datamodule.trainer = trainer
    datamodule.prepare_data()
    datamodule.setup("test")
    overlap = check_test_overlap(cfg, datamodule)
    trainer.test(module, datamodule=datamodule)
    metrics = scalar_metrics(trainer.callback_metrics)
    if trainer.is_global_zero:
        datamodule.manifest.write(output_dir(cfg) / "manifest.csv")
        RunRecord.from_config(
            cfg, start, cfg.get("task_name", "eval"), metrics=metrics,
            sources=datamodule.source_names, ckpt_path=str(cfg.ckpt),
            confusion_matrix=trainer.callback_metrics.get("test/confusion_matrix"),
            response_matrix=trainer.callback_metrics.get("test/response_matrix"), data=datamodule.summary(),
            manifest_sha256=datamodule.manifest.sha256, training_overlap=overlap,
        ).write(output_dir(cfg))
        log.info("test/acc=%.4f  run record: %s", metrics.get("test/acc", float("nan")),
                 output_dir(cfg) / "metrics.json")
    return metrics
