"""Every conf/model baseline config instantiates to its baseline with the documented grid."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from ganprint.models.baselines import BASELINES
from ganprint.utils.config import CONFIG_DIR

CONF = CONFIG_DIR / "model"


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_model_config_instantiates(name, tmp_path):
    cfg = OmegaConf.create({"seed": 7, "paths": {"cache_dir": str(tmp_path)},
                            "model": OmegaConf.load(CONF / f"{name}.yaml")})
    model = hydra.utils.instantiate(cfg.model)
    assert isinstance(model, BASELINES[name]) and model.seed == 7 and model.progress
    assert len(model.param_grid()) >= 3
    if name == "content_knn":
        assert Path(model.cache_dir) == tmp_path / "content_classifier"
