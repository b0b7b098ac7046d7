"""Planning and launching the runs of experiment specs.

Every (job, seed) has a fixed directory ``<results>/runs/<job key>/seed_<seed>/`` whose ``metrics.json`` is its
record; a run whose record exists with ``status: ok`` and the same config hash is skipped, so a second
reproduction only redoes what changed. Missing seeds of a job run in this process one after
another (``in_process``, the default: no interpreter start-up per job) or are launched as one Hydra multirun
through the chosen Hydra launcher (``basic``, ``joblib``, ``submitit_slurm``), parents before children. A crashed multirun is recorded and
the rest goes on; its cells show the gap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from ganprint.pipeline.spec import JobSpec
from ganprint.utils.config import CONFIG_DIR, PROJECT_ROOT, config_hash
from ganprint.utils.run_record import RECORD_NAME

log = logging.getLogger("ganprint")
ENTRY_CONFIG = {"train": "train", "evaluate": "eval", "openset": "openset"}


def job_key(job: JobSpec, scale: str) -> str:
    text = json.dumps({"scale": scale, **job.describe()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir(root: Path, job: JobSpec, scale: str, seed: int) -> Path:
    return Path(root) / "runs" / job_key(job, scale) / f"seed_{seed}"


def best_checkpoint(run: Path) -> Path:
    """Where a training job leaves its best checkpoint (the train task copies it there)."""
    return run / "checkpoints" / "best.ckpt"


def job_overrides(job: JobSpec, root: Path, scale: str, seed: int | str) -> list[str]:
    out = [f"scale={scale}", *job.overrides]
    if job.parent is not None:
        parent_dir = Path(root) / "runs" / job_key(job.parent, scale) / f"seed_{seed}"
        out.append(f"{job.parent_arg}={best_checkpoint(parent_dir)}")
    return out


def compose_job(entry: str, overrides: list[str], output_dir: Path):
    """The job's config as its entry point would compose it, with its output directory set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(ENTRY_CONFIG[entry], overrides=[*overrides, f"paths.output_dir={output_dir}"],
                      return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def composed_hash(entry: str, overrides: list[str], output_dir: Path) -> str:
    """The config hash the job itself will record, computed by composing its config here."""
    try:
        return config_hash(compose_job(entry, overrides, output_dir))
    finally:
        GlobalHydra.instance().clear()


def run_in_process(entry: str, overrides: list[str], output_dir: Path) -> int:
    """Run one job in this process (the basic launcher: no interpreter start-up per job). Returns 0 or 1;
    a failure leaves a failed run record and never stops the caller."""
    from ganprint.tasks.job import run_job

    if entry == "train":
        from ganprint.tasks.train import train as task
    elif entry == "openset":
        from ganprint.tasks.openset import openset as task
    else:
        from ganprint.tasks.evaluate import evaluate as task
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = compose_job(entry, overrides, output_dir)
        return 0 if run_job(cfg, task) is not None else 1
    except (Exception, SystemExit) as exc:  # one job's failure is recorded as a gap, the rest goes on
        log.error("job in %s failed: %s", output_dir, exc)
        return 1
    finally:
        GlobalHydra.instance().clear()


def record_status(path: Path, want_hash: str | None) -> tuple[str, str]:
    """('done'|'stale'|'failed'|'missing', reason) for a run directory."""
    record = path / RECORD_NAME
    if not record.is_file():
        return "missing", "not run"
    try:
        data = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return "failed", f"unreadable record ({exc})"
    if data.get("status") != "ok":
        return "failed", str(data.get("reason", "failed"))[:300]
    if want_hash is not None and data.get("config_sha256") != want_hash:
        return "stale", "config changed since this run"
    return "done", ""


@dataclass
class LaunchReport:
    key: str
    entry: str
    seeds: list[int]
    overrides: list[str]
    returncode: int | None = None
    wall_time_s: float = 0.0
    skipped_seeds: list[int] = field(default_factory=list)
    log: str = ""


def plan_and_launch(jobs: list[JobSpec], root: Path, scale: str, seeds: list[int], launcher: str = "basic",
                    extra: list[str] | None = None, dry_run: bool = False) -> list[LaunchReport]:
    """Run every (job, seed) whose record is missing, failed or stale; parents come first in ``jobs``."""
    reports = []
    for job in jobs:
        key = job_key(job, scale)
        todo, done = [], []
        report = LaunchReport(key, job.entry, todo, job_overrides(job, root, scale, "${seed}"), skipped_seeds=done)
        reports.append(report)
        try:
            for seed in seeds:
                rdir = run_dir(root, job, scale, seed)
                want = composed_hash(job.entry, [*job_overrides(job, root, scale, seed), f"seed={seed}",
                                                 *(extra or [])], rdir)
                status, _ = record_status(rdir, want)
                (done if status == "done" else todo).append(seed)
        except Exception as exc:  # a spec whose overrides do not compose is a gap, not the end of the report
            report.returncode, report.log = -1, f"config does not compose: {exc}"
            log.error("[%s] %s", key, report.log)
            continue
        if not todo:
            log.info("[%s] %s %s: all %d seeds done, skipped", key, job.entry, " ".join(job.overrides), len(done))
            continue
        if job.parent is not None:
            missing = [s for s in todo if not best_checkpoint(run_dir(root, job.parent, scale, s)).is_file()]
            if missing:
                report.log = f"parent checkpoint missing for seeds {missing}"
                log.error("[%s] %s", key, report.log)
                todo = [s for s in todo if s not in missing]
                if not todo:
                    report.returncode = -1
                    continue
        sweep_dir = Path(root) / "runs" / key
        if launcher == "in_process" and not dry_run:
            log.info("[%s] running %s seeds %s: %s", key, job.entry, todo, " ".join(job.overrides))
            start = time.time()
            codes = [run_in_process(job.entry, [*job_overrides(job, root, scale, s), f"seed={s}", *(extra or [])],
                                    sweep_dir / f"seed_{s}") for s in todo]
            report.returncode, report.wall_time_s = max(codes), time.time() - start
            continue
        cmd = [sys.executable, "-m", f"ganprint.{job.entry}", "-m", *report.overrides,
               f"seed={','.join(map(str, todo))}", f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=seed_${seed}",
               *([f"launcher={launcher}"] if launcher not in ("basic", "in_process") else []), *(extra or [])]
        log.info("[%s] launching %s seeds %s: %s", key, job.entry, todo, " ".join(job.overrides))
        if dry_run:
            report.log = " ".join(cmd)
            continue
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "job.json").write_text(json.dumps({"key": key, "scale": scale, **job.describe()}, indent=2))
        start = time.time()
        with (sweep_dir / "launch.log").open("a") as fh:
            proc = subprocess.run(cmd, cwd=PROJECT_ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        report.returncode, report.wall_time_s = proc.returncode, time.time() - start
        if proc.returncode != 0:
            report.log = f"multirun exited with {proc.returncode}; see {sweep_dir / 'launch.log'}"
            log.error("[%s] %s", key, report.log)
    return reports


def collect(root: Path, job: JobSpec, scale: str, seeds: list[int]) -> list[dict[str, Any]]:
    """The records of a job's seeds: each the record dict, or {'status': 'missing'|'failed', 'reason'}."""
    out = []
    for seed in seeds:
        rdir = run_dir(root, job, scale, seed)
        status, reason = record_status(rdir, None)
        if status == "done":
            out.append({**json.loads((rdir / RECORD_NAME).read_text()), "run_dir": str(rdir)})
        else:
            out.append({"status": status, "reason": reason, "seed": seed, "run_dir": str(rdir)})
    return out
