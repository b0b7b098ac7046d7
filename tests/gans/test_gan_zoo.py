"""GanZoo: every family trains a few steps and samples; seeds, safe checkpoints, clear errors for bad ones;
scalars logged every n critic steps."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import torch
from pytorch_lightning.loggers import CSVLogger

from ganprint.errors import ConfigError
from ganprint.gans import GanZoo, GeneratorCheckpointError

TINY = {
    "dcgan": {"arch": {"g_ch": 8, "d_ch": 8}, "latent_dim": 16},
    "sngan": {"arch": {"g_ch": 4, "d_ch": 4}, "latent_dim": 16, "n_dis": 2},
    "cramergan": {"arch": {"g_ch": 4, "d_ch": 4, "dof_dim": 8}, "latent_dim": 16, "n_dis": 2},
    "mmdgan": {"arch": {"g_ch": 4, "d_ch": 4}, "latent_dim": 16, "n_dis": 2},
    # 16 images per phase: the 3 steps of batch 8 grow from 4x4 into the 8x8 fade-in.
    "progan": {"arch": {"fmap_base": 64, "fmap_max": 16}, "latent_dim": 16,
               "schedule": {"lod_training_kimg": 0.008, "lod_transition_kimg": 0.016}},
}
CKPT_MESSAGE = "is not a ganprint generator checkpoint; delete it and rerun"



def blobs(n: int, res: int = 32, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Bright rectangles on black: real-looking enough for a smoke run, cheap to make."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, res, res, channels), np.uint8)
    for img in out:
        y0, x0 = rng.integers(2, res // 2, 2)
        h, w = rng.integers(res // 4, res // 2, 2)
        img[y0:y0 + h, x0:x0 + w] = rng.integers(120, 256, channels)
    return out


def train(tmp_path, family="dcgan", seed=0, steps=3, images=None, **spec):
    zoo = GanZoo()
    images = blobs(64) if images is None else images
    ckpt = zoo.train(images, {"family": family, **TINY[family], **spec}, seed=seed, out_dir=tmp_path / f"{family}{seed}",
                     max_steps=steps, batch_size=8, progress=False)
    return zoo, ckpt


@pytest.fixture(scope="module")
def dcgan_ckpt(tmp_path_factory):
    torch.set_num_threads(1)
    return train(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("family", sorted(TINY))
def test_each_family_trains_and_samples_images(family, tmp_path):
    zoo, ckpt = train(tmp_path, family)
    info = zoo.info(ckpt)
    assert info["spec"]["family"] == family
    n_dis = TINY[family].get("n_dis", 1)
    assert info["meta"]["g_steps"] == 3 and info["meta"]["d_steps"] == 3 * n_dis
    assert info["meta"]["images_seen"] == 3 * n_dis * 8
    imgs = zoo.sample(ckpt, n=10, seed=1)
    assert imgs.shape == (10, 32, 32, 1) and imgs.dtype == np.uint8
    assert imgs.astype(float).std(axis=0).max() > 0  # samples differ from each other (no collapse to one image)
    assert (ckpt.parent / "samples.png").is_file()
    if family == "progan":
        assert info["spec"]["schedule"]["lod_transition_kimg"] == 0.016
        gen, _, _ = zoo.load(ckpt)
        assert 2.0 < float(gen.level) < 3.0  # trained into the 8x8 fade-in (level 2 = 4x4, 3 = 8x8)


def test_equal_seeds_give_identical_samples(dcgan_ckpt):
    zoo, ckpt = dcgan_ckpt
    a, b = zoo.sample(ckpt, n=20, seed=5), zoo.sample(ckpt, n=20, seed=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, zoo.sample(ckpt, n=20, seed=6))
    # Latents come in fixed chunks: the first samples do not depend on how many are asked for (up to rounding).
    small = zoo.sample(ckpt, n=7, seed=5, batch_size=3)
    assert np.abs(small.astype(int) - a[:7].astype(int)).max() <= 1


def test_training_is_deterministic_for_a_seed(tmp_path, dcgan_ckpt):
    _, ckpt_a = dcgan_ckpt
    _, ckpt_b = train(tmp_path)
    _, ckpt_c = train(tmp_path, seed=1)
    sd = [torch.load(c, weights_only=True)["state_dict"] for c in (ckpt_a, ckpt_b, ckpt_c)]
    assert all(torch.equal(sd[0][k], sd[1][k]) for k in sd[0])
    assert not all(torch.equal(sd[0][k], sd[2][k]) for k in sd[0])


def test_bf16_training_autocasts_and_stays_deterministic(tmp_path, dcgan_ckpt):
    """The cpu scale trains its generators in bf16-mixed: the setting must reach the steps (other weights than fp32's),
    keep fp32 weights and samples, and give the same generator twice."""
    def run(name, precision):
        zoo = GanZoo()
        ckpt = zoo.train(blobs(64), {"family": "dcgan", **TINY["dcgan"]}, seed=0, out_dir=tmp_path / name,
                         max_steps=3, batch_size=8, progress=False, precision=precision)
        return zoo, ckpt, torch.load(ckpt, weights_only=True)["state_dict"]

    zoo, ckpt, bf16 = run("a", "bf16-mixed")
    _, _, again = run("b", "bf16-mixed")
    fp32 = torch.load(dcgan_ckpt[1], weights_only=True)["state_dict"]
    assert all(torch.equal(bf16[k], again[k]) for k in bf16)
    floats = [k for k in bf16 if bf16[k].is_floating_point()]
    assert all(bf16[k].dtype == torch.float32 and torch.isfinite(bf16[k]).all() for k in floats)
    differ = sum(not torch.equal(bf16[k], fp32[k]) for k in floats)
    assert differ >= len(floats) // 2, f"only {differ} of {len(floats)} tensors moved: bf16 did not reach the steps"
    assert zoo.info(ckpt)["meta"]["precision"] == "bf16-mixed"
    assert zoo.sample(ckpt, n=4, seed=1).dtype == np.uint8


def test_checkpoint_is_plain_tensors_and_json(dcgan_ckpt):
    _, ckpt = dcgan_ckpt
    payload = torch.load(ckpt, weights_only=True)
    assert payload["format"] == "ganprint-generator"
    spec, meta = json.loads(payload["spec"]), json.loads(payload["meta"])
    assert spec["family"] == "dcgan" and spec["arch"]["g_ch"] == 8 and meta["seed"] == 0
    assert meta["images_per_second"] > 0 and meta["train_seconds"] > 0
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert not list(ckpt.parent.glob("*.tmp"))  # written atomically, nothing left half-written


def _corruptions(ckpt, tmp_path):
    good = ckpt.read_bytes()
    cases = {
        "garbage": b"not a checkpoint at all",
        "empty": b"",
        "truncated": good[: len(good) // 2],
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(data)
        yield name, p
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    yield "foreign", foreign
    pickled = tmp_path / "pickled.pt"
    with open(pickled, "wb") as f:
        pickle.dump(ConfigError("objects are not allowed"), f)
    yield "pickled", pickled
    payload = torch.load(ckpt, weights_only=True)
    payload["state_dict"] = {k + "_x": v for k, v in payload["state_dict"].items()}
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    yield "mismatched", mismatched


def test_corrupt_or_foreign_checkpoints_raise_a_clear_error(dcgan_ckpt, tmp_path):
    zoo, ckpt = dcgan_ckpt
    seen = []
    for name, path in _corruptions(ckpt, tmp_path):
        with pytest.raises(GeneratorCheckpointError, match=CKPT_MESSAGE):
            zoo.sample(path, n=2, seed=0)
        seen.append(name)
    assert len(seen) == 6
    with pytest.raises(FileNotFoundError, match="train it first"):
        zoo.sample(tmp_path / "missing.pt", n=2, seed=0)


def test_bad_training_input_names_the_fix(tmp_path):
    zoo = GanZoo()
    with pytest.raises(ConfigError, match="gan.spec.resolution"):
        zoo.train(blobs(16), {"family": "dcgan", "resolution": 64}, 0, tmp_path, 1, 8, progress=False)
    with pytest.raises(ConfigError, match="valid names: cramergan, dcgan, mmdgan, progan, sngan"):
        zoo.train(blobs(16), {"family": "biggan"}, 0, tmp_path, 1, 8, progress=False)
    with pytest.raises(ConfigError, match="uint8"):
        zoo.train(blobs(16).astype(np.float32), {"family": "dcgan"}, 0, tmp_path, 1, 8, progress=False)
    with pytest.raises(ConfigError, match="power of two"):
        zoo.train(blobs(16, res=24), {"family": "dcgan"}, 0, tmp_path, 1, 8, progress=False)


def test_rgb_training_at_another_resolution(tmp_path):
    zoo, ckpt = train(tmp_path, "dcgan", steps=2, images=blobs(32, res=16, channels=3))
    imgs = zoo.sample(ckpt, n=4, seed=0)
    assert imgs.shape == (4, 16, 16, 3) and imgs.dtype == np.uint8


def test_scalars_are_logged_every_n_critic_steps(tmp_path):
    zoo = GanZoo(logger=CSVLogger(tmp_path, name="log", version=0), log_every_n_steps=5)
    zoo.train(blobs(48, res=16), {"family": "dcgan", **TINY["dcgan"], "n_dis": 2}, 0, tmp_path / "run", 6, 8,
              progress=False)
    with open(tmp_path / "log" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [4, 9]  # 12 critic steps: after the 5th and the 10th, not every one
    # The generator's loss rides along with the critic's even on steps without a generator step (the 5th).
    assert all(float(r["train/d_loss"]) > 0 and float(r["train/g_loss"]) > 0 for r in rows)
