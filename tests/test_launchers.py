"""Launchers and multi-process training: the SLURM launcher resolves without a cluster; DDP on 2 CPU
processes matches one process."""

from __future__ import annotations

import math

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ganprint.utils.config import CONFIG_DIR
from ganprint.utils.run_record import read_run_record
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist, run_cli


def test_submitit_slurm_launcher_resolves(tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["launcher=submitit_slurm", "trainer=ddp", "trainer.num_nodes=2",
                                          "hydra.launcher.gpus_per_node=4", "hydra.launcher.partition=gpu",
                                          f"hydra.sweep.dir={tmp_path}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert cfg.hydra.launcher.partition == "gpu" and cfg.hydra.launcher.timeout_min == 240
    assert cfg.hydra.launcher.gpus_per_node == 4
    assert cfg.hydra.launcher.tasks_per_node == 4  # one SLURM task per GPU, as Lightning's DDP expects
    assert cfg.hydra.launcher.nodes == 2 == cfg.trainer.num_nodes
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.sync_batchnorm is True


def test_joblib_launcher_resolves():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["launcher=joblib"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert "JoblibLauncher" in cfg.hydra.launcher._target_ and cfg.hydra.launcher.n_jobs == 2


@requires_fmnist
def test_ddp_on_two_processes_matches_one_process(tmp_path):
    common = ["scale=smoke", "logger=none", "callbacks.progress_bar=null", "sources=synthetic3",
              "scale.counts.train=400", "scale.max_epochs=3", "scale.fmap_base=128", "scale.fmap_max=64",
              "trainer.deterministic=true",
              f"paths.cache_dir={tmp_path}/cache"]
    run_cli("train", *common, "trainer=cpu", f"hydra.run.dir={tmp_path}/one")
    run_cli("train", *common, "trainer=ddp_cpu", f"hydra.run.dir={tmp_path}/two", timeout=900)
    one, two = read_run_record(tmp_path / "one"), read_run_record(tmp_path / "two")
    # The two processes write one run record between them, for the 2-device run.
    assert sorted((tmp_path / "two").rglob("metrics.json")) == [tmp_path / "two" / "metrics.json"]
    assert two["status"] == "ok" and two["config"]["trainer"]["devices"] == 2
    # The global batch is split between the processes and so are the images: each process takes as many
    # optimizer steps per epoch as the single process does (3 sources x 400 images, 3 epochs).
    batch = two["config"]["scale"]["batch_size"]
    assert two["global_step"] == one["global_step"] == 3 * math.ceil(3 * 400 / batch)
    # Same global batch and data; the order of samples differs (distributed sampler), so within a tolerance.
    assert abs(one["metrics"]["test/acc"] - two["metrics"]["test/acc"]) < 0.15
    assert one["metrics"]["test/acc"] > 0.6 and two["metrics"]["test/acc"] > 0.6


@pytest.mark.parametrize("choice", ["in_process", "basic", "joblib", "submitit_slurm"])
def test_reproduce_takes_the_launcher_group(choice, tmp_path):
    # `launcher` is a config group for every entry point; ganprint-reproduce once kept a plain key of that name,
    # so `ganprint-reproduce launcher=joblib` (as the README writes it) failed with "No match in the defaults list".
    cfg = compose_cfg("reproduce", tmp_path, [f"launcher={choice}"])
    assert cfg.launcher == choice
