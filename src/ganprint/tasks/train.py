"""Training an attribution model: fit, test the best checkpoint, write the run record."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from ganprint.callbacks import TrainingSpeed
from ganprint.data import AttributionDataModule
from ganprint.errors import ConfigError
from ganprint.models.checkpoint import (
    CheckpointError,
    check_finite_state,
    check_sources,
    load_net_weights,
    read_checkpoint,
)
from ganprint.models.inference import net_outputs
from ganprint.tasks.audit import audit_before_training
from ganprint.tasks.job import output_dir
from ganprint.utils.atomic import atomic_write, atomic_write_text
from ganprint.utils.config import config_hash, to_container
from ganprint.utils.ddp import single_run_argv_for_ranks
from ganprint.utils.instantiate import instantiate_group
from ganprint.utils.loggers import log_images
from ganprint.utils.precision import warn_if_emulated
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if not isinstance(v, torch.Tensor) or v.numel() == 1}


def build(cfg: DictConfig) -> tuple[AttributionDataModule, pl.LightningModule, pl.Trainer]:
    """Instantiate data module, model and trainer from a composed ``train.yaml``-style config."""
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    datamodule: AttributionDataModule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model, source_names=datamodule.source_names)
    n_out = model.net.spec().get("num_classes")
    if n_out != datamodule.num_classes:
        raise ConfigError(f"model has {n_out} outputs but the source set has "
                          f"{datamodule.num_classes} sources; leave `model.net.num_classes` at its default.")
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    warn_if_emulated(cfg.trainer.get("precision"), cfg.trainer.get("accelerator"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, model, trainer


def init_from_parent(model: pl.LightningModule, path: str, source_names: list[str]) -> None:
    """Start from a parent checkpoint's weights (fine-tuning, immunization); sources must match."""
    ckpt = read_checkpoint(path, key="init_ckpt")
    check_sources(ckpt["ganprint"].get("source_names") or [], source_names, path)
    state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    check_finite_state(state, path, key="init_ckpt")
    load_net_weights(model, state, path, strict_net=False)
    log.info("initialised from parent checkpoint %s", path)


CONFIG_STAMP = "config_sha256"   # beside the checkpoints: the config they were trained under
IDENTITY_STAMP = "identity_sha256"  # beside them too: the data and network they were trained on (see check_resume)


def identity_hash(cfg: DictConfig) -> str:
    """SHA-256 of what a resumed run must share with the run it continues: the data (sources, counts, splits,
    resolution, batch size) and the network. Training length, optimizer schedule and seed may change (resuming
    to train longer is what ``ckpt_path=`` is for)."""
    model = to_container(cfg.model) if cfg.get("model") is not None else {}
    data = _without_machine_keys(to_container(cfg.data) if cfg.get("data") is not None else {})
    return config_hash({"data": data, "net": model.get("net"), "model": model.get("_target_")}, ignore=())


MACHINE_KEYS = ("num_workers", "pin_memory", "eval_batch_size")   # how data is loaded here, not which data


def _without_machine_keys(node: Any) -> Any:
    """``node`` without cache folders and loader settings (at any depth): a run moved to another machine or
    cache directory still continues."""
    if isinstance(node, dict):
        return {k: _without_machine_keys(v) for k, v in node.items()
                if k not in MACHINE_KEYS and not str(k).endswith("cache_dir")}
    if isinstance(node, list):
        return [_without_machine_keys(v) for v in node]
    return node


def check_resume(cfg: DictConfig, path: str, source_names: list[str]) -> int:
    """The checks ``ckpt=`` and ``init_ckpt=`` get, for the Lightning checkpoint a run resumes from: loaded
    without running code, the same sources in the same order, finite weights, and (where the run that wrote it
    left its stamp) the same data and network. Returns the step it resumes at."""
    key = "ckpt_path" if cfg.get("ckpt_path") else "resume"
    ckpt = read_checkpoint(path, key=key)
    check_sources(ckpt["ganprint"].get("source_names") or [], source_names, path)
    check_finite_state(ckpt["state_dict"], path, key=key)
    stamp = Path(path).parent / IDENTITY_STAMP
    if stamp.is_file() and stamp.read_text().strip() != identity_hash(cfg):
        raise CheckpointError(f"{path} was trained on other data or another network than this config describes "
                              f"({stamp} differs); resume with the overrides of the run that wrote it, or start "
                              f"anew from its weights with `init_ckpt={path}`.")
    return int(ckpt.get("global_step", 0) or 0)


def resume_path(cfg: DictConfig, is_global_zero: bool = True) -> str | None:
    """``ckpt_path`` if given; else, with ``resume: auto``, the run directory's own ``last.ckpt`` left by an
    interrupted run (a reproduction re-runs a killed job in the same directory and continues it).

    Only a run of the same config continues: checkpoints stamped with another config hash (or none, from before
    stamps) would hand the new run the old run's weights and counters, so they are moved aside to
    ``checkpoints.stale-<hash>`` (kept, not deleted) and training starts anew."""
    if cfg.get("ckpt_path"):
        return str(cfg.ckpt_path)
    ckpts = output_dir(cfg) / "checkpoints"
    last = ckpts / "last.ckpt"
    if cfg.get("resume", "auto") != "auto" or not last.is_file():
        return None
    stamp = ckpts / CONFIG_STAMP
    have = stamp.read_text().strip() if stamp.is_file() else "unstamped"
    if have == config_hash(cfg):
        log.info("resuming from %s", last)
        return str(last)
    if is_global_zero:
        stale = ckpts.with_name(f"checkpoints.stale-{have[:12]}")
        n = 1
        while stale.exists():
            stale, n = ckpts.with_name(f"checkpoints.stale-{have[:12]}-{n}"), n + 1
        ckpts.rename(stale)
        log.warning("%s holds checkpoints of another config (%s); kept as %s, training this config from scratch",
                    ckpts, have[:12], stale.name)
    return None


def stamp_checkpoints(cfg: DictConfig) -> None:
    """Record which config the checkpoints about to be written belong to (see ``resume_path``)."""
    ckpts = output_dir(cfg) / "checkpoints"
    ckpts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ckpts / CONFIG_STAMP, config_hash(cfg))
    atomic_write_text(ckpts / IDENTITY_STAMP, identity_hash(cfg))


def publish_best(best: Path) -> Path:
    """Copy the best checkpoint to ``checkpoints/best.ckpt``: a fixed name later stages can point at."""
    target = best.parent / "best.ckpt"
    if best != target:
        atomic_write(target, lambda tmp: shutil.copyfile(best, tmp))
    return target


def last_checkpoint(trainer) -> str | None:
    """The ``last.ckpt`` the checkpoint callback left, or None when the run saved none."""
    cb = trainer.checkpoint_callback
    if cb is None or not getattr(cb, "dirpath", None):
        return None
    last = Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
    return str(last) if last.is_file() else None


def analyse(cfg: DictConfig, datamodule: AttributionDataModule, model: pl.LightningModule, trainer) -> dict:
    """FD ratio of the test fingerprints and, if asked, the t-SNE figure (``analysis.*`` in train.yaml)."""
    from ganprint.tasks import analysis

    opts = cfg.get("analysis") or {}
    out: dict[str, Any] = {}
    sx, sy = analysis.split_arrays(datamodule, "test")
    if opts.get("spectra"):
        for key, path in analysis.frequency_figures(sx, sy, datamodule.source_names, output_dir(cfg)).items():
            log_images(trainer.loggers, {f"figures/{key}": path})
    if not (opts.get("fd_ratio") or opts.get("tsne")) or not hasattr(model.net, "features"):
        return out
    feats = net_outputs(model.net, sx, ["features"])["features"].numpy()
    if opts.get("fd_ratio"):
        out.update(analysis.fd_ratio_metrics(feats, sy, datamodule.source_names, int(cfg.seed or 0)))
    if opts.get("tsne"):
        panels = {f"{type(model.net).__name__} image fingerprints": (feats, sy)}
        data = analysis.content_data(datamodule)
        if data is not None:
            from ganprint.models.baselines.content import embed_images, train_content_classifier

            content = train_content_classifier(*data, seed=int(cfg.seed or 0),
                                               cache_dir=f"{cfg.paths.cache_dir}/content_classifier",
                                               progress=False)
            cf = embed_images(content, sx)
            panels = {"content features (Inception role)": (cf, sy), **panels}
            out.update({f"test/content_{k.split('/')[1]}": v for k, v in
                        analysis.fd_ratio_metrics(cf, sy, datamodule.source_names, int(cfg.seed or 0)).items()})
        path = analysis.tsne_of_run(panels, datamodule.source_names, output_dir(cfg), int(cfg.seed or 0))
        log_images(trainer.loggers, {"figures/tsne": path})
    return out


def is_baseline(cfg: DictConfig) -> bool:
    from ganprint.models.baselines.base import Baseline

    return issubclass(hydra.utils.get_class(cfg.model._target_), Baseline)


def train(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if is_baseline(cfg):
        from ganprint.tasks.baseline import fit_baseline

        if cfg.get("seed") is not None:
            pl.seed_everything(int(cfg.seed), workers=True)
        datamodule = hydra.utils.instantiate(cfg.data)
        audit_before_training(cfg, datamodule)  # folder sources: the shortcut audit, into the run record
        return fit_baseline(cfg, datamodule, hydra.utils.instantiate(cfg.model), start)
    datamodule, model, trainer = build(cfg)
    audit_before_training(cfg, datamodule, trainer)
    if cfg.get("init_ckpt"):
        init_from_parent(model, cfg.init_ckpt, datamodule.source_names)
    for lg in trainer.loggers:
        lg.log_hyperparams({**to_container(cfg), "params/total": sum(p.numel() for p in model.parameters())})
    fit_time = 0.0
    resume, resumed_step = None, None
    single_run_argv_for_ranks(trainer.world_size)
    if cfg.get("train", True):
        t0 = time.time()
        resume = resume_path(cfg, trainer.is_global_zero)
        if resume is not None:
            resumed_step = check_resume(cfg, resume, datamodule.source_names)
        if trainer.is_global_zero:
            stamp_checkpoints(cfg)
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume, weights_only=True)
        fit_time = time.time() - t0
    train_metrics = scalar_metrics(trainer.callback_metrics)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and trainer.is_global_zero:
        best = str(publish_best(Path(best)))
    test_metrics: dict[str, Any] = {}
    confusion = None
    if cfg.get("test", True):
        if not best:
            log.warning("no best checkpoint found; testing the current weights")
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        confusion = trainer.callback_metrics.get("test/confusion_matrix")
        test_metrics = scalar_metrics(trainer.callback_metrics)
    if cfg.get("test", True) and trainer.is_global_zero:
        test_metrics.update(analyse(cfg, datamodule, model, trainer))
    speed = next((c for c in trainer.callbacks if isinstance(c, TrainingSpeed)), None)
    metrics = {**train_metrics, **test_metrics}
    if speed is not None and speed.seconds > 0:
        metrics["train/images_per_s"] = speed.images_per_s
    if trainer.is_global_zero:
        datamodule.manifest.write(output_dir(cfg) / "manifest.csv")
        RunRecord.from_config(
            cfg, start, cfg.get("task_name", "train"), metrics=metrics,
            sources=datamodule.source_names, ckpt_path=best,
            # The callback's last_model_path is what was restored with the best checkpoint for testing (often
            # ""), not the file on disk.
            last_ckpt=last_checkpoint(trainer),
            confusion_matrix=confusion, response_matrix=trainer.callback_metrics.get("test/response_matrix"),
            data=datamodule.summary(),
            manifest_sha256=datamodule.manifest.sha256, global_step=trainer.global_step,
            epochs=trainer.current_epoch, fit_time_s=fit_time,
            # A resumed fit is not bit-exact with an uninterrupted one (data order and RNG restart): say so.
            resumed_from=resume, resumed_at_step=resumed_step,
        ).write(output_dir(cfg))
        log.info("test/acc=%.4f  run record: %s", metrics.get("test/acc", float("nan")), output_dir(cfg) / "metrics.json")
    return metrics
