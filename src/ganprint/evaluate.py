"""`ganprint-eval`: evaluate a checkpoint on a source set (optionally perturbed), write the run record."""

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import run_job
from ganprint.utils.config import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    from ganprint.tasks.evaluate import evaluate

    run_job(cfg, evaluate)


if __name__ == "__main__":
    main()
