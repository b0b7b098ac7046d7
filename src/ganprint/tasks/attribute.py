"""Attributing image files with a trained checkpoint: batched, with a progress bar, a printed table and
CSV/JSON output. Unreadable files are reported and skipped; they never abort the batch."""

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
from ganprint.data.imageio import ImageDecodeError, decode_image, list_images
from ganprint.errors import ConfigError, UserError
from ganprint.models.checkpoint import load_attribution_module
from ganprint.tasks.job import output_dir
from ganprint.utils.atomic import atomic_write, atomic_write_json
from ganprint.utils.config import to_container
from ganprint.utils.run_record import write_run_record

log = logging.getLogger("ganprint")


class NoInputError(UserError, FileNotFoundError):
    """Nothing to attribute."""


def attribute_files(module, files: list[Path], crop, batch_size: int = 256, progress: bool = True):
    """Predict every readable file; return (rows, skipped) with rows of path, source, probabilities."""
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
                skipped.append({"path": str(f), "reason": str(exc)})
                log.warning("skipped %s: %s", f, exc)
        if not arrays:
            continue
        with torch.inference_mode():
            probs = module(to_float(np.stack(arrays))).softmax(-1).numpy()
        for f, p in zip(ok, probs, strict=True):
            k = int(p.argmax())
            rows.append({"path": str(f), "source": names[k], "probability": float(p[k]),
                         **{f"p_{n}": float(v) for n, v in zip(names, p, strict=True)}})
    return rows, skipped


def attribute(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    if not cfg.get("ckpt"):
        raise ConfigError("no checkpoint given; run `ganprint-attribute ckpt=/path/to/model.ckpt input=DIR`.")
    if not cfg.get("input"):
        raise ConfigError("nothing to attribute; pass `input=<file|folder|glob>`.")
    module = load_attribution_module(cfg.ckpt)
    files = list_images(cfg.input)
    if not files:
        raise NoInputError(f"no image files found at {cfg.input}; pass an image, a folder or a glob as `input=`.")
    crop = cfg.get("crop", "center")
    crop = None if crop in (None, "none") else (crop if isinstance(crop, str) else list(crop))
    rows, skipped = attribute_files(module, files, crop, int(cfg.get("batch_size", 256)), bool(cfg.get("progress", True)))
    out = output_dir(cfg)
    fields = ["path", "source", "probability", *[f"p_{n}" for n in module.source_names]]

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    atomic_write(out / "attributions.csv", write_csv)
    atomic_write_json(out / "attributions.json", {"sources": module.source_names, "predictions": rows,
                                                  "skipped": skipped})
    counts = {n: sum(r["source"] == n for r in rows) for n in module.source_names}
    write_run_record(out, task="attribute", status="ok", sources=module.source_names, ckpt_path=str(cfg.ckpt),
                     input=str(cfg.input), n_files=len(files), n_attributed=len(rows), skipped=skipped,
                     counts=counts, config=to_container(cfg), wall_time_s=time.time() - start)
    print_table(rows, skipped, int(cfg.get("max_rows", 50)))
    log.info("attributions written to %s", out / "attributions.csv")
    return {"rows": rows, "skipped": skipped, "counts": counts}


def print_table(rows: list[dict[str, Any]], skipped: list[dict[str, str]], max_rows: int) -> None:
    console = Console()
    table = Table(title=f"attribution of {len(rows)} images" + (f" ({len(skipped)} skipped)" if skipped else ""))
    table.add_column("image")
    table.add_column("source")
    table.add_column("probability", justify="right")
    for r in rows[:max_rows]:
        table.add_row(Path(r["path"]).name, r["source"], f"{r['probability']:.3f}")
    if len(rows) > max_rows:
        table.add_row(f"... {len(rows) - max_rows} more (see attributions.csv)", "", "")
    for s in skipped:
        table.add_row(Path(s["path"]).name, "[red]skipped[/red]", s["reason"][:60])
    console.print(table)
