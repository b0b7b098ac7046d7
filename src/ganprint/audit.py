"""`ganprint-audit sources=... [data=folders data_root=...]`: do the sources differ by something other than
their generator (file format, JPEG quality, size, colour mode, metadata, duplicates)?"""

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import run_job
from ganprint.utils.config import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="audit")
def main(cfg: DictConfig) -> None:
    from ganprint.tasks.audit import audit

    run_job(cfg, audit)


if __name__ == "__main__":
    main()
