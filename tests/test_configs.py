"""Every config file composes, and everything in it with a ``_target_`` instantiates."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from ganprint.models.baselines.base import Baseline
from ganprint.tasks.train import is_baseline
from ganprint.utils.config import CONFIG_DIR
from ganprint.utils.instantiate import instantiate_group
from tests.helpers.hydra_cli import compose_cfg

GROUP_OVERRIDES = {"data": ["++data_root={tmp}"], "sources": ["++sources.gan_root={tmp}"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def all_train_overrides() -> list[list[str]]:
    out = []
    for group in ("scale", "data", "sources", "model", "trainer", "callbacks", "logger", "debug", "experiment",
                  "variant", "perturb", "attack"):
        if not (CONFIG_DIR / group).is_dir():
            continue
        for opt in options(group):
            out.append([f"{group}={opt}", *GROUP_OVERRIDES.get(group, [])])
    return out


@pytest.mark.parametrize("overrides", all_train_overrides(), ids=lambda o: o[0])
def test_train_config_option_composes_and_instantiates(overrides, tmp_path):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    if not any(o.startswith("scale=") for o in overrides):
        overrides.append("scale=smoke")
    cfg = compose_cfg("train", tmp_path, overrides)
    if any(o.startswith("trainer=") and ("gpu" in o or o == "trainer=ddp") for o in overrides):
        # GPU configs must compose and name a valid Trainer; instantiating them needs a GPU.
        assert cfg.trainer.accelerator == "gpu"
        assert OmegaConf.to_container(cfg.trainer, resolve=True)
        return
    dm = hydra.utils.instantiate(cfg.data)
    assert dm.num_classes == len(cfg.sources.members) >= 2
    if is_baseline(cfg):
        assert isinstance(hydra.utils.instantiate(cfg.model), Baseline)
    else:
        model = hydra.utils.instantiate(cfg.model, source_names=dm.source_names)
        assert model.net.spec()["num_classes"] == dm.num_classes
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    assert trainer.max_epochs >= 1 or cfg.trainer.get("fast_dev_run")


@pytest.mark.parametrize("name", ["eval", "attribute", "openset", "reproduce"])
def test_other_entry_configs_compose(name, tmp_path):
    overrides = {"eval": ["ckpt=x.ckpt"], "attribute": ["ckpt=x.ckpt", "input=somewhere"],
                 "openset": ["ckpt=x.ckpt"], "reproduce": []}[name]
    cfg = compose_cfg(name, tmp_path, overrides)
    assert cfg.task_name == name
    if name in ("eval", "openset"):
        dm = hydra.utils.instantiate(cfg.data)
        assert dm.source_names[0] == "real"


def test_every_yaml_is_reachable():
    """No config file hides outside the groups the tests compose."""
    groups = {p.parent.name for p in Path(CONFIG_DIR).rglob("*.yaml")} - {"conf"}
    tested = {"scale", "data", "sources", "model", "trainer", "callbacks", "logger", "debug", "experiment",
              "variant", "perturb", "attack", "paths", "hydra", "gan", "launcher", "local", "unknown"}
    assert groups <= tested, f"untested config groups: {groups - tested}"


@pytest.mark.parametrize(("scale", "plain", "fine_tune"), [("cpu", 2e-3, 5e-4), ("smoke", 1e-3, 1e-3), ("paper", 1e-3, 1e-3)])
def test_attnet_fine_tunes_at_its_scales_fine_tuning_rate(scale, plain, fine_tune, tmp_path):
    """A fine-tune (init_ckpt set: immunization) starts from a converged net, so the cpu scale, which trains at 2e-3,
    fine-tunes at 5e-4; scales that keep the official 1e-3 keep it for both."""
    base = ["sources=architectures5", "model=attnet", f"scale={scale}"]
    assert compose_cfg("train", tmp_path, base).model.optimizer.lr == plain
    assert compose_cfg("train", tmp_path, [*base, "init_ckpt=parent.ckpt"]).model.optimizer.lr == fine_tune
