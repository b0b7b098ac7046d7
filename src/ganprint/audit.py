"""`ganprint-audit sources=... [data=folders data_root=...]`: do the sources differ by something other than
their generator (file format, JPEG quality, size, colour mode, metadata, duplicates)?"""

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["audit"]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


if __name__ == "__main__":
    main()
