"""Running one job: timing, a run record even on failure, wandb closed, user errors without tracebacks.

In a Hydra multirun a failed job writes a record with ``status: failed`` and its reason, and the sweep goes on
(the report shows the gap); in a single run the error ends the program with exit code 1 and one clear line.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ganprint.errors import UserError
from ganprint.utils.config import config_hash, to_container
from ganprint.utils.loggers import finish_wandb
from ganprint.utils.run_record import write_run_record

log = logging.getLogger("ganprint")


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> dict[str, Any] | None:
    """Run ``task(cfg)`` (which writes its own record on success); on failure write a failed record."""
    start = time.time()
    try:
        return task(cfg)
    except (UserError, KeyboardInterrupt, Exception) as exc:  # noqa: B014 - each branch below is distinct
        user_error = isinstance(exc, UserError)
        reason = str(exc) if user_error else f"{type(exc).__name__}: {exc}"
        try:
            write_run_record(output_dir(cfg), task=cfg.get("task_name", "job"), status="failed", reason=reason,
                             traceback=None if user_error else traceback.format_exc(),
                             config=to_container(cfg), config_sha256=config_hash(cfg), seed=cfg.get("seed"),
                             wall_time_s=time.time() - start)
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
