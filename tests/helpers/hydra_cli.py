"""Helpers for tests: compose configs as a job sees them, run entry points as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ganprint.utils.config import CONFIG_DIR, PROJECT_ROOT

FMNIST_DIR = Path(os.environ.get("GANPRINT_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))

requires_fmnist = pytest.mark.skipif(
    not any(FMNIST_DIR.glob("train-images-idx3-ubyte*")),
    reason=f"Fashion-MNIST not in {FMNIST_DIR}; `make install` installs Debian's dataset-fashion-mnist",
)


def compose_cfg(config_name: str, tmp_path: Path, overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` as a job would see it, outputs under ``tmp_path``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, return_hydra_config=True, overrides=[
            f"paths.output_dir={tmp_path}", f"paths.log_dir={tmp_path}/logs",
            f"paths.cache_dir={tmp_path}/cache", f"paths.data_dir={tmp_path}/data",
            *(overrides or []),
        ])
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def run_cli(module: str, *overrides: str, cwd: Path | None = None, timeout: int = 600,
            check: bool = True) -> subprocess.CompletedProcess:
    """Run an entry point (``python -m ganprint.<module> overrides...``) as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", f"ganprint.{module}", *overrides], cwd=cwd or PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ganprint.{module} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
