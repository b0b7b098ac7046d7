"""Reliability: killed runs resume to the same step count, failed multirun jobs leave the others running,
bad names list the valid choices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ganprint.utils.config import PROJECT_ROOT
from ganprint.utils.run_record import read_run_record
from tests.helpers.hydra_cli import requires_fmnist, run_cli

pytestmark = requires_fmnist
SMOKE = ["scale=smoke", "logger=none", "callbacks.progress_bar=null", "sources=synthetic3"]


def test_killed_training_resumes_and_finishes_with_the_same_steps(tmp_path):
    args = [*SMOKE, "scale.counts.train=400", "scale.max_epochs=4", "test=false"]
    ref = tmp_path / "ref"
    run_cli("train", *args, f"hydra.run.dir={ref}", f"paths.cache_dir={tmp_path}/cache")
    want = read_run_record(ref)["global_step"]

    run = tmp_path / "killed"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganprint.train", *args, f"hydra.run.dir={run}",
                             f"paths.cache_dir={tmp_path}/cache"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.is_file() and not (run / "metrics.json").exists(), "the run must be killed after its first epoch"

    # Same command, same directory: it continues from last.ckpt by itself.
    run_cli("train", *args, f"hydra.run.dir={run}", f"paths.cache_dir={tmp_path}/cache")
    record = read_run_record(run)
    assert record["status"] == "ok" and record["global_step"] == want
    assert "val/acc" in record["metrics"]


def test_a_changed_config_in_the_same_directory_trains_anew_and_keeps_the_old_checkpoints(tmp_path):
    """A reproduction re-runs a job whose config changed in the same directory. Continuing from the old
    last.ckpt (already at its last step) would record the old run's weights under the new config; the new
    config must train from step 0, and the old checkpoints stay on disk."""
    args = [*SMOKE, "scale.counts.train=200", "test=false", f"paths.cache_dir={tmp_path}/cache"]
    run = tmp_path / "run"
    run_cli("train", *args, "scale.max_epochs=2", f"hydra.run.dir={run}")
    first = read_run_record(run)["global_step"]
    old_stamp = (run / "checkpoints" / "config_sha256").read_text()
    run_cli("train", *args, "scale.max_epochs=3", f"hydra.run.dir={run}")
    record = read_run_record(run)
    assert record["status"] == "ok" and record["global_step"] == first * 3 // 2   # 3 epochs from scratch
    stale = run / f"checkpoints.stale-{old_stamp[:12]}"
    assert (stale / "last.ckpt").is_file() and (stale / "config_sha256").read_text() == old_stamp
    assert (run / "checkpoints" / "config_sha256").read_text() == record["config_sha256"] != old_stamp
    # The same config again: it continues from its own last.ckpt (already at the end), no new stale copy.
    run_cli("train", *args, "scale.max_epochs=3", f"hydra.run.dir={run}")
    assert read_run_record(run)["global_step"] == record["global_step"]
    assert len(list(run.glob("checkpoints.stale-*"))) == 1


def test_a_failed_multirun_job_does_not_stop_the_others(tmp_path):
    # The second job asks for an impossible split (more test images than exist at this size) and fails.
    run_cli("train", "-m", *SMOKE, "debug=fdr", "scale.counts.test=48,10000000", f"hydra.sweep.dir={tmp_path}",
            f"paths.cache_dir={tmp_path}/cache")
    ok, failed = read_run_record(tmp_path / "0"), read_run_record(tmp_path / "1")
    assert ok["status"] == "ok"
    assert failed["status"] == "failed" and "data.counts" in failed["reason"]


def test_unknown_names_list_the_valid_choices(tmp_path):
    proc = run_cli("train", *SMOKE, "model=resnet9000", f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "attnet" in proc.stderr and "knn" in proc.stderr  # Hydra lists the options of the group
    proc = run_cli("evaluate", "ckpt=x", "perturb=sharpen", f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0 and "jpeg" in proc.stderr
