"""Planning and launching the runs of table specs.

Every (job, seed) has a fixed directory ``<results>/runs/<job key>/seed_<seed>/`` whose ``metrics.json`` is its
record; a run whose record exists with ``status: ok`` and the same config hash is skipped, so a second
reproduction only redoes what changed. Missing seeds of a job run in this process one after another
(``in_process``, the default: no interpreter start-up per job, and each config composed once, not once to plan
and again to run) or are launched as one Hydra multirun through the chosen Hydra launcher (``basic``,
``joblib``, ``submitit_slurm``), parents before children. A crashed multirun is recorded and the rest goes on;
its cells show the gap.

``plan_and_launch`` is two steps: ``plan_jobs`` says per job which seeds are done and which run (composing
configs where it must), and one launcher, ``launch_in_process``, ``launch_parallel`` or ``launch_multirun``, all
of one signature, runs them. The tasks themselves are never imported here: the caller hands in ``run_job``.

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
from collections.abc import Callable, Iterable, Iterator
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


@dataclass
class Launch:
    """What every launcher reads besides the planned jobs, so that all launchers share one signature."""

    root: Path
    scale: str
    launcher: str = "basic"
    dry_run: bool = False
    run_job: RunJob | None = None
    workers: int = 1
    threads_per_worker: int | None = None
    phases: dict[str, float] | None = None

    def run_dir(self, job: JobSpec, seed: int) -> Path:
        return run_dir(self.root, job, self.scale, seed)


@dataclass
class PlannedJob:
    """One job's plan: the seeds to run (``report.seeds``) and those done (``report.skipped_seeds``), the
    overrides added to each of its seeds, and the configs the planner already composed, by seed."""

    job: JobSpec
    report: LaunchReport
    extra: list[str]
    composed: dict[int, Any] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        """Seeds to run, and a config that composed."""
        return bool(self.report.seeds) and self.report.returncode is None

    def overrides(self, ctx: Launch, seed: int) -> list[str]:
        return seed_overrides(self.job, ctx.root, ctx.scale, seed, self.extra)


def plan_jobs(jobs: list[JobSpec], ctx: Launch, seeds: list[int], extra: list[str] | None = None,
              groups: dict[JobSpec, str] | None = None) -> Iterator[PlannedJob]:
    """Each job's plan, one job at a time: a generator, so that a sequential launcher plans a job only after
    the jobs before it (its parent among them) have run. A job that does not compose is planned with its
    report's ``returncode`` at -1 and the reason; a job with every seed done, with no seeds to run."""
    for job in jobs:
        key = job_key(job, ctx.scale)
        planned = PlannedJob(job, LaunchReport(key, job.entry, [], job_overrides(job, ctx.root, ctx.scale, "${seed}")),
                             [*(extra or []), *wandb_group_override(extra, (groups or {}).get(job))])
        report = planned.report
        try:
            for seed in seeds_for(job, seeds):
                rdir = ctx.run_dir(job, seed)
                status, _ = record_status(rdir, None)
                # A finished run is checked against the config it would have now (stale when that changed). A
                # run without a usable record runs anyway: in process it is composed then, once. Other
                # launchers and dry runs compose here, so a spec that does not compose shows before any launch.
                if status == "done" or ctx.launcher != "in_process" or ctx.dry_run:
                    planned.composed[seed] = compose_job(job.entry, planned.overrides(ctx, seed), rdir)
                    if status == "done":
                        status, _ = record_status(rdir, config_hash(activate(planned.composed[seed])))
                (report.skipped_seeds if status == "done" else report.seeds).append(seed)
        except Exception as exc:  # a spec whose overrides do not compose is a gap, not the end of the report
            report.returncode, report.log = -1, f"config does not compose: {exc}"
            log.error("[%s] %s", key, report.log)
        else:
            if not report.seeds:
                log.info("[%s] %s %s: all %d seeds done, skipped", key, job.entry, " ".join(job.overrides),
                         len(report.skipped_seeds))
        yield planned


def _seeds_with_parent(planned: PlannedJob, ctx: Launch) -> list[int]:
    """The seeds to run whose parent run left its checkpoint (all of them for a job without a parent); the
    others are reported, and the job fails (-1) when none is left."""
    todo, parent = planned.report.seeds, planned.job.parent
    if parent is None:
        return todo
    missing = [s for s in todo if not best_checkpoint(ctx.run_dir(parent, s)).is_file()]
    if missing:
        planned.report.log = f"parent checkpoint missing for seeds {missing}"
        log.error("[%s] %s", planned.report.key, planned.report.log)
        todo = [s for s in todo if s not in missing]
        if not todo:
            planned.report.returncode = -1
    return todo


def launch_in_process(planned_jobs: Iterable[PlannedJob], ctx: Launch) -> None:
    """Run each job's seeds in this process, one after another, jobs in order (parents first), on
    ``threads_per_worker`` torch threads when set (one worker is this process)."""
    assert ctx.run_job is not None
    if ctx.threads_per_worker and not ctx.dry_run:
        import torch

        torch.set_num_threads(int(ctx.threads_per_worker))
    for planned in planned_jobs:
        todo = _seeds_with_parent(planned, ctx) if planned.runnable else []
        if not todo:
            continue
        job, report = planned.job, planned.report
        log.info("[%s] running %s seeds %s: %s", report.key, job.entry, todo, " ".join(job.overrides))
        start = time.time()
        codes = [ctx.run_job(job.entry, planned.overrides(ctx, s), ctx.run_dir(job, s), planned.composed.get(s))
                 for s in todo]
        report.returncode, report.wall_time_s = max(codes), time.time() - start


def launch_multirun(planned_jobs: Iterable[PlannedJob], ctx: Launch) -> None:
    """Launch each job's seeds as one Hydra multirun of its entry point, through ``ctx.launcher``, jobs in order;
    a dry run only records each command in its report."""
    for planned in planned_jobs:
        todo = _seeds_with_parent(planned, ctx) if planned.runnable else []
        if not todo:
            continue
        job, report = planned.job, planned.report
        sweep_dir = Path(ctx.root) / "runs" / report.key
        cmd = [sys.executable, "-m", f"ganprint.{job.entry}", "-m", *report.overrides,
               f"seed={','.join(map(str, todo))}", f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=seed_${seed}",
               *([f"launcher={ctx.launcher}"] if ctx.launcher not in ("basic", "in_process") else []), *planned.extra]
        log.info("[%s] launching %s seeds %s: %s", report.key, job.entry, todo, " ".join(job.overrides))
        if ctx.dry_run:
            report.log = " ".join(cmd)
            continue
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "job.json").write_text(json.dumps({"key": report.key, "scale": ctx.scale, **job.describe()},
                                                       indent=2))
        start = time.time()
        with (sweep_dir / "launch.log").open("a") as fh:
            proc = subprocess.run(cmd, cwd=PROJECT_ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        report.returncode, report.wall_time_s = proc.returncode, time.time() - start
        if proc.returncode != 0:
            report.log = f"multirun exited with {proc.returncode}; see {sweep_dir / 'launch.log'}"
            log.error("[%s] %s", report.key, report.log)


def launch_parallel(planned_jobs: Iterable[PlannedJob], ctx: Launch) -> None:
    """Plan every job, then train the generators they need and run their seeds in ``ctx.workers`` processes
    (``run_parallel`` starts a run once its parent run has finished)."""
    assert ctx.run_job is not None
    t_start = time.time()
    queued: list[tuple[JobSpec, int, list[str], Path]] = []
    by_key: dict[str, LaunchReport] = {}
    for planned in planned_jobs:
        if planned.runnable:
            by_key[planned.report.key] = planned.report
            queued += [(planned.job, s, planned.overrides(ctx, s), ctx.run_dir(planned.job, s))
                       for s in planned.report.seeds]
    if not queued:
        return
    threads = ctx.threads_per_worker
    if threads:
        import torch

        torch.set_num_threads(int(threads))  # the planner's own composes stay light too
    start = time.time()
    failed = {p: r for p, r in prepare_generators(queued, ctx.workers, threads).items() if r != "ok"}
    log.info("generator pre-stage: %.0f s%s", time.time() - start, f", {len(failed)} failed" if failed else "")
    jobs_start = time.time()
    for (job, _seed), (code, wall) in run_parallel(queued, ctx.workers, threads, ctx.run_job).items():
        report = by_key[job_key(job, ctx.scale)]
        report.returncode = max(report.returncode or 0, code)
        report.wall_time_s += wall
    if ctx.phases is not None:
        ctx.phases.update({"planning": start - t_start, "generators": jobs_start - start,
                           "jobs": time.time() - jobs_start})


Launcher = Callable[[Iterable[PlannedJob], Launch], None]


def plan_and_launch(jobs: list[JobSpec], root: Path, scale: str, seeds: list[int], launcher: str = "basic",
                    extra: list[str] | None = None, dry_run: bool = False,
                    groups: dict[JobSpec, str] | None = None, workers: int = 1,
                    threads_per_worker: int | None = None, phases: dict[str, float] | None = None,
                    run_job: RunJob | None = None) -> list[LaunchReport]:
    """Run every (job, seed) whose record is missing, failed or stale; parents come first in ``jobs``.

    ``run_job`` runs one job in this process or a worker (``RunJob``); the ``in_process`` launcher needs it.
    ``extra``: overrides added to every job. ``groups``: the wandb group of each job (its spec's id);
    used only when ``extra`` selects ``logger=wandb``, and left out of the config hash like every logger
    setting, so a job shared by several specs is still run once. ``workers`` > 1 (in-process launcher
    only): generators first, then the runs, in that many processes of ``threads_per_worker`` torch threads.
    ``phases`` (filled when given): wall seconds of planning, the generator pre-stage and the parallel runs."""
    if launcher == "in_process" and not dry_run and run_job is None:
        raise ValueError("the in_process launcher runs jobs through `run_job`; pass tasks.table.run_entry")
    ctx = Launch(Path(root), scale, launcher, dry_run, run_job, workers, threads_per_worker, phases)
    launch: Launcher = launch_multirun
    if launcher == "in_process" and not dry_run:
        launch = launch_parallel if workers > 1 else launch_in_process
    reports: list[LaunchReport] = []

    def planned() -> Iterator[PlannedJob]:
        for p in plan_jobs(jobs, ctx, seeds, extra, groups):
            reports.append(p.report)
            yield p

    launch(planned(), ctx)
    return reports
