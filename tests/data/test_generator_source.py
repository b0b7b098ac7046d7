"""The generator source: cached by config, rebuilt when half-written, feeds the data module; ganprint-gan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.data.test_sources import ArraySource
from tests.helpers.hydra_cli import requires_fmnist, run_cli

from ganprint.data import AttributionDataModule
from ganprint.data.sources import GeneratorSource
from ganprint.data.sources.generator import training_subset
from ganprint.utils.run_record import read_run_record


class FakeZoo:
    """A backend that 'trains' instantly: samples are the mean training image plus seeded noise."""

    def __init__(self):
        self.trained = 0

    def train(self, images, spec, seed, out_dir, max_steps, batch_size, progress=True, precision="32-true"):
        self.trained += 1
        path = Path(out_dir) / "generator.pt"
        np.save(Path(out_dir) / "mean.npy", images.mean(0))
        path.write_bytes(b"ok")
        (Path(out_dir) / "samples.png").write_bytes(b"png")
        return path

    def sample(self, ckpt_path, n, seed, batch_size=256):
        mean = np.load(Path(ckpt_path).parent / "mean.npy")
        noise = np.random.default_rng(seed).integers(0, 60, (n, *mean.shape))
        return np.clip(mean + noise, 0, 255).astype(np.uint8)

    def info(self, ckpt_path):
        return {"meta": {"train_seconds": 0.0}}


def real_source(n=300):
    return ArraySource("real", np.random.default_rng(0).integers(0, 255, (n, 8, 8, 1), dtype=np.uint8))


def gen(zoo, tmp_path, **kw):
    args = dict(name="g", real=real_source(), gan={"spec": {"family": "fake"}, "max_steps": 1, "batch_size": 2},
                backend=zoo, cache_dir=tmp_path, n_images=60, resolution=8, channels=1, train_images=100)
    args.update(kw)
    return GeneratorSource(**args)


def test_cache_hit_invalidation_and_half_written_rebuild(tmp_path):
    zoo = FakeZoo()
    a = gen(zoo, tmp_path)
    assert len(a.keys()) == 60 and zoo.trained == 1
    gen(zoo, tmp_path, name="same generator, other name").keys()
    assert zoo.trained == 1  # cache hit: the name is not part of the generator's identity
    gen(zoo, tmp_path, train_seed=1).keys()
    assert zoo.trained == 2  # a changed config is a new entry
    # A killed run leaves a checkpoint but no completion marker: the entry is rebuilt, not used.
    c = gen(zoo, tmp_path, train_seed=2)
    c.entry_dir.mkdir(parents=True)
    (c.entry_dir / "generator.pt").write_bytes(b"half")
    c.keys()
    assert zoo.trained == 3 and (c.entry_dir / "trained.json").is_file()


def test_training_subsets_differ_by_exactly_i_images():
    keys = [str(i) for i in range(1000)]
    base = set(training_subset(keys, 100, 0, seed=0))
    for i in (1, 10, 100):
        other = set(training_subset(keys, 100, i, seed=0))
        assert len(other) == 100 and len(base - other) == i
    with pytest.raises(ValueError, match="subset_diff"):
        training_subset(keys, 100, 1000, seed=0)


def test_generator_sources_feed_the_datamodule(tmp_path):
    zoo = FakeZoo()
    dm = AttributionDataModule([real_source(), gen(zoo, tmp_path, name="g0"), gen(zoo, tmp_path, name="g1",
                                                                                train_seed=1)],
                               resolution=8, counts={"train": 30, "val": 10, "test": 10})
    dm.prepare_data()
    dm.setup()
    assert dm.manifest.counts()["train"] == {"real": 30, "g0": 30, "g1": 30}


@requires_fmnist
def test_ganprint_gan_trains_samples_and_reuses_its_cache(tmp_path):
    args = ["gan=dcgan", "scale=smoke", "quality.n_images=100", "quality.content_images=1000",
            f"paths.cache_dir={tmp_path}/cache"]
    run_cli("train_gan", *args, f"hydra.run.dir={tmp_path}/a")
    first = read_run_record(tmp_path / "a")
    assert first["status"] == "ok" and Path(first["samples_dir"]).is_dir()
    assert len(list(Path(first["samples_dir"]).glob("*.png"))) == 200
    assert first["metrics"]["gan/fd_content_real_halves"] < first["metrics"]["gan/fd_content_untrained"]
    run_cli("train_gan", *args, f"hydra.run.dir={tmp_path}/b")
    second = read_run_record(tmp_path / "b")
    assert second["entry_dir"] == first["entry_dir"] and second["wall_time_s"] < first["wall_time_s"]
    assert second["trained"]["checkpoint_sha256"] == first["trained"]["checkpoint_sha256"]
