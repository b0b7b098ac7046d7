"""The entry points as a user runs them: attribute a folder, multiruns of plain and of DDP jobs,
and user errors that end in one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprint.models.checkpoint import read_checkpoint
from ganprint.utils.run_record import read_run_record
from tests.helpers.hydra_cli import requires_fmnist, run_cli

pytestmark = requires_fmnist
SMOKE = ["scale=smoke", "logger=none", "callbacks.progress_bar=null", "sources=synthetic3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    run_cli("train", *SMOKE, "scale.max_epochs=2", f"hydra.run.dir={out}", f"paths.cache_dir={out}/cache")
    return out


def test_attribute_folder_with_a_corrupt_file(trained, tmp_path):
    ckpt = read_run_record(trained)["ckpt_path"]
    folder = tmp_path / "suspects"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "attr"
    proc = run_cli("attribute", f"ckpt={ckpt}", f"input={folder}", f"hydra.run.dir={out}")
    assert "broken.png" in proc.stdout + proc.stderr
    result = json.loads((out / "attributions.json").read_text())
    assert len(result["predictions"]) == 5 and len(result["skipped"]) == 1
    for row in result["predictions"]:
        probs = [row[f"p_{s}"] for s in result["sources"]]
        assert abs(sum(probs) - 1) < 1e-4 and row["source"] in {"real", "synth0", "synth1"}
    assert (out / "attributions.csv").read_text().count("\n") == 6


def test_wrong_source_set_is_one_clear_error(trained, tmp_path):
    ckpt = read_run_record(trained)["ckpt_path"]
    proc = run_cli("evaluate", *SMOKE[:2], "sources=synthetic5", f"ckpt={ckpt}", f"hydra.run.dir={tmp_path}",
                   check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "synth3" in proc.stdout + proc.stderr and "sources=" in proc.stdout + proc.stderr
    assert read_run_record(tmp_path)["status"] == "failed"


def test_missing_data_names_the_config_key(tmp_path):
    proc = run_cli("train", *SMOKE, f"paths.fashion_mnist_dir={tmp_path}/nowhere", f"hydra.run.dir={tmp_path}",
                   check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "paths.fashion_mnist_dir" in proc.stdout + proc.stderr


def test_multirun_of_two_jobs_writes_two_records(tmp_path):
    run_cli("train", "-m", *SMOKE, "debug=fdr", "seed=1,2", f"hydra.sweep.dir={tmp_path}",
            f"paths.cache_dir={tmp_path}/cache")
    records = sorted(tmp_path.glob("*/metrics.json"))
    assert len(records) == 2
    assert sorted(read_run_record(r)["seed"] for r in records) == [1, 2]


def test_ddp_jobs_in_a_multirun_write_one_directory_each(tmp_path):
    run_cli("train", "-m", *SMOKE, "trainer=ddp_cpu", "debug=fdr", "trainer.devices=2", "seed=1,2",
            f"hydra.sweep.dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache", timeout=900)
    records = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("metrics.json"))
    assert [str(r) for r in records] == ["0/metrics.json", "1/metrics.json"]
    assert sorted(d.name for d in tmp_path.iterdir() if d.is_dir()) == ["0", "1"]


def test_ddp_step_budget_ending_mid_epoch_validates_its_final_weights(tmp_path):
    # 3 sources x 96 images in batches of 32 over two ranks: 5 batches per rank and epoch, so a 3-step budget ends
    # inside the first. Both ranks must take the stop request together (a one-rank stop would hang the gloo group).
    run_cli("train", *SMOKE, "trainer=ddp_cpu", "trainer.devices=2", "+scale.max_steps=3", "scale.max_epochs=2",
            f"hydra.run.dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache", timeout=900)
    record = read_run_record(tmp_path)
    assert record["global_step"] == 3 and "val/acc" in record["metrics"]
    assert read_checkpoint(tmp_path / "checkpoints" / "best.ckpt")["global_step"] == 3
