"""Attributing image files with a trained checkpoint: batched, with a progress bar, a printed table and
CSV/JSON output. Unreadable files are reported and skipped; they never abort the batch.

With ``open_set=true`` and ``openset_calibration=<calibration.json from ganprint-openset>`` an image whose
open-set score falls below the threshold fitted on validation is attributed to "unknown"; probabilities are then
temperature-calibrated and each row also carries the score and the nearest known source."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import track
from rich.table import Table

from ganprint.data import to_float
from ganprint.data.imageio import ImageDecodeError, decode_image, display_path, list_candidates
from ganprint.errors import ConfigError, UserError
from ganprint.metrics.openset import NEEDS_FEATURES, UNKNOWN, OpenSetDetector
from ganprint.models.checkpoint import load_attribution_module
from ganprint.tasks.job import output_dir
from ganprint.tasks.openset import weights_digest
from ganprint.utils.atomic import atomic_write, atomic_write_json
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")


class NoInputError(UserError, FileNotFoundError):
    """Nothing to attribute."""


class NonFiniteOutputError(UserError, ValueError):
    """The network answered NaN or infinity: its probabilities mean nothing."""


def check_finite(probs: np.ndarray, files: list[Path]) -> None:
    """Refuse non-finite probabilities: an argmax over NaN names a source with confidence ``nan``."""
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        first = display_path(files[int(np.argmax(bad))])
        raise NonFiniteOutputError(f"the checkpoint gave non-finite probabilities for {int(bad.sum())} image(s) "
                                   f"(first: {first}); its weights are damaged or overflow, retrain it or pass "
                                   f"another `ckpt=`.")


def attribute_files(module, files: list[Path], crop, batch_size: int = 256, progress: bool = True,
                    detector: OpenSetDetector | None = None):
    """Predict every readable file; return (rows, skipped) with rows of path, source, probabilities.

    With an open-set ``detector`` the source may be "unknown", the probabilities are calibrated and rows gain
    ``nearest_source`` (the closed-set answer) and ``score``."""
    spec = module.net.spec()
    res, ch = int(spec["resolution"]), int(spec["in_channels"])
    names = module.source_names
    module.eval()
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    batches = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    for batch in track(batches, description="attributing", disable=not progress):
        arrays, ok = [], []
        for f in batch:
            try:
                arrays.append(decode_image(f, res, ch, crop))
                ok.append(f)
            except ImageDecodeError as exc:
                skipped.append({"path": display_path(f), "reason": str(exc)})
                log.warning("skipped %s: %s", display_path(f), exc)
        if not arrays:
            continue
        if detector is not None:
            rows.extend(_open_set_rows(module, detector, ok, to_float(np.stack(arrays))))
            continue
        with torch.inference_mode():
            probs = module(to_float(np.stack(arrays))).softmax(-1).numpy()
        check_finite(probs, ok)
        for f, p in zip(ok, probs, strict=True):
            k = int(p.argmax())
            rows.append({"path": display_path(f), "source": names[k], "probability": float(p[k]),
                         **{f"p_{n}": float(v) for n, v in zip(names, p, strict=True)}})
    return rows, skipped


def _open_set_rows(module, detector: OpenSetDetector, files: list[Path], x: torch.Tensor) -> list[dict[str, Any]]:
    names = module.source_names
    with torch.inference_mode():
        logits = module(x)
        features = module.net.features(x) if detector.score in NEEDS_FEATURES else None
        out = detector.predict(logits, features)
    check_finite(np.asarray(out["probs"], dtype=np.float64), files)
    labels = detector.label_names(out["pred"])
    rows = []
    for i, f in enumerate(files):
        p = out["probs"][i]
        k = int(out["nearest"][i])
        rows.append({"path": display_path(f), "source": labels[i], "probability": float(p[k]), "nearest_source": names[k],
                     "score": float(out["score"][i]),
                     **{f"p_{n}": float(v) for n, v in zip(names, p.tolist(), strict=True)}})
    return rows


def load_open_set(cfg: DictConfig, module) -> OpenSetDetector | None:
    """The open-set detector for ``open_set=true`` (None otherwise), checked against the checkpoint."""
    if not cfg.get("open_set", False):
        return None
    path = cfg.get("openset_calibration")
    if not path:
        raise ConfigError("open_set=true needs the calibration.json written by ganprint-openset for this checkpoint; "
                          "pass `openset_calibration=<openset run dir>/calibration.json`.")
    detector = OpenSetDetector.load(path)
    if detector.source_names != list(module.source_names):
        raise ConfigError(f"{path} was fitted for sources {detector.source_names} but the checkpoint has "
                          f"{list(module.source_names)}; pass the calibration.json ganprint-openset wrote for it.")
    want = detector.info.get("weights_sha256")
    if want and want != weights_digest(module.net):
        raise ConfigError(f"{path} was fitted for another checkpoint ({detector.info.get('ckpt_path')}) with the "
                          f"same sources; rerun ganprint-openset with `ckpt={cfg.ckpt}` and pass its calibration.json.")
    if detector.score in NEEDS_FEATURES and not hasattr(module.net, "features"):
        raise ConfigError(f"the {detector.score} score needs image fingerprints this network lacks; rerun "
                          f"ganprint-openset with openset.score=msp.")
    if cfg.get("open_set_score"):
        if cfg.open_set_score not in detector.thresholds:
            raise ConfigError(f"open_set_score={cfg.open_set_score} was not fitted in {path}; choose one of "
                              f"{list(detector.thresholds)}.")
        detector.score = str(cfg.open_set_score)
    return detector


def attribute(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-attribute ckpt=/path/to/model.ckpt input=DIR`.")
    if not cfg.get("input"):
        raise ConfigError("nothing to attribute; pass `input=<file|folder|glob>`.")
    module = load_attribution_module(cfg.ckpt)
    detector = load_open_set(cfg, module)
    files, unopenable = list_candidates(cfg.input)
    if not files and not unopenable:
        raise NoInputError(f"no files found at {display_path(cfg.input)}; pass an image, a folder or a glob as "
                           f"`input=` (or `--input PATH`).")
    crop = cfg.get("crop", "center")
    crop = None if crop in (None, "none") else (crop if isinstance(crop, str) else list(crop))
    rows, skipped = attribute_files(module, files, crop, int(cfg.get("batch_size", 256)), bool(cfg.get("progress", True)),
                                    detector=detector)
    skipped = sorted(unopenable + skipped, key=lambda s: s["path"])
    out = output_dir(cfg)
    from ganprint.models.checkpoint import read_checkpoint
    from ganprint.tasks.audit import check_inputs

    check_inputs(read_checkpoint(cfg.ckpt), files, out)  # inputs unlike the training files: a warning
    extra = ["nearest_source", "score"] if detector is not None else []
    fields = ["path", "source", "probability", *extra, *[f"p_{n}" for n in module.source_names]]
    open_set = None if detector is None else {
        "score": detector.score, "threshold": detector.thresholds[detector.score],
        "temperature": detector.temperature, "calibration": str(cfg.openset_calibration)}
    labels = [*module.source_names, *([UNKNOWN] if detector is not None else [])]

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    atomic_write(out / "attributions.csv", write_csv)
    atomic_write_json(out / "attributions.json", {"sources": module.source_names, "predictions": rows,
                                                  "skipped": skipped, **({"open_set": open_set} if open_set else {})})
    counts = {n: sum(r["source"] == n for r in rows) for n in labels}
    RunRecord.from_config(cfg, start, "attribute", omit=("config_sha256", "seed", "tags"),
                          sources=module.source_names, ckpt_path=str(cfg.ckpt), input=display_path(cfg.input),
                          n_files=len(files) + len(unopenable), n_attributed=len(rows), skipped=skipped,
                          counts=counts, open_set=open_set).write(out)
    print_table(rows, skipped, int(cfg.get("max_rows", 50)), open_set=detector is not None)
    log.info("attributions written to %s", out / "attributions.csv")
    if not rows:
        # The outputs above still list every skipped file and why; the exit code must not say all went well.
        raise NoInputError(f"none of the {len(files) + len(unopenable)} files at {display_path(cfg.input)} could be "
                           f"attributed (reasons in {out / 'attributions.json'}); pass readable images as `input=`.")
    return {"rows": rows, "skipped": skipped, "counts": counts}


def print_table(rows: list[dict[str, Any]], skipped: list[dict[str, str]], max_rows: int,
                open_set: bool = False) -> None:
    console = Console()
    table = Table(title=f"attribution of {len(rows)} images" + (f" ({len(skipped)} skipped)" if skipped else ""))
    table.add_column("image")
    table.add_column("source")
    table.add_column("calibrated probability" if open_set else "probability", justify="right")
    if open_set:
        table.add_column("nearest source")
        table.add_column("score", justify="right")
    pad = ["", ""] if open_set else []
    for r in rows[:max_rows]:
        more = [r["nearest_source"], f"{r['score']:.4g}"] if open_set else []
        table.add_row(Path(r["path"]).name, r["source"], f"{r['probability']:.3f}", *more)
    if len(rows) > max_rows:
        table.add_row(f"... {len(rows) - max_rows} more (see attributions.csv)", "", "", *pad)
    for s in skipped[:max_rows]:
        table.add_row(Path(s["path"]).name, "[red]skipped[/red]", s["reason"][:60], *pad)
    if len(skipped) > max_rows:
        table.add_row(f"... {len(skipped) - max_rows} more skipped (see attributions.json)", "", "", *pad)
    console.print(table)
