"""Open-set attribution and calibration of a trained checkpoint: a protocol is a pair (known source set, unknown
source set).

The known sources are the checkpoint's (same names, same label order); the unknown sources were never trained
on. Both are loaded through one data module, known sources first, so the known splits are exactly the ones the
checkpoint was trained and tested on, and an unknown image that duplicates a known one is dropped by the data
module's de-duplication. What is fitted uses known sources only: Mahalanobis statistics on train, temperature and
thresholds on val (``metrics.openset.fit_open_set`` refuses anything else). Test (known + unknown) is only
measured. Writes ``metrics.json``, ``calibration.json`` (for ``ganprint-attribute open_set=true``),
``figures/reliability.png`` and ``manifest.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from ganprint.data import AttributionDataModule
from ganprint.errors import ConfigError
from ganprint.metrics.calibration import (
    calibrated_probs,
    expected_calibration_error,
    temperature_scaling_figure,
    temperature_scaling_report,
)
from ganprint.metrics.openset import (
    SCORES,
    OpenSetDetector,
    SplitOutputs,
    auroc_per_unknown_source,
    closed_set_accuracy,
    evaluate_open_set,
    fit_open_set,
)
from ganprint.models.checkpoint import load_attribution_module
from ganprint.models.inference import net_outputs
from ganprint.tasks.job import output_dir
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")


def pick_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def weights_digest(net: torch.nn.Module) -> str:
    """SHA-256 of a network's weights: ties a calibration.json to the exact checkpoint it was fitted for."""
    h = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_training_overlap(ckpt: str | Path, dm: AttributionDataModule) -> bool:
    """Refuse val/test images the checkpoint was trained on (its run's manifest.csv beside ``checkpoints/``).

    A run evaluated with other ``data.counts`` or ``data.split_seed`` than it was trained with draws its val and
    test images from the training images. Returns whether a training manifest was found to check against."""
    manifest = Path(ckpt).resolve().parent.parent / "manifest.csv"
    if not manifest.is_file():
        log.warning("no training manifest beside %s; cannot check that val/test images were not trained on", ckpt)
        return False
    with manifest.open(newline="") as fh:
        trained = {row["sha1"] for row in csv.DictReader(fh) if row["split"] == "train"}
    leaked = sum(1 for split, *_rest, h in dm.manifest.rows if split != "train" and h in trained)
    if leaked:
        raise ConfigError(f"{leaked} validation/test images here were training images of {ckpt} ({manifest}); use "
                          f"the scale (data.counts) and data.split_seed the checkpoint was trained with.")
    return True


def _instantiate_members(node) -> list:
    return [hydra.utils.instantiate(m) for m in (node or [])]


def build_datamodule(cfg: DictConfig) -> tuple[AttributionDataModule, list[str], list[str]]:
    """One data module over known then unknown sources; returns it with the known and unknown names."""
    # Known first: an unknown set may follow a key of the known one (unknown=lofo takes sources.holdout), and a
    # bad value should be reported under the key the user set.
    known = _instantiate_members(cfg.sources.members)
    if not cfg.get("unknown") or not cfg.unknown.get("members"):
        raise ConfigError("no unknown sources; pass `unknown=<set>` (a file in conf/unknown/ with `members:`).")
    unknown = _instantiate_members(cfg.unknown.members)
    known_names, unknown_names = [s.name for s in known], [s.name for s in unknown]
    both = sorted(set(known_names) & set(unknown_names))
    if both:
        raise ConfigError(f"sources {both} are in both the known set ({cfg.sources.get('name')}) and the unknown set "
                          f"({cfg.unknown.get('name')}); an unknown source must be one the model never saw.")
    dm: AttributionDataModule = hydra.utils.instantiate(cfg.data, sources=[*known, *unknown])
    return dm, known_names, unknown_names


def split_outputs(net, dm: AttributionDataModule, split: str, num_known: int, batch_size: int, device,
                  max_images: int | None = None, seed: int = 0, logits: bool = True) -> SplitOutputs:
    """Outputs on one split; unknown sources get label -1 (and are left out of train and val)."""
    images, labels = dm.data[split]
    keep = labels < num_known if split != "test" else torch.ones_like(labels, dtype=torch.bool)
    idx = keep.nonzero().flatten()
    if max_images and len(idx) > max_images:
        g = torch.Generator().manual_seed(seed)
        idx = idx[torch.randperm(len(idx), generator=g)[:max_images]].sort().values
    wanted = [name for name, want in (("logits", logits), ("features", hasattr(net, "features"))) if want]
    out = net_outputs(net, images[idx], wanted, batch_size, device)
    y = labels[idx].clone()
    y[y >= num_known] = -1
    lg = out["logits"] if logits else torch.zeros(len(idx), num_known)
    return SplitOutputs(split, lg, y, out.get("features"))


def protocol_outputs(net, dm: AttributionDataModule, num_known: int, opts, seed: int
                     ) -> tuple[SplitOutputs | None, SplitOutputs, SplitOutputs]:
    """The network's outputs on train (fingerprints only, when the Mahalanobis score needs them), val and test."""
    device = pick_device(opts.get("device", "auto"))
    bs = int(opts.get("batch_size", 512))
    needs_train = "mahalanobis" in list(opts.get("scores") or SCORES) and hasattr(net, "features")
    train = (split_outputs(net, dm, "train", num_known, bs, device, opts.get("max_fit_images"), seed, logits=False)
             if needs_train else None)
    val = split_outputs(net, dm, "val", num_known, bs, device)
    test = split_outputs(net, dm, "test", num_known, bs, device)
    return train, val, test


def fit_detector(cfg: DictConfig, net, train: SplitOutputs | None, val: SplitOutputs, known_names: list[str],
                 unknown_names: list[str]) -> OpenSetDetector:
    """Temperature, thresholds and score statistics from train and val, tagged with the checkpoint they fit."""
    opts = cfg.get("openset") or {}
    det = fit_open_set(train, val, known_names, scores=list(opts.get("scores") or SCORES),
                       score=str(opts.get("score", "auto")), tpr=float(opts.get("tpr", 0.95)),
                       model_fingerprints=getattr(net, "model_fingerprints", None),
                       calibrate=bool(opts.get("calibrate", True)))
    det.info.update({"ckpt_path": str(cfg.ckpt), "weights_sha256": weights_digest(net),
                     "unknown_sources": unknown_names,
                     "protocol": f"{cfg.sources.get('name')}-vs-{cfg.unknown.get('name')}"})
    return det


def protocol_metrics(det: OpenSetDetector, val: SplitOutputs, test: SplitOutputs, test_sources: torch.Tensor,
                     unknown_names: list[str], n_bins: int) -> dict[str, float]:
    """The run record's metrics, under the names experiment specs read: ``test/acc*`` (closed set),
    ``calibration/*`` and ``openset/*``."""
    known = test.known()
    metrics = {f"test/{key}": v for key, v in closed_set_accuracy(known.logits, known.labels, det.source_names).items()}
    # Calibration is measured on known test images: unknown images have no right answer to be calibrated to.
    report = temperature_scaling_report(known.logits, known.labels, det.temperature, n_bins)
    metrics.update({f"calibration/{key}": v for key, v in report.items()})
    metrics["calibration/val_ece_before"] = expected_calibration_error(calibrated_probs(val.logits), val.labels, n_bins)
    metrics.update({f"openset/{key}": v for key, v in evaluate_open_set(det, test).items()})
    if len(unknown_names) > 1:  # with one unknown source these are the overall AUROCs again
        per_source = auroc_per_unknown_source(det, test, test_sources, unknown_names)
        metrics.update({f"openset/{key}": v for key, v in per_source.items()})
    return metrics


def openset(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-openset ckpt=/path/to/checkpoint.ckpt sources=... "
                          "unknown=...`.")
    opts = cfg.get("openset") or {}
    dm, known_names, unknown_names = build_datamodule(cfg)
    module = load_attribution_module(cfg.ckpt, expected_sources=known_names)
    dm.prepare_data()
    dm.setup()
    checked_training_overlap = check_training_overlap(cfg.ckpt, dm)
    train, val, test = protocol_outputs(module.net, dm, len(known_names), opts, int(cfg.get("seed") or 0))
    det = fit_detector(cfg, module.net, train, val, known_names, unknown_names)
    n_bins = int(opts.get("n_bins", 15))
    metrics = protocol_metrics(det, val, test, dm.data["test"][1], unknown_names, n_bins)

    out = output_dir(cfg)
    calibration_path = det.save(out / "calibration.json")
    known_test = test.known()
    figure = temperature_scaling_figure(known_test.logits, known_test.labels, det.temperature,
                                        out / "figures" / "reliability.png", n_bins)
    dm.manifest.write(out / "manifest.csv")
    RunRecord.from_config(
        cfg, start, cfg.get("task_name", "openset"), metrics=metrics, sources=known_names,
        unknown_sources=unknown_names, protocol=det.info["protocol"], ckpt_path=str(cfg.ckpt),
        score=det.score, thresholds=det.thresholds, tpr=det.tpr,
        # What was fitted on what: test images (known or unknown) never enter a fit.
        fitted_on=det.fitted_on, n_fit={"train": 0 if train is None else len(train.labels), "val": len(val.labels)},
        test_data_used_for_fitting=False, checked_against_training_manifest=checked_training_overlap,
        n_test={"known": int((test.labels >= 0).sum()), "unknown": int((test.labels < 0).sum())},
        calibration_path=str(calibration_path), figures={"reliability": str(figure)}, data=dm.summary(),
        counts=dm.manifest.counts(), manifest_sha256=dm.manifest.sha256,
    ).write(out)
    print_summary(metrics, det.available, round(det.tpr * 100))
    log.info("open-set calibration written to %s", calibration_path)
    return metrics


def print_summary(metrics: dict[str, float], scores: list[str], tag: int) -> None:
    table = Table(title=f"open set (closed-set acc {metrics['test/acc']:.4f}; ECE {metrics['calibration/ece_before']:.4f}"
                        f" -> {metrics['calibration/ece_after']:.4f} at T = {metrics['calibration/temperature']:.3f})")
    for col in ("score", "AUROC", f"FPR@{tag}TPR", "open-set acc", "known kept+right", "unknown rejected"):
        table.add_column(col, justify="right")
    for s in scores:
        table.add_row(s, *(f"{metrics[f'openset/{key}_{s}']:.4f}" for key in
                           ("auroc", f"fpr{tag}", "open_acc", "open_acc_known", "open_acc_unknown")))
    Console().print(table)
