"""Reproducing the paper's tables and figures: run what is missing, then build everything from run records.

``build_report`` reads run records only (never a model), so tables can be rebuilt, and logged to wandb, from a
finished reproduction without running anything; ``log_to_wandb`` sends one run per spec.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from ganprint.pipeline.runs import plan_and_launch
from ganprint.reporting.aggregate import cell_from_records
from ganprint.reporting.audit import audit_note
from ganprint.reporting.index import write_index
from ganprint.reporting.tables import write_table
from ganprint.runstore.spec import ExperimentSpec, JobSpec, load_specs, merge_jobs, seeds_for
from ganprint.runstore.store import collect, job_key
from ganprint.tasks.table import run_entry
from ganprint.utils.run_record import git_commit, versions

log = logging.getLogger("ganprint")


@dataclass
class Report:
    """What the run records of a reproduction give: per spec its index section, its table (the frame
    as shown, and the paths of its Markdown, LaTeX and CSV files) and its figures (path under the results
    directory, caption); and per finished run its hashes and wall time."""

    sections: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)


def note_runs(report: Report, records: list[dict[str, Any]]) -> None:
    """Add the finished ones of ``records`` to the report's runs (provenance: hashes and wall time)."""
    for rec in records:
        if rec.get("status") == "ok":
            report.runs[rec["run_dir"]] = {"config_sha256": rec.get("config_sha256"),
                                           "manifest_sha256": rec.get("manifest_sha256"),
                                           "wall_time_s": rec.get("wall_time_s"), "seed": rec.get("seed")}


def build_report(specs: list[ExperimentSpec], root: Path, scale: str, seeds: list[int]) -> Report:
    """Write every table (Markdown, LaTeX, CSV) and copy every figure under ``root`` from the run records."""
    report = Report()
    # a job shared by two tables reports every seed it ran, the larger count either table asked for
    merged: dict[JobSpec, JobSpec] = {j: j for j in merge_jobs([j for s in specs for j in s.jobs()])}
    noted: set[JobSpec] = set()

    def note_parents(job: JobSpec | None) -> None:
        # Provenance lists every run behind a cell: the trained models and fine-tunes that a cell's run read (its
        # parents) too. Many cells share a parent (one trained attNet under all of Table 7), so each is read once.
        while job is not None and job not in noted:
            noted.add(job)
            note_runs(report, collect(root, job, scale, seeds_for(merged.get(job, job), seeds)))
            job = job.parent

    for spec in specs:
        cells = {}
        all_records: list[dict[str, Any]] = []
        n_sources = None  # for `chance: sources`: how many sources the scale's runs had (Table 3's seeds)
        for cell in spec.cells:
            records = collect(root, cell.job, scale, seeds_for(merged.get(cell.job, cell.job), seeds))
            all_records += records
            cells[(cell.row, cell.column)] = cell_from_records(records, cell.metric, cell.percent)
            note_runs(report, records)
            note_parents(cell.job.parent)
            for rec in records:
                if rec.get("status") == "ok":
                    n_sources = n_sources or len(rec.get("sources") or []) or None
        section: dict[str, Any] = {"markdown": "", "figures": []}
        if spec.chance == "sources":
            spec = replace(spec, chance=1.0 / n_sources if n_sources else None)
        if spec.cells:
            written = write_table(spec, cells, root / "tables")
            section["markdown"] = written["markdown"]
            report.tables[spec.id] = {k: str(v) for k, v in written["paths"].items()}
            report.frames[spec.id] = written["frame"]
        else:
            section["markdown"] = f"### {spec.id}: {spec.title}\n\n{spec.paper_ref}. {spec.description}".rstrip(". ")
        if spec.curves:  # robustness curves: drawn from the same cells as the table
            from ganprint.reporting.robustness import write_curves

            for png, caption in write_curves(spec, cells, root / "figures"):
                section["figures"].append((str(png.relative_to(root)), caption))
        for fig in spec.figures:
            fig_records = collect(root, fig.job, scale, seeds)
            note_runs(report, fig_records)
            found = [Path(r["run_dir"]) / fig.file for r in fig_records if r.get("status") == "ok"]
            found = [p for p in found if p.is_file()]
            if found:
                dest = root / "figures" / f"{spec.id}_{fig.name}{found[0].suffix}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(found[0], dest)
                section["figures"].append((str(dest.relative_to(root)), fig.caption or fig.name))
            else:
                section["markdown"] += f"\n\nFigure `{fig.name}`: missing (its run did not produce {fig.file})."
        # Runs on folder sources carry the shortcut audit (data.audit): its verdict is shown under the table.
        note = audit_note(all_records)
        if note:
            section["markdown"] += "\n\n" + note
        report.figures[spec.id] = section["figures"]
        report.sections.append(section)
    return report


def reproduce(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    scale = str(cfg.scale.name)
    root = Path(cfg.results_dir) / scale
    specs = load_specs(cfg.specs_dir, list(cfg.tables) if cfg.get("tables") else None)
    seeds = [int(cfg.base_seed) + i for i in range(int(cfg.seeds))]
    jobs = merge_jobs([j for s in specs for j in s.jobs()])
    log.info("%d tables/figures, %d jobs x %d seeds at scale %s -> %s", len(specs), len(jobs), len(seeds), scale, root)
    phases: dict[str, float] = {}
    reports = plan_and_launch(jobs, root, scale, seeds, launcher=str(cfg.launcher),
                              extra=list(cfg.get("job_overrides") or []), dry_run=bool(cfg.get("dry_run")),
                              groups={j: s.id for s in reversed(specs) for j in s.jobs()},
                              workers=int(cfg.get("workers") or 1), threads_per_worker=cfg.get("threads_per_worker"),
                              phases=phases, run_job=run_entry)
    launched = time.time()
    stages = [{"job": r.key, "entry": r.entry, "overrides": r.overrides, "seeds_run": r.seeds,
               "seeds_skipped": r.skipped_seeds, "returncode": r.returncode, "wall_time_s": r.wall_time_s,
               "log": r.log} for r in reports]
    if cfg.get("dry_run"):
        # A dry run only says what would run: the tables, index and provenance.json (with the phase times of the
        # last real reproduction) stay as they are.
        for st in stages:
            what = f"would run seeds {st['seeds_run']}" if st["seeds_run"] else "nothing to run"
            log.info("[%s] %s %s: %s%s", st["job"], st["entry"], " ".join(map(str, st["overrides"])), what,
                     f" ({st['log']})" if st["log"] else "")
        log.info("dry run: %d jobs would run, nothing written under %s", sum(bool(st["seeds_run"]) for st in stages),
                 root)
        return {"index": None, "stages": stages, "tables": {}, "dry_run": True}
    report = build_report(specs, root, scale, seeds)
    provenance = {"git": git_commit(), "versions": versions(), "scale": scale, "seeds": seeds,
                  "launcher": str(cfg.launcher), "workers": int(cfg.get("workers") or 1), "stages": stages,
                  "runs": report.runs, "tables": report.tables,
                  "jobs": {job_key(j, scale): j.describe() for j in jobs},
                  "launch_wall_time_s": launched - start, "report_wall_time_s": time.time() - launched,
                  "phase_wall_time_s": phases,
                  "wall_time_s": time.time() - start}
    index = write_index(root, scale, report.sections, provenance)
    log.info("results index: %s (%.0f s running jobs, %.1f s building tables)", index, launched - start,
             time.time() - launched)
    if cfg.get("wandb_tables"):
        log_to_wandb(scale, root, specs, report, seeds)
    return {"index": str(index), "stages": stages, "tables": report.tables}


def log_to_wandb(scale: str, root: Path, specs: list[ExperimentSpec], report: Report, seeds: list[int] | None = None,
                 mode: str | None = None, wandb_dir: Path | None = None) -> list[Path]:
    """One wandb run per spec, in the group named by the spec's id (the group its jobs log to when
    they log to wandb): the table as the results index shows it (``table``: ours next to the paper's) and its
    numbers one line per cell (``cells``) as wandb Tables, each filled cell's mean in the run summary, and the
    figures as images. ``mode``: online or offline; by default ``WANDB_MODE``, else online only when logged
    in. Returns the runs' local directories (``<wandb_dir, default root>/wandb/<run>/``)."""
    import wandb

    from ganprint.utils.loggers import wandb_logged_in

    mode = mode or os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")
    run_dirs = []
    for spec in specs:
        if spec.id not in report.tables and not report.figures.get(spec.id):
            continue
        run = wandb.init(project="ganprint", group=spec.id, job_type=f"reproduce-{scale}", name=f"{spec.id}-{scale}",
                         tags=[scale, "reproduce"], mode=mode, dir=str(wandb_dir or root),
                         config={"experiment": spec.id, "title": spec.title, "paper_ref": spec.paper_ref,
                                 "scale": scale, "seeds": list(seeds or []), "chance": spec.chance})
        try:
            logged: dict[str, Any] = {}
            if spec.id in report.tables:
                cells = pd.read_csv(report.tables[spec.id]["csv"])
                logged["table"] = wandb.Table(dataframe=report.frames[spec.id].astype(str))
                logged["cells"] = wandb.Table(dataframe=cells.astype(object).where(cells.notna(), None))
                for rec in cells[cells["n"] > 0].to_dict("records"):
                    run.summary[f"{rec['row']}/{rec['column']}"] = float(rec["mean"])
            for rel, caption in report.figures.get(spec.id, []):
                name = Path(rel).stem.removeprefix(f"{spec.id}_")
                logged[f"figures/{name}"] = wandb.Image(str(root / rel), caption=caption)
            run.log(logged)  # one step: the table and its figures belong together
            run_dirs.append(Path(run.dir).parent)
        finally:
            run.finish()
    return run_dirs
