"""Every conf/gan/*.yaml instantiates to its family, and GanZoo accepts its spec as a plain dict."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
from omegaconf import OmegaConf

from ganprint.gans import FAMILIES, GANFamily, GanZoo, build_family
from ganprint.utils.config import CONFIG_DIR

GAN_CONFIGS = sorted((CONFIG_DIR / "gan").glob("*.yaml"))


def test_one_config_per_family():
    assert sorted(p.stem for p in GAN_CONFIGS) == sorted(FAMILIES)


@pytest.mark.parametrize("path", GAN_CONFIGS, ids=lambda p: p.stem)
def test_gan_config_instantiates(path):
    cfg = OmegaConf.load(path)
    family = hydra.utils.instantiate(cfg.spec)
    assert isinstance(family, GANFamily) and family.name == path.stem == cfg.spec.family
    assert isinstance(cfg.max_steps, int) and cfg.max_steps > 0 and cfg.batch_size >= 2
    spec = OmegaConf.to_container(cfg.spec, resolve=True)
    resolved = GanZoo.resolve_spec(spec, np.zeros((2, 32, 32, 1), np.uint8))
    assert "_target_" not in resolved
    again = build_family(**resolved)
    # The YAML values are what the family uses (nothing silently dropped).
    for key in ("arch", "optim", "loss"):
        for k, v in spec.get(key, {}).items():
            assert again.cfg[key][k] == v, (key, k)
    assert again.n_dis == spec["n_dis"]
