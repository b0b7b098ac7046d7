"""``RunRecord``: the provenance keys each kind of record carries, computed from the config in one place."""

from __future__ import annotations

import json
import time

from omegaconf import OmegaConf

from ganprint.utils.config import config_hash
from ganprint.utils.run_record import RECORD_NAME, RunRecord

CFG = OmegaConf.create({"seed": 7, "train_seed": 3, "tags": ["a"], "model": {"lr": 0.1}, "paths": {"x": "/tmp"}})
BASE = {"record_version", "written_at", "git", "versions", "host", "task", "status"}


def written(record: RunRecord, tmp_path) -> dict:
    return json.loads(record.write(tmp_path).read_text())


def test_full_record(tmp_path):
    rec = written(RunRecord.from_config(CFG, time.time() - 2, "train", metrics={"test/acc": 1.0}), tmp_path)
    assert set(rec) == BASE | {"metrics", "config", "config_sha256", "seed", "tags", "wall_time_s"}
    assert (rec["task"], rec["status"], rec["seed"], rec["tags"]) == ("train", "ok", 7, ["a"])
    assert rec["config_sha256"] == config_hash(CFG) and rec["config"]["model"] == {"lr": 0.1}
    assert 2 <= rec["wall_time_s"] < 60
    assert (tmp_path / RECORD_NAME).is_file()


def test_omitted_keys_and_seed(tmp_path):
    rec = written(RunRecord.from_config(CFG, time.time(), "attribute", omit=("config_sha256", "seed", "tags")),
                  tmp_path)
    assert set(rec) == BASE | {"config", "wall_time_s"}
    rec = written(RunRecord.from_config(CFG, time.time(), "train_gan", seed=CFG.train_seed, omit=("tags",)), tmp_path)
    assert rec["seed"] == 3 and "tags" not in rec


def test_record_without_config(tmp_path):
    rec = written(RunRecord("train", "failed", {"reason": "r", "overrides": ["x=1"]}, recorded=()), tmp_path)
    assert set(rec) == BASE | {"reason", "overrides"} and rec["status"] == "failed"


def test_a_scales_visnet_recipe_moves_only_the_runs_whose_model_reads_it():
    base = {"scale": {"name": "cpu", "max_steps": 3000}, "model": {"net": {"_target_": "AttNet"}, "lr": 0.02}}
    with_visnet = {**base, "scale": {**base["scale"], "visnet": {"lr": 0.02, "norm": "batch"}}}
    assert config_hash(with_visnet) == config_hash(base)  # an attNet run is not made stale by visNet's block
    visnet_run = {**with_visnet, "model": {"net": {"_target_": "VisNet", "norm": "batch"}, "lr": 0.02}}
    official = {**visnet_run, "model": {"net": {"_target_": "VisNet", "norm": "none"}, "lr": 0.001}}
    assert config_hash(visnet_run) != config_hash(official)  # the recipe still moves a visNet run's hash


def test_data_keys_added_later_leave_old_hashes_alone_only_when_off():
    base = {"scale": {"name": "cpu"}, "data": {"counts": {"test": 2000}}}
    off = {**base, "data": {**base["data"], "test_limit": None, "normalize": None}}
    assert config_hash(off) == config_hash(base)
    capped = {**base, "data": {**base["data"], "test_limit": 500}}
    assert config_hash(capped) != config_hash(base)
