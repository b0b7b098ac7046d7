"""Training, testing, evaluating and resuming attNet through the real entry-point code."""

from __future__ import annotations

import json

import pytest
import torch

from ganprint.models.checkpoint import CheckpointError, load_attribution_module, read_checkpoint
from ganprint.tasks.evaluate import evaluate
from ganprint.tasks.train import train
from ganprint.utils.run_record import read_run_record
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist

pytestmark = requires_fmnist


def test_fast_dev_run(smoke_train_cfg):
    cfg = smoke_train_cfg("debug=fdr")
    metrics = train(cfg)
    assert "test/acc" in metrics


def test_short_training_attributes_well_above_chance(smoke_train_cfg, tmp_path):
    # real + 2 synthetic generators; 3-way chance is 33 %.
    cfg = smoke_train_cfg("sources=synthetic3", "scale.counts.train=400", "scale.counts.test=150",
                          "scale.max_epochs=3", "scale.fmap_base=128", "scale.fmap_max=64", "scale.batch_size=32")
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.8, metrics
    record = read_run_record(tmp_path)
    assert record["status"] == "ok" and record["sources"] == ["real", "synth0", "synth1"]
    assert record["seed"] == 1000 and len(record["manifest_sha256"]) == 64
    assert record["git"]["commit"]
    assert sum(map(sum, record["confusion_matrix"])) == 450
    assert record["metrics"]["train/images_per_s"] > 0
    assert (tmp_path / "manifest.csv").read_text().count("\n") == 1 + 3 * (400 + 48 + 150)

    # Evaluating the saved best checkpoint reproduces the test accuracy exactly.
    ckpt = record["ckpt_path"]
    eval_dir = tmp_path / "eval"
    eval_cfg = compose_cfg("eval", eval_dir, ["scale=smoke", "sources=synthetic3", f"ckpt={ckpt}",
                                              "scale.counts.train=400", "scale.counts.test=150"])
    eval_metrics = evaluate(eval_cfg)
    assert eval_metrics["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert read_run_record(eval_dir)["metrics"]["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)

    # The checkpoint carries the label order; another source set is refused with both lists shown.
    meta = read_checkpoint(ckpt)["ganprint"]
    assert meta["source_names"] == ["real", "synth0", "synth1"]
    with pytest.raises(CheckpointError, match=r"synth2.*sources=") as err:
        load_attribution_module(ckpt, expected_sources=["real", "synth0", "synth2"])
    assert "synth1" in str(err.value)


def test_resume_continues_from_its_step(smoke_train_cfg, tmp_path):
    cfg = smoke_train_cfg("scale.max_epochs=1", "test=false")
    train(cfg)
    first = read_run_record(tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file() and first["global_step"] > 0
    cfg2 = smoke_train_cfg("scale.max_epochs=2", "test=false", f"ckpt_path={last}")
    train(cfg2)
    second = read_run_record(tmp_path)
    assert second["global_step"] == 2 * first["global_step"]
    assert second["epochs"] == 2


def test_step_budget_ending_mid_epoch_validates_and_tests_its_final_weights(smoke_train_cfg, tmp_path):
    # The smoke set has more than 7 batches per epoch, so the budget ends inside the first epoch. Without a last
    # validation no checkpoint would hold those weights and the test would run on an older (or no) checkpoint.
    cfg = smoke_train_cfg("+scale.max_steps=7", "scale.max_epochs=3")
    metrics = train(cfg)
    record = read_run_record(tmp_path)
    assert record["global_step"] == 7 and "val/acc" in metrics
    for name in ("best.ckpt", "last.ckpt"):
        assert read_checkpoint(tmp_path / "checkpoints" / name)["global_step"] == 7, name
    assert record["ckpt_path"].endswith("best.ckpt")


def test_crafted_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('" + str(tmp_path / "pwned") + "', 'w').write('x')",))

    path = tmp_path / "evil.ckpt"
    torch.save({"ganprint": {}, "state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="could run code"):
        load_attribution_module(path)
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "junk.ckpt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="not a ganprint"):
        read_checkpoint(tmp_path / "foreign.ckpt")


def test_same_seed_same_accuracy_in_deterministic_mode(smoke_train_cfg, tmp_path):
    accs = []
    for _ in range(2):
        cfg = smoke_train_cfg("trainer.deterministic=true", "scale.max_epochs=1")
        accs.append(train(cfg)["test/acc"])
    assert accs[0] == accs[1]
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["seed"] == 1000


def test_scale_precision_reaches_the_training_steps(tmp_path):
    """``scale.precision`` (bf16-mixed at the cpu scale) must reach the trainer of a run: the same seed and batches
    give another loss in bf16 than in fp32, and the bf16 run still writes its record."""
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_cfg("train", tmp_path / precision, ["scale=smoke", "logger=none", "callbacks.progress_bar=null",
                                                          "debug=fdr", f"scale.precision={precision}"])
        assert cfg.trainer.precision == precision
        losses[precision] = train(cfg)["test/loss"]
        assert read_run_record(tmp_path / precision)["config"]["trainer"]["precision"] == precision
    assert losses["bf16-mixed"] != pytest.approx(losses["32-true"], rel=1e-6, abs=0), losses
    assert compose_cfg("train", tmp_path / "cpu", ["scale=cpu"]).trainer.precision == "bf16-mixed"
