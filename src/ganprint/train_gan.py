"""`ganprint-gan`: train one GAN-zoo generator on the real data, sample it into a cached source folder, and
report its Fréchet distances. A multirun over `gan=` and `seed=` trains many in one command."""

import sys

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["train_gan"]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def _main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


def main() -> None:
    refuse_finished_run_dir(sys.argv)
    _main()


if __name__ == "__main__":
    main()
