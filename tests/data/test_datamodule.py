"""The attribution data module: deterministic disjoint splits, label order, manifest, cache, leakage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.data.test_sources import ArraySource

from ganprint.data import AttributionDataModule
from ganprint.data.splits import SplitCounts, split_keys
from ganprint.errors import ConfigError


def sources(n_sources=3, n=60, seed=0):
    rng = np.random.default_rng(seed)
    return [ArraySource(f"s{i}", rng.integers(0, 255, (n, 8, 8, 1), dtype=np.uint8)) for i in range(n_sources)]


def test_splits_are_deterministic_disjoint_and_independent_of_other_sources():
    keys = [str(i) for i in range(100)]
    counts = SplitCounts(50, 20, 30)
    a = split_keys(keys, "progan", counts, seed=3)
    b = split_keys(keys, "progan", counts, seed=3)
    assert a == b
    assert set(a["train"]).isdisjoint(a["val"]) and set(a["val"]).isdisjoint(a["test"])
    assert sum(map(len, a.values())) == 100
    assert split_keys(keys, "sngan", counts, seed=3) != a  # each source its own permutation
    dm1 = AttributionDataModule(sources(3), resolution=8, counts={"train": 30, "val": 10, "test": 10})
    dm2 = AttributionDataModule(sources(3)[::-1][:2], resolution=8, counts={"train": 30, "val": 10, "test": 10})
    dm1.setup(), dm2.setup()
    rows1 = {(r[1], r[3]): r[0] for r in dm1.manifest.rows}
    rows2 = {(r[1], r[3]): r[0] for r in dm2.manifest.rows}
    shared = set(rows1) & set(rows2)
    assert len(shared) == 100 and all(rows1[k] == rows2[k] for k in shared)


def test_labels_follow_source_order_and_values_are_in_range():
    dm = AttributionDataModule(sources(3), resolution=8, counts={"train": 30, "val": 10, "test": 10}, batch_size=16)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert sorted(dm.data["test"][1].unique().tolist()) == [0, 1, 2]
    assert dm.manifest.counts()["train"] == {"s0": 30, "s1": 30, "s2": 30}


def test_test_limit_keeps_train_and_val_and_takes_the_test_splits_first_images():
    counts = {"train": 30, "val": 10, "test": 20}
    full = AttributionDataModule(sources(3), resolution=8, counts=counts)
    capped = AttributionDataModule(sources(3), resolution=8, counts=counts, test_limit=7)
    full.setup(), capped.setup()

    def keys(dm, split):
        return [(r[1], r[3]) for r in dm.manifest.rows if r[0] == split]

    for split in ("train", "val"):
        assert keys(capped, split) == keys(full, split)
        assert torch.equal(capped.data[split][0], full.data[split][0])
    assert capped.manifest.counts()["test"] == {"s0": 7, "s1": 7, "s2": 7}
    for name in ("s0", "s1", "s2"):
        full_test = [k for s, k in keys(full, "test") if s == name]
        assert [k for s, k in keys(capped, "test") if s == name] == full_test[:7]
    with pytest.raises(ConfigError, match="data.test_limit"):
        AttributionDataModule(sources(3), resolution=8, counts=counts, test_limit=0)


def test_duplicates_never_leak_across_splits():
    imgs = np.zeros((40, 8, 8, 1), np.uint8)  # every image identical: all but the train copies must go
    imgs[:20] = np.arange(20)[:, None, None, None]
    dm = AttributionDataModule([ArraySource("a", imgs), ArraySource("b", imgs[::-1].copy())], resolution=8,
                               counts={"train": 20, "val": 10, "test": 10})
    dm.setup()
    dm.check_no_leakage()
    assert dm.dropped_duplicates > 0
    splits_of = {}
    for split, _s, _l, _k, h in dm.manifest.rows:
        splits_of.setdefault(h, set()).add(split)
    assert all(len(s) == 1 for s in splits_of.values())


def test_array_cache_is_reused(tmp_path):
    src = sources(2)
    dm = AttributionDataModule(src, resolution=8, counts={"train": 20, "val": 5, "test": 5}, cache_dir=tmp_path)
    dm.setup()
    files = sorted((tmp_path / "arrays").glob("*.npz"))
    assert len(files) == 6
    calls = []
    orig = ArraySource.load
    ArraySource.load = lambda self, *a, **k: calls.append(1) or orig(self, *a, **k)
    try:
        dm2 = AttributionDataModule(src, resolution=8, counts={"train": 20, "val": 5, "test": 5}, cache_dir=tmp_path)
        dm2.setup()
    finally:
        ArraySource.load = orig
    assert calls == [] and torch.equal(dm.data["train"][0], dm2.data["train"][0])
    assert dm.manifest.sha256 == dm2.manifest.sha256


def test_bad_source_sets_name_the_fix():
    with pytest.raises(ValueError, match="at least two"):
        AttributionDataModule(sources(1))
    with pytest.raises(ValueError, match="unique"):
        AttributionDataModule([*sources(1), *sources(1)])
    with pytest.raises(ValueError, match="data.counts"):
        AttributionDataModule(sources(2, n=3), counts={"train": 1, "val": 1, "test": 1000}).setup()
