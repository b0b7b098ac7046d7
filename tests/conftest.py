"""Shared fixtures: composed configs at smoke scale pointing every output at a temporary directory."""

from __future__ import annotations

import os

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from tests.helpers.hydra_cli import compose_cfg

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread per test: on a 2-core machine, training tests are 10-30x slower oversubscribed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def smoke_train_cfg(tmp_path):
    def make(*overrides: str):
        return compose_cfg("train", tmp_path, ["scale=smoke", "logger=none", "callbacks.progress_bar=null",
                                               *overrides])
    yield make
    GlobalHydra.instance().clear()
