"""`ganprint-openset ckpt=... sources=<known set> unknown=<unknown set>`: open-set scores, thresholds and
calibration of a checkpoint, fitted on validation and measured on known + unknown test images."""

import sys

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["openset"]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def _main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


def main() -> None:
    refuse_finished_run_dir(sys.argv)
    _main()


if __name__ == "__main__":
    main()
