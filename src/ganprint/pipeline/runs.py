"""Planning and launching the runs of experiment specs.

Every (job, seed) has a fixed directory ``<results>/runs/<job key>/seed_<seed>/`` whose ``metrics.json`` is its
record; a run whose record exists with ``status: ok`` and the same config hash is skipped, so a second
reproduction only redoes what changed. Missing seeds of a job run in this process one after another
(``in_process``, the default: no interpreter start-up per job, and each config composed once, not once to plan
and again to run) or are launched as one Hydra multirun through the chosen Hydra launcher (``basic``,
``joblib``, ``submitit_slurm``), parents before children. A crashed multirun is recorded and the rest goes on;
its cells show the gap.

With ``workers > 1`` the in-process launcher runs jobs in that many worker processes, each with
``threads_per_worker`` torch threads: first every generator the jobs need that is not cached yet (each trained
once, in parallel), then the jobs, each as soon as its parent has finished. On a small CPU machine this beats
one process with as many threads as cores: the networks at the cpu scale are too small for intra-op threads
to pay, and threads that wait on each other under any other load slow a GAN step by up to 9x (measured:
ProGAN 32 px, 2 threads 2.8 s/step vs 1 thread 0.30 s/step on a 2-core machine with a load average of 4).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ganprint.runstore.spec import ENTRY_CONFIG, JobSpec, seeds_for
from ganprint.runstore.store import best_checkpoint, job_key, record_status, run_dir
from ganprint.utils.config import CONFIG_DIR, PROJECT_ROOT, config_hash
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")





def job_overrides(job: JobSpec, root: Path, scale: str, seed: int | str) -> list[str]:
    out = [f"scale={scale}", *job.overrides]
    if job.parent is not None:
        parent_dir = Path(root) / "runs" / job_key(job.parent, scale) / f"seed_{seed}"
        out.append(f"{job.parent_arg}={best_checkpoint(parent_dir)}")
    return out


def seed_overrides(job: JobSpec, root: Path, scale: str, seed: int, extra: list[str] | None = None) -> list[str]:
    """The overrides of one (job, seed) run, as the in-process launcher and the staleness check compose it."""
    return [*job_overrides(job, root, scale, seed), f"seed={seed}", *(extra or [])]


def wandb_group_override(extra: list[str] | None, group: str | None) -> list[str]:
    """``logger.wandb.group=<group>`` when the jobs log to wandb (``logger=wandb`` among ``extra``), else nothing."""
    return [f"logger.wandb.group={group}"] if group and "logger=wandb" in (extra or []) else []


def compose_job(entry: str, overrides: list[str], output_dir: Path):
    """The job's config as its entry point would compose it, with its output directory set; the ``hydra``
    node is kept (``activate`` installs it and hands the job its config without it)."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(ENTRY_CONFIG[entry], overrides=[*overrides, f"paths.output_dir={output_dir}"],
                           return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def activate(full_cfg):
    """Install a composed config's ``hydra`` node as the current Hydra config (what a job launched by Hydra
    sees) and return the job's config without it."""
    HydraConfig.instance().set_config(full_cfg)
    cfg = copy.deepcopy(full_cfg)  # the composed config stays whole: the planner hashes it, then runs it
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def composed_hash(entry: str, overrides: list[str], output_dir: Path) -> str:
    """The config hash the job itself will record, computed by composing its config here."""
    return config_hash(activate(compose_job(entry, overrides, output_dir)))


# How the in-process launchers run one job: ``run_job(entry, overrides, output_dir, composed) -> 0 | 1``.
# The caller (tasks/reproduce.py) passes ``tasks.table.run_entry``, which knows the task functions, so this
# module never imports a task; a module-level function, since worker processes receive it pickled.
RunJob = Callable[[str, list[str], Path, Any], int]


def run_in_process(entry: str, overrides: list[str], output_dir: Path, composed: Any,
                   execute: Callable[[DictConfig], Any]) -> int:
    """Run one job in this process (the basic launcher: no interpreter start-up per job). Returns 0 or 1;
    a failure leaves a failed run record and never stops the caller. ``composed``: the job's config as
    ``compose_job`` returned it for these overrides, when the planner already composed it (composing costs
    about half a second, a tenth of a smoke job), else None. ``execute(cfg)`` runs the task on the job's
    config and returns None when it failed (``tasks.job.run_job`` with the entry's task)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            cfg = activate(composed if composed is not None else compose_job(entry, overrides, output_dir))
        except Exception as exc:  # never reached run_job, so leave the record that explains the gap here
            RunRecord(entry, "failed", {"reason": f"config does not compose: {exc}", "overrides": list(overrides)},
                      recorded=()).write(output_dir)
            raise
        return 0 if execute(cfg) is not None else 1
    except (Exception, SystemExit) as exc:  # one job's failure is recorded as a gap, the rest goes on
        log.error("job in %s failed: %s", output_dir, exc)
        return 1
    finally:
        GlobalHydra.instance().clear()


def _die_with_parent() -> None:
    """Have this worker die with the reproduction that started it (killed, not just interrupted), so no orphan
    keeps training; its job resumes from ``last.ckpt`` on the next reproduction.

    Two guards, because a job may run anything: on Linux the kernel sends SIGKILL when the parent dies
    (PR_SET_PDEATHSIG; SIGTERM would not do: Lightning catches it during a fit, records a failed job and the
    worker lives on), and on every OS a daemon thread exits the process once its parent is gone (it covers
    another libc, and a parent that died before the signal was armed)."""
    import threading

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import contextlib
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # no cleanup: whatever the job holds, the parent that wanted it is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 0.5


def _init_worker(threads: int | None) -> None:
    _die_with_parent()
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][worker %(process)d] %(message)s")


def _source_overrides(overrides: list[str]) -> list[str]:
    """The overrides of a job that can change which sources it reads (the generator pre-stage composes these)."""
    keep = ("scale", "sources", "unknown", "data", "real", "paths", "+sources", "+unknown", "+data")
    return [o for o in overrides if o.startswith(keep)]


def _member_configs(entry: str, overrides: list[str], output_dir: Path) -> list[tuple[str, int, Any]]:
    """``(group, index, config)`` of every member of the job's source set and unknown set."""
    from omegaconf import OmegaConf

    cfg = activate(compose_job(entry, overrides, output_dir))
    return [(group, i, member) for group in ("sources", "unknown")
            for i, member in enumerate(OmegaConf.select(cfg, f"{group}.members") or [])]


def _prepare_member(entry: str, overrides: list[str], output_dir: str, group: str, index: int) -> str:
    """Worker side of the generator pre-stage: build member ``index`` of ``group`` and prepare it (train and
    sample its generator, or find them cached). Returns the samples directory."""
    import hydra.utils

    member = {(g, i): m for g, i, m in _member_configs(entry, overrides, Path(output_dir))}[(group, index)]
    source = hydra.utils.instantiate(member)
    source.prepare()
    return str(source.samples_dir)


def _job_in_worker(run_job: RunJob, entry: str, overrides: list[str], output_dir: str) -> tuple[int, float]:
    """``(return code, seconds the job ran)``: timed here, as a run may wait in the pool's queue first."""
    start = time.time()
    return run_job(entry, overrides, Path(output_dir), None), time.time() - start


def prepare_generators(todo: list[tuple[JobSpec, int, list[str], Path]], workers: int, threads: int | None) -> dict:
    """Train (or find cached) every generator the ``todo`` runs read, in ``workers`` processes, each once.
    Returns ``{samples dir: "ok" | reason}``. A generator that fails is logged; the jobs that need it try it
    again themselves and, failing, show as gaps with the reason."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    import hydra.utils

    from ganprint.data.sources.generator import COMPLETE, GeneratorSource

    needed: dict[str, tuple] = {}
    seen: set[tuple] = set()
    for job, _, overrides, rdir in todo:
        key = (job.entry, tuple(_source_overrides(overrides)))
        if key in seen:
            continue
        seen.add(key)
        try:  # instantiating a source is cheap: it trains or samples nothing until it is prepared
            members = [(g, i, hydra.utils.instantiate(m)) for g, i, m in _member_configs(job.entry, overrides, rdir)]
        except Exception as exc:  # the job itself will record why it does not compose
            log.debug("generator pre-stage: %s does not compose (%s)", key, exc)
            continue
        for group, i, source in members:
            if isinstance(source, GeneratorSource) and not (source.samples_dir / COMPLETE).is_file():
                needed.setdefault(str(source.samples_dir), (job.entry, overrides, str(rdir), group, i))
    if not needed:
        return {}
    log.info("generator pre-stage: %d generators to train or sample, %d workers", len(needed), workers)
    status: dict[str, str] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(_prepare_member, *args): path for path, args in needed.items()}
        for fut in as_completed(futures):
            try:
                fut.result()
                status[futures[fut]] = "ok"
            except Exception as exc:
                status[futures[fut]] = f"{type(exc).__name__}: {exc}"
                log.error("generator %s failed: %s", futures[fut], exc)
    return status


def run_parallel(todo: list[tuple[JobSpec, int, list[str], Path]], workers: int, threads: int | None,
                 run_job: RunJob) -> dict:
    """Run the ``todo`` (job, seed) runs in ``workers`` processes, a run as soon as its parent run (same seed)
    has finished; a run whose parent is in ``todo`` and failed is still started (it then records the missing
    checkpoint as its gap). Returns ``{(job, seed): (returncode, wall seconds)}``."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    pending = list(todo)
    in_todo = {(job, seed) for job, seed, _, _ in todo}
    finished: dict[tuple[JobSpec, int], tuple[int, float]] = {}
    running: dict[Any, tuple[JobSpec, int]] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        while pending or running:
            ready = [t for t in pending
                     if t[0].parent is None or (t[0].parent, t[1]) not in in_todo or (t[0].parent, t[1]) in finished]
            for t in ready[: max(0, 2 * workers - len(running))]:  # keep the queue short: parents may still finish
                pending.remove(t)
                job, seed, overrides, rdir = t
                log.info("[%s] running %s seed %d: %s", rdir.parent.name, job.entry, seed, " ".join(job.overrides))
                running[pool.submit(_job_in_worker, run_job, job.entry, overrides, str(rdir))] = (job, seed)
            if not running:  # only children of parents that never ran: nothing can unblock them
                for job, seed, _, _ in pending:
                    finished[(job, seed)] = (1, 0.0)
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                job, seed = running.pop(fut)
                try:
                    finished[(job, seed)] = fut.result()
                except Exception as exc:  # a worker that died (killed, out of memory): its run is a gap
                    log.error("worker running %s seed %d died: %s", job.entry, seed, exc)
                    finished[(job, seed)] = (1, 0.0)
    return finished



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
                    extra: list[str] | None = None, dry_run: bool = False,
                    groups: dict[JobSpec, str] | None = None, workers: int = 1,
                    threads_per_worker: int | None = None, phases: dict[str, float] | None = None,
                    run_job: RunJob | None = None) -> list[LaunchReport]:
    """Run every (job, seed) whose record is missing, failed or stale; parents come first in ``jobs``.

    ``run_job`` runs one job in this process or a worker (``RunJob``); the ``in_process`` launcher needs it.

    ``extra``: overrides added to every job. ``groups``: the wandb group of each job (its experiment's id);
    used only when ``extra`` selects ``logger=wandb``, and left out of the config hash like every logger
    setting, so a job shared by several experiments is still run once. ``workers`` > 1 (in-process launcher
    only): generators first, then the runs, in that many processes of ``threads_per_worker`` torch threads.
    ``phases`` (filled when given): wall seconds of planning, the generator pre-stage and the parallel runs."""
    t_start = time.time()
    if launcher == "in_process" and not dry_run and run_job is None:
        raise ValueError("the in_process launcher runs jobs through `run_job`; pass tasks.table.run_entry")
    parallel = launcher == "in_process" and workers > 1 and not dry_run
    queued: list[tuple[JobSpec, int, list[str], Path]] = []
    by_key: dict[str, LaunchReport] = {}
    reports = []
    for job in jobs:
        key = job_key(job, scale)
        extra_job = [*(extra or []), *wandb_group_override(extra, (groups or {}).get(job))]
        todo, done = [], []
        report = LaunchReport(key, job.entry, todo, job_overrides(job, root, scale, "${seed}"), skipped_seeds=done)
        reports.append(report)
        composed: dict[int, Any] = {}
        try:
            for seed in seeds_for(job, seeds):
                rdir = run_dir(root, job, scale, seed)
                status, _ = record_status(rdir, None)
                # A finished run is checked against the config it would have now (stale when that changed). A
                # run without a usable record runs anyway: in process it is composed then, once. Other
                # launchers and dry runs compose here, so a spec that does not compose shows before any launch.
                if status == "done" or launcher != "in_process" or dry_run:
                    composed[seed] = compose_job(job.entry, seed_overrides(job, root, scale, seed, extra_job), rdir)
                    if status == "done":
                        status, _ = record_status(rdir, config_hash(activate(composed[seed])))
                (done if status == "done" else todo).append(seed)
        except Exception as exc:  # a spec whose overrides do not compose is a gap, not the end of the report
            report.returncode, report.log = -1, f"config does not compose: {exc}"
            log.error("[%s] %s", key, report.log)
            continue
        if not todo:
            log.info("[%s] %s %s: all %d seeds done, skipped", key, job.entry, " ".join(job.overrides), len(done))
            continue
        if parallel:  # parents may not have run yet: run_parallel orders them
            by_key[key] = report
            queued += [(job, s, seed_overrides(job, root, scale, s, extra_job), run_dir(root, job, scale, s))
                       for s in todo]
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
            codes = [run_job(job.entry, seed_overrides(job, root, scale, s, extra_job), sweep_dir / f"seed_{s}",
                             composed.get(s)) for s in todo]
            report.returncode, report.wall_time_s = max(codes), time.time() - start
            continue
        cmd = [sys.executable, "-m", f"ganprint.{job.entry}", "-m", *report.overrides,
               f"seed={','.join(map(str, todo))}", f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=seed_${seed}",
               *([f"launcher={launcher}"] if launcher not in ("basic", "in_process") else []), *extra_job]
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
    if parallel and queued:
        if threads_per_worker:
            import torch

            torch.set_num_threads(int(threads_per_worker))  # the planner's own composes stay light too
        start = time.time()
        failed = {p: r for p, r in prepare_generators(queued, workers, threads_per_worker).items() if r != "ok"}
        log.info("generator pre-stage: %.0f s%s", time.time() - start, f", {len(failed)} failed" if failed else "")
        jobs_start = time.time()
        for (job, _seed), (code, wall) in run_parallel(queued, workers, threads_per_worker, run_job).items():
            report = by_key[job_key(job, scale)]
            report.returncode = max(report.returncode or 0, code)
            report.wall_time_s += wall
        if phases is not None:
            phases.update({"planning": start - t_start, "generators": jobs_start - start,
                           "jobs": time.time() - jobs_start})
    return reports
