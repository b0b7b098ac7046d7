"""`ganprint-attribute ckpt=... input=<file|folder|glob>`: say which source made each image."""

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import run_job
from ganprint.utils.config import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="attribute")
def main(cfg: DictConfig) -> None:
    from ganprint.tasks.attribute import attribute

    run_job(cfg, attribute)


if __name__ == "__main__":
    main()
