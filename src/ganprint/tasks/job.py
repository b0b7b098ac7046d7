"""Running one job: timing, a run record even on failure, wandb closed, user errors without tracebacks.

In a Hydra multirun a failed job writes a record with ``status: failed`` and its reason, and the sweep goes on
(the report shows the gap); in a single run the error ends the program with exit code 1 and one clear line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ganprint.errors import UserError
from ganprint.utils.config import in_multirun
from ganprint.utils.loggers import finish_wandb
from ganprint.utils.quiet import silence_lightning_noise
from ganprint.utils.run_record import RECORD_NAME, RunRecord

log = logging.getLogger("ganprint")


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def user_cause(exc: BaseException) -> BaseException:
    """The UserError inside Hydra's InstantiationException (a constructor that rejected a config value, e.g.
    ``scale.batch_size=0``), so it is reported as one line like any other; ``exc`` itself otherwise."""
    cause = exc.__cause__
    return cause if isinstance(exc, InstantiationException) and isinstance(cause, UserError) else exc


NO_JOB_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--resolve")


def refuse_finished_run_dir(argv: list[str], resumable: bool = False) -> None:
    """Exit with one line when ``hydra.run.dir=`` on the command line names a directory that already holds a
    finished run record (``status: ok``): a second run there would interleave its files with the first one's
    (Hydra's config, ``-v1`` checkpoints, the record), last writer wins.

    Called by the entry points before Hydra starts, since Hydra writes ``.hydra/`` into the directory before the
    job runs. ``resumable`` (training): continuing the run is allowed, with ``ckpt_path=`` or with ``resume=auto``
    and the run's own ``checkpoints/last.ckpt`` (the re-run-in-place a reproduction relies on)."""
    args = argv[1:]
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP rank Lightning started inside the job: not a new run
        return
    if any(a in ("-m", "--multirun") for a in args) or any(a.split("=")[0] in NO_JOB_FLAGS for a in args):
        return
    dirs = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("hydra.run.dir=")]
    if not dirs or "${" in dirs[-1]:
        return
    run = Path(dirs[-1].strip("'\"")).expanduser()
    try:
        finished = json.loads((run / RECORD_NAME).read_text()).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return
    if not finished:
        return
    if resumable:
        ckpt_path = [a.split("=", 1)[1] for a in args if a.startswith("ckpt_path=")]
        if ckpt_path and ckpt_path[-1] not in ("", "null"):
            return
        if "resume=never" not in args and (run / "checkpoints" / "last.ckpt").is_file():
            return
    print(f"Error: {run} already holds a finished run ({run / RECORD_NAME}, status ok); pass a new "
          f"`hydra.run.dir=` (or leave it out for a fresh one)" + (", or `ckpt_path=<that run>/checkpoints/"
                                                                   "last.ckpt` to continue it" if resumable else "")
          + ".", file=sys.stderr)
    sys.exit(1)


def run_job(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> dict[str, Any] | None:
    """Run ``task(cfg)`` (which writes its own record on success); on failure write a failed record."""
    start = time.time()
    silence_lightning_noise()
    try:
        return task(cfg)
    except (UserError, KeyboardInterrupt, Exception) as exc:  # noqa: B014 - each branch below is distinct
        user_error = isinstance(user_cause(exc), UserError)
        reason = str(user_cause(exc)) if user_error else f"{type(exc).__name__}: {exc}"
        try:
            RunRecord.from_config(cfg, start, cfg.get("task_name", "job"), "failed", omit=("tags",), reason=reason,
                                  traceback=None if user_error else traceback.format_exc()).write(output_dir(cfg))
        except Exception:  # a broken config must not hide the original error
            log.debug("could not write the failed run record", exc_info=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        if in_multirun():
            log.error("job failed, the sweep goes on: %s", reason)
            return None
        if user_error:
            log.error("%s", reason)
            sys.exit(1)
        raise
    finally:
        finish_wandb()


def print_config(cfg: DictConfig) -> None:
    log.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=False))
