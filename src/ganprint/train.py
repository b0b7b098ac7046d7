"""`ganprint-train`: train an attribution model on a source set, test it, write the run record."""

import sys

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["train"]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def _main(cfg: DictConfig) -> float | None:
    metrics = run_job(cfg, TASK.load())
    return None if metrics is None else metrics.get(cfg.get("optimized_metric") or "val/acc_best")


def main() -> None:
    refuse_finished_run_dir(sys.argv, resumable=True)
    _main()


if __name__ == "__main__":
    main()
