"""`ganprint-reproduce` (`make reproduce-tables`): run every table spec of specs/ that has no record yet,
then write the tables, figures, index and provenance under results/<scale>/."""

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["reproduce"]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


if __name__ == "__main__":
    main()
