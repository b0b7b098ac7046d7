"""Killed GAN trainings resume: from the cache entry's resume checkpoint, to the same step counts and the same
weights as an uninterrupted run; corrupt, foreign or crafted resume checkpoints are reported and never used."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tests.data.test_sources import ArraySource
from tests.gans.test_gan_zoo import TINY, blobs

import ganprint.data.sources.generator as generator_source
from ganprint.data.sources import GeneratorSource
from ganprint.gans import GANModule, GanZoo
from ganprint.gans import zoo as zoo_module
from ganprint.gans.checkpoint import RESUME_FORMAT, load_resume
from ganprint.utils.config import PROJECT_ROOT

# DCGAN with two critic steps per generator step, so d_steps == max_steps * n_dis is a real check.
SPEC = {"family": "dcgan", **TINY["dcgan"], "n_dis": 2}
STEPS, BATCH = 150, 8


def request(cache_dir: str, every: int = 10) -> GeneratorSource:
    """The generator request the killed subprocess and the rerun both make (same config, so the same entry)."""
    torch.set_num_threads(1)
    source = GeneratorSource("g", ArraySource("real", blobs(96, res=16)),
                             {"spec": SPEC, "max_steps": STEPS, "batch_size": BATCH},
                             GanZoo(num_threads=1, resume_every_n_steps=every), cache_dir, n_images=24,
                             resolution=16, channels=1, progress=False)
    source.prepare()
    return source


def test_killed_gan_training_resumes_and_finishes_with_the_same_steps(tmp_path, caplog):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    code = f"from tests.gans.test_resume import request; request({str(tmp_path)!r})"
    with open(tmp_path / "killed.log", "wb") as out:  # a file, not a pipe: a full pipe would stall the run
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out,
                                start_new_session=True)
        deadline = time.time() + 120
        while not list(tmp_path.glob("generators/*/resume/last.ckpt")) and proc.poll() is None \
                and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    found = list(tmp_path.glob("generators/*/resume/last.ckpt"))
    assert found, f"no resume checkpoint (exit {proc.returncode}): {(tmp_path / 'killed.log').read_text()[-2000:]}"
    entry = found[0].parent.parent
    assert not (entry / "generator.pt").exists(), "the run must be killed before it finished"
    killed_at = load_resume(found[0])[2]["counters"]["g_steps"]
    assert 0 < killed_at < STEPS and killed_at % 10 == 0

    with caplog.at_level(logging.INFO, logger="ganprint"):
        source = request(str(tmp_path))
    assert source.entry_dir == entry
    assert f"resuming generator {entry.name} (dcgan) from step {killed_at} of {STEPS}" in caplog.text
    trained = json.loads((entry / "trained.json").read_text())
    info = trained["info"]
    assert trained["resumed_from_step"] == info["resumed_from_step"] == killed_at and info["attempts"] == 2
    assert (info["g_steps"], info["d_steps"], info["images_seen"]) == (STEPS, 2 * STEPS, 2 * STEPS * BATCH)
    assert trained["train_seconds_total"] >= trained["train_wall_s"] * 0.5 > 0
    assert (entry / "samples.png").is_file() and len(source.keys()) == 24
    assert not (entry / "resume").exists()  # removed once generator.pt is written


class Killed(Exception):
    pass


def train_killed_after(monkeypatch, out_dir: Path, spec: dict, steps: int, kill_at: int, every: int) -> None:
    """Run ``GanZoo.train`` and make it die just before the generator step ``kill_at + 1`` (in process)."""
    step = GANModule.training_step

    def dying(self, batch, batch_idx):
        if self.g_steps == kill_at:
            raise Killed
        return step(self, batch, batch_idx)

    with monkeypatch.context() as m:
        m.setattr(GANModule, "training_step", dying)
        with pytest.raises(Killed):
            GanZoo(resume_every_n_steps=every).train(blobs(48, res=16), spec, 0, out_dir, steps, BATCH,
                                                     progress=False)


@pytest.mark.parametrize("family", ["progan", "sngan"])
def test_a_resumed_run_ends_with_the_uninterrupted_runs_weights(family, tmp_path, monkeypatch):
    # ProGAN: EMA generator and a growing level that follows images_seen; SNGAN: n_dis 2, lr decay, spectral norm.
    spec = {"family": family, **TINY[family], **({"optim": {"decay_start": 0.5}} if family == "sngan" else {})}
    zoo, images = GanZoo(), blobs(48, res=16)
    ref = zoo.train(images, spec, 0, tmp_path / "ref", 6, BATCH, progress=False)
    train_killed_after(monkeypatch, tmp_path / "run", spec, 6, kill_at=5, every=2)
    assert load_resume(tmp_path / "run/resume/last.ckpt")[2]["counters"]["g_steps"] == 4
    resumed = zoo.train(images, spec, 0, tmp_path / "run", 6, BATCH, progress=False)
    meta = zoo.info(resumed)["meta"]
    assert meta["resumed_from_step"] == 4 and meta["g_steps"] == 6 and meta["attempts"] == 2
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (ref, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit, EMA included


@pytest.fixture
def killed_run(tmp_path, monkeypatch):
    """An output folder whose training died after generator step 3, with a resume checkpoint from step 2."""
    out = tmp_path / "run"
    train_killed_after(monkeypatch, out, SPEC, 4, kill_at=3, every=2)
    return out


def _resume_from(out: Path, caplog, seed: int = 0) -> dict:
    with caplog.at_level(logging.WARNING, logger="ganprint"):
        ckpt = GanZoo().train(blobs(48, res=16), SPEC, seed, out, 4, BATCH, progress=False)
    meta = GanZoo().info(ckpt)["meta"]
    assert (meta["g_steps"], meta["d_steps"]) == (4, 8)  # finished either way
    assert not (out / "resume").exists()
    return meta


def test_corrupt_or_foreign_resume_checkpoints_restart_from_scratch(killed_run, tmp_path, caplog):
    last = killed_run / "resume" / "last.ckpt"
    good = last.read_bytes()
    assert _resume_from(killed_run, caplog)["resumed_from_step"] == 2  # the untouched one is used
    payload = torch.load(io.BytesIO(good), weights_only=True)
    bad_counters = {**payload, "state": {**payload["state"], "counters": {"images_seen": 16, "d_steps": 3,
                                                                          "g_steps": 2}}}
    cases = {
        "garbage": (b"not a checkpoint", "not a usable GAN resume checkpoint (unreadable"),
        "empty": (b"", "not a usable GAN resume checkpoint (unreadable"),
        "truncated": (good[: len(good) // 2], "not a usable GAN resume checkpoint (unreadable"),
        "foreign": (torch_bytes({"state_dict": {"w": torch.zeros(2)}}), "no ganprint resume format tag"),
        "inconsistent": (torch_bytes(bad_counters), "does not fit this generator (inconsistent counters"),
    }
    for name, (data, message) in cases.items():
        caplog.clear()
        last.parent.mkdir(exist_ok=True)
        last.write_bytes(data)
        assert _resume_from(killed_run, caplog)["resumed_from_step"] == 0, name
        assert message in caplog.text and "training restarts from step 0" in caplog.text, name
    # Another training's checkpoint (here: another seed) is not continued either.
    caplog.clear()
    last.parent.mkdir(exist_ok=True)
    last.write_bytes(good)
    assert _resume_from(killed_run, caplog, seed=1)["resumed_from_step"] == 0
    assert "belongs to another training (different seed)" in caplog.text


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_resume_checkpoint_crafted_to_run_code_is_refused(killed_run, tmp_path, caplog):
    last, marker = killed_run / "resume" / "last.ckpt", tmp_path / "code_ran"
    payload = load_resume(last)
    torch.save({"format": RESUME_FORMAT, "version": 1, "fingerprint": json.dumps(payload[0]),
                "meta": json.dumps(payload[1]), "state": {**payload[2], "rng": _RunsCode(marker)}}, last)
    torch.load(last, weights_only=False)  # loaded unsafely, the file does run code ...
    assert marker.is_dir()
    marker.rmdir()
    meta = _resume_from(killed_run, caplog)  # ... ganprint refuses it and trains from scratch
    assert not marker.exists() and meta["resumed_from_step"] == 0
    assert "not a usable GAN resume checkpoint (unreadable: UnpicklingError" in caplog.text


def test_the_data_layer_keeps_the_folder_the_zoo_resumes_from(tmp_path):
    assert generator_source.RESUME_DIR == zoo_module.RESUME_DIR
    # An incomplete entry without a resume checkpoint is still rebuilt from nothing.
    source = GeneratorSource("g", ArraySource("real", blobs(96, res=16)),
                             {"spec": SPEC, "max_steps": 2, "batch_size": BATCH}, GanZoo(), tmp_path,
                             n_images=4, resolution=16, channels=1, progress=False)
    (source.entry_dir / "resume").mkdir(parents=True)
    (source.entry_dir / "samples.png").write_bytes(b"half")
    source.prepare()
    trained = json.loads((source.entry_dir / "trained.json").read_text())
    assert trained["resumed_from_step"] == 0 and trained["info"]["g_steps"] == 2
    assert not (source.entry_dir / "resume").exists()


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
