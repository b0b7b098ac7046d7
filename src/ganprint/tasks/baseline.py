"""Fitting a classical baseline through the same data module, splits and run record as the deep models."""

from __future__ import annotations

import logging
import time
from typing import Any

from omegaconf import DictConfig

from ganprint.data import AttributionDataModule
from ganprint.models.baselines.base import Baseline
from ganprint.tasks.analysis import content_data, fd_ratio_metrics, split_arrays
from ganprint.tasks.job import output_dir
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")


def fit_baseline(cfg: DictConfig, datamodule: AttributionDataModule, model: Baseline, start: float) -> dict[str, Any]:
    datamodule.prepare_data()
    datamodule.setup()
    tx, ty = split_arrays(datamodule, "train")
    vx, vy = split_arrays(datamodule, "val")
    sx, sy = split_arrays(datamodule, "test")
    if hasattr(model, "set_content_data") and getattr(model, "content_model", None) is None:
        data = content_data(datamodule)
        if data is not None:
            model.set_content_data(*data)
    t0 = time.time()
    model.fit(tx, ty, vx, vy)  # hyperparameters are chosen on val inside; test never enters fit
    fit_time = time.time() - t0
    names = datamodule.source_names
    metrics = {**model.evaluate(vx, vy, names, "val"), **model.evaluate(sx, sy, names, "test")}
    metrics["val/acc_best"] = metrics.get("val/acc")
    if cfg.get("analysis", {}).get("fd_ratio", True):
        metrics.update(fd_ratio_metrics(model.features(sx), sy, names, int(cfg.seed or 0)))
    pred = model.predict(sx)
    confusion = [[int(((sy == i) & (pred == j)).sum()) for j in range(len(names))] for i in range(len(names))]
    datamodule.manifest.write(output_dir(cfg) / "manifest.csv")
    RunRecord.from_config(
        cfg, start, cfg.get("task_name", "train"), metrics=metrics, sources=names, model=model.name,
        fit_report=model.fit_report(), confusion_matrix=confusion, data=datamodule.summary(),
        manifest_sha256=datamodule.manifest.sha256, fit_time_s=fit_time,
    ).write(output_dir(cfg))
    log.info("%s: test/acc=%.4f (selected %s)", model.name, metrics["test/acc"], model.selected_params)
    return metrics
