"""Issue 18, cases 2, 4, 6 (config side), 8 and 12: what a run checks before it trusts a checkpoint or a
directory, and what its record says afterwards.

One smoke training (synthetic3, 1 epoch) is shared by the module; everything else runs in this process, so the
whole file takes about a minute on 2 busy cores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import pytest
from omegaconf import open_dict
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist

from ganprint.errors import ConfigError, UserError
from ganprint.evaluate import scale_from_checkpoint_argv
from ganprint.models.checkpoint import CheckpointError
from ganprint.reporting.aggregate import RESUMED_MARK, cell_from_records
from ganprint.reporting.tables import write_table
from ganprint.runstore.spec import load_spec
from ganprint.tasks.evaluate import evaluate
from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.train import train
from ganprint.utils.run_record import read_run_record

pytestmark = requires_fmnist
SMOKE = ["scale=smoke", "logger=none", "callbacks.progress_bar=null", "sources=synthetic3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished smoke run: record, manifest, checkpoints/{best,last}.ckpt."""
    out = tmp_path_factory.mktemp("trained")
    train(compose_cfg("train", out, [*SMOKE, f"paths.cache_dir={out.parent}/cache"]))
    return out


def train_cfg(tmp_path: Path, trained: Path, *overrides: str):
    return compose_cfg("train", tmp_path, [*SMOKE, f"paths.cache_dir={trained.parent}/cache", *overrides])


def assert_one_sentence(exc: BaseException, *needles: str) -> None:
    msg = str(exc)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg


# --- case 2: ckpt_path= (resume) gets the checks of ckpt= and init_ckpt= ----------------------------------------

def test_resume_from_another_source_set_is_refused(trained, tmp_path):
    """Before: a last.ckpt of another source set of the same size continued training under the new labels."""
    last = trained / "checkpoints" / "last.ckpt"
    cfg = train_cfg(tmp_path, trained, f"ckpt_path={last}", "scale.max_epochs=2", "test=false")
    with open_dict(cfg):
        cfg.data.sources[2].name = "other"   # same size, another member
    with pytest.raises(CheckpointError) as err:
        train(cfg)
    assert_one_sentence(err.value, "'synth1'", "'other'", "sources=")
    assert not (tmp_path / "metrics.json").exists()


def test_resume_on_other_data_is_refused(trained, tmp_path):
    last = trained / "checkpoints" / "last.ckpt"
    cfg = train_cfg(tmp_path, trained, f"ckpt_path={last}", "scale.counts.train=64", "test=false")
    with pytest.raises(CheckpointError) as err:
        train(cfg)
    assert_one_sentence(err.value, "other data or another network", "init_ckpt=")


@pytest.mark.parametrize("kind", ["missing", "text", "directory"])
def test_resume_from_a_bad_file_is_one_sentence(trained, tmp_path, kind):
    """Before: a 37-53-line traceback from inside Lightning."""
    path = {"missing": tmp_path / "nope.ckpt", "text": tmp_path / "notes.ckpt", "directory": tmp_path}[kind]
    if kind == "text":
        path.write_text("epoch 3 was the best\n")
    with pytest.raises(CheckpointError) as err:
        train(train_cfg(tmp_path / "run", trained, f"ckpt_path={path}"))
    assert_one_sentence(err.value, "ckpt_path=")


# --- case 4: a resumed run says so, and so does its table cell -------------------------------------------------

def test_a_resumed_run_is_recorded_and_marked_in_its_table(trained, tmp_path):
    first = read_run_record(trained)
    last = trained / "checkpoints" / "last.ckpt"
    train(train_cfg(tmp_path, trained, f"ckpt_path={last}", "scale.max_epochs=2", "test=false"))
    record = read_run_record(tmp_path)
    assert record["resumed_from"] == str(last)
    assert record["resumed_at_step"] == first["global_step"] > 0
    assert record["global_step"] == 2 * first["global_step"]
    assert record["last_ckpt"] == str(tmp_path / "checkpoints" / "last.ckpt")   # before: ""
    assert first.get("resumed_from") is None and first["last_ckpt"].endswith("last.ckpt")

    cell = cell_from_records([record, {**first, "status": "ok"}], "val/acc", percent=True)
    assert cell.resumed == 1 and cell.text().endswith(RESUMED_MARK)
    assert not cell_from_records([first], "val/acc", percent=True).text().endswith(RESUMED_MARK)
    spec_file = tmp_path / "t.yaml"
    spec_file.write_text(json.dumps({"id": "t", "title": "t", "rows": [{"name": "attNet", "overrides": []}],
                                     "columns": [{"name": "val", "metric": "val/acc"}]}))
    written = write_table(load_spec(spec_file), {("attNet", "val"): cell}, tmp_path / "tables")
    assert f"{RESUMED_MARK} Resumed from a checkpoint" in written["markdown"]
    assert "attNet / val (1 seed)" in written["markdown"]


# --- case 6: config values that cannot work are one sentence naming the key ----------------------------------------

@pytest.mark.parametrize(("override", "key"), [
    ("scale.batch_size=0", "scale.batch_size"),
    ("scale.counts.test=0", "scale.counts.test"),
    ("scale.counts.train=-5", "scale.counts.train"),
])
def test_impossible_sizes_name_their_key(trained, tmp_path, override, key, caplog):
    """Before: batch size 0 was a DataLoader traceback; zero or negative counts said "too few images"."""
    cfg = train_cfg(tmp_path, trained, override)
    with pytest.raises(SystemExit) as exit_:
        run_job(cfg, train)
    assert exit_.value.code == 1
    reason = read_run_record(tmp_path)["reason"]
    assert_one_sentence(reason, key)
    assert "too few" not in reason and "Traceback" not in caplog.text


# --- case 8: evaluation refuses test images the checkpoint trained on; scale from the checkpoint ------------------

def eval_cfg(tmp_path: Path, trained: Path, *overrides: str):
    return compose_cfg("eval", tmp_path, [*SMOKE[:2], "sources=synthetic3", f"ckpt={trained / 'checkpoints/best.ckpt'}",
                                          f"paths.cache_dir={trained.parent}/cache", *overrides])


@pytest.mark.slow  # three evaluations: minutes on 2 busy cores
def test_eval_on_training_images_is_refused_unless_asked(trained, tmp_path):
    """Before: other scale.counts evaluated on training images without a word (the splits are consecutive
    slices of one permutation: fewer training images move the test slice onto them)."""
    with pytest.raises(ConfigError) as err:
        evaluate(eval_cfg(tmp_path / "refused", trained, "scale.counts.train=16"))
    assert_one_sentence(err.value, "of the test images were training", "+allow_train_overlap=true")
    assert not (tmp_path / "refused" / "metrics.json").exists()

    evaluate(eval_cfg(tmp_path / "allowed", trained, "scale.counts.train=16", "+allow_train_overlap=true"))
    overlap = read_run_record(tmp_path / "allowed")["training_overlap"]
    assert overlap["checked"] and overlap["images"] > 0 and overlap["images"] == overlap["train"] + overlap["val"]
    assert overlap["manifest"] == str(trained / "manifest.csv")
    # an evaluation at the training's own scale is not refused: the mini reproduction's evaluate row
    # (tests/pipeline/test_reproduce.py) runs one


def test_eval_takes_the_checkpoints_scale_and_refuses_another_resolution(trained, tmp_path):
    """Before: `ganprint-eval ckpt=<smoke ckpt>` ran at the cpu scale; scale.resolution=64 gave 76 lines."""
    ckpt = f"ckpt={trained / 'checkpoints/best.ckpt'}"
    assert scale_from_checkpoint_argv(["ganprint-eval", ckpt]) == ["ganprint-eval", "scale=smoke", ckpt]
    assert scale_from_checkpoint_argv(["ganprint-eval", ckpt, "scale=cpu"])[1:] == [ckpt, "scale=cpu"]
    with pytest.raises(ConfigError) as err:
        evaluate(eval_cfg(tmp_path, trained, "scale.resolution=64"))
    assert_one_sentence(err.value, "takes 32x32", "64x64", "scale=smoke")


# --- case 12: an explicit hydra.run.dir holding a finished run is refused unless resuming ---------------------------

def test_a_finished_run_directory_is_not_written_twice(trained, tmp_path, capsys):
    before = (trained / "metrics.json").read_bytes()
    for argv in (["ganprint-eval", "ckpt=x", f"hydra.run.dir={trained}"],
                 ["ganprint-train", f"hydra.run.dir={trained}", "resume=never"]):
        with pytest.raises(SystemExit) as exit_:
            refuse_finished_run_dir(argv, resumable=argv[0] == "ganprint-train")
        assert exit_.value.code == 1
        assert f"{trained} already holds a finished run" in capsys.readouterr().err
    assert (trained / "metrics.json").read_bytes() == before
    # resuming (its own last.ckpt, resume=auto), a sweep, or a fresh directory go on
    refuse_finished_run_dir(["ganprint-train", f"hydra.run.dir={trained}"], resumable=True)
    refuse_finished_run_dir(["ganprint-eval", "-m", f"hydra.run.dir={trained}"])
    refuse_finished_run_dir(["ganprint-eval", f"hydra.run.dir={tmp_path}"])
    assert sys.argv  # untouched


def test_user_errors_inside_constructors_are_user_errors():
    with pytest.raises(hydra.errors.InstantiationException) as err:
        hydra.utils.instantiate({"_target_": "ganprint.data.AttributionDataModule", "sources": []})
    from ganprint.tasks.job import user_cause

    assert isinstance(user_cause(err.value), UserError)
