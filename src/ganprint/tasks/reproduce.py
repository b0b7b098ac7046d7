"""Reproducing the paper's tables and figures: run what is missing, then build everything from run records."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ganprint.pipeline.runs import collect, job_key, plan_and_launch
from ganprint.pipeline.spec import load_specs
from ganprint.reporting.aggregate import cell_from_records
from ganprint.reporting.index import write_index
from ganprint.reporting.tables import write_table
from ganprint.utils.run_record import git_commit, versions

log = logging.getLogger("ganprint")


def reproduce(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    scale = str(cfg.scale.name)
    root = Path(cfg.results_dir) / scale
    specs = load_specs(cfg.experiments_dir, list(cfg.tables) if cfg.get("tables") else None)
    seeds = [int(cfg.base_seed) + i for i in range(int(cfg.seeds))]
    jobs = list(dict.fromkeys(j for s in specs for j in s.jobs()))
    log.info("%d tables/figures, %d jobs x %d seeds at scale %s -> %s", len(specs), len(jobs), len(seeds), scale, root)
    reports = plan_and_launch(jobs, root, scale, seeds, launcher=str(cfg.launcher),
                              extra=list(cfg.get("job_overrides") or []), dry_run=bool(cfg.get("dry_run")))
    sections, run_index, tables = [], {}, {}
    for spec in specs:
        cells = {}
        for cell in spec.cells:
            records = collect(root, cell.job, scale, seeds)
            cells[(cell.row, cell.column)] = cell_from_records(records, cell.metric, cell.percent)
            for rec in records:
                if rec.get("status") == "ok":
                    run_index[rec["run_dir"]] = {"config_sha256": rec.get("config_sha256"),
                                                 "manifest_sha256": rec.get("manifest_sha256"),
                                                 "wall_time_s": rec.get("wall_time_s"), "seed": rec.get("seed")}
        section = {"markdown": "", "figures": []}
        if spec.cells:
            written = write_table(spec, cells, root / "tables")
            section["markdown"] = written["markdown"]
            tables[spec.id] = {k: str(v) for k, v in written["paths"].items()}
        else:
            section["markdown"] = f"### {spec.id}: {spec.title}\n\n{spec.paper_ref}. {spec.description}".rstrip(". ")
        for fig in spec.figures:
            found = [Path(r["run_dir"]) / fig.file for r in collect(root, fig.job, scale, seeds) if r.get("status") == "ok"]
            found = [p for p in found if p.is_file()]
            if found:
                dest = root / "figures" / f"{spec.id}_{fig.name}{found[0].suffix}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(found[0], dest)
                section["figures"].append((str(dest.relative_to(root)), fig.caption or fig.name))
            else:
                section["markdown"] += f"\n\nFigure `{fig.name}`: missing (its run did not produce {fig.file})."
        sections.append(section)
    stages = [{"job": r.key, "entry": r.entry, "overrides": r.overrides, "seeds_run": r.seeds,
               "seeds_skipped": r.skipped_seeds, "returncode": r.returncode, "wall_time_s": r.wall_time_s,
               "log": r.log} for r in reports]
    provenance = {"git": git_commit(), "versions": versions(), "scale": scale, "seeds": seeds,
                  "launcher": str(cfg.launcher), "stages": stages, "runs": run_index, "tables": tables,
                  "jobs": {job_key(j, scale): j.describe() for j in jobs}, "wall_time_s": time.time() - start}
    index = write_index(root, scale, sections, provenance)
    log.info("results index: %s", index)
    if cfg.get("wandb_tables"):
        log_to_wandb(cfg, root, specs, tables)
    return {"index": str(index), "stages": stages, "tables": tables}


def log_to_wandb(cfg: DictConfig, root: Path, specs, tables: dict[str, dict[str, str]]) -> None:
    """Tables as wandb Tables, figures as images, in one run of group ``reproduce-<scale>``."""
    import pandas as pd
    import wandb

    from ganprint.utils.loggers import wandb_logged_in

    run = wandb.init(project="ganprint", group=f"reproduce-{cfg.scale.name}", job_type="reproduce",
                     mode="online" if wandb_logged_in() else "offline", dir=str(root))
    try:
        for spec in specs:
            if spec.id in tables:
                run.log({f"tables/{spec.id}": wandb.Table(dataframe=pd.read_csv(tables[spec.id]["csv"]))})
        for png in sorted((root / "figures").glob("*.png")):
            run.log({f"figures/{png.stem}": wandb.Image(str(png))})
    finally:
        wandb.finish()
