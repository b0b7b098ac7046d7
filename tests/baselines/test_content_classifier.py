"""The in-project content classifier (stand-in for Inception) learns content, and its cache is safe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganprint.models.baselines import ContentKNNBaseline
from ganprint.models.baselines import content as content_mod
from ganprint.models.baselines.content import (
    ContentClassifier,
    embed_images,
    to_tensor,
    train_content_classifier,
)


def test_content_classifier_learns_fashion_mnist(content_model, fashion_test):
    x, y = fashion_test
    with torch.no_grad():
        pred = content_model(to_tensor(x[:2000])).argmax(1).numpy()
    assert np.mean(pred == y[:2000]) > 0.70
    feats = embed_images(content_model, x[:10])
    assert feats.shape == (10, 128) and feats.dtype == np.float32


def test_content_classifier_handles_rgb_and_other_sizes():
    net = ContentClassifier(in_channels=3, num_classes=4, width=4, feature_dim=8)
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    assert net.embed(torch.zeros(2, 3, 32, 32)).shape == (2, 8)


def test_cache_reuses_weights_and_writes_atomically(tmp_path, fashion_train, monkeypatch):
    x, y = fashion_train[0][:256], fashion_train[1][:256]
    kw = {"epochs": 1, "batch_size": 64, "width": 4, "feature_dim": 8, "seed": 3, "progress": False}
    first = train_content_classifier(x, y, cache_dir=tmp_path, **kw)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("content_classifier-") and files[0].endswith(".pt")

    def no_training(*args, **kwargs):
        raise AssertionError("a cached content classifier was trained again")

    monkeypatch.setattr(content_mod.torch.optim, "Adam", no_training)
    second = train_content_classifier(x, y, cache_dir=tmp_path, **kw)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    monkeypatch.undo()
    # Other labels are other data: a new cache entry, not a stale hit.
    train_content_classifier(x, (y + 1) % 10, cache_dir=tmp_path, **kw)
    assert len(list(tmp_path.glob("content_classifier-*.pt"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_content_knn_without_content_data_names_the_fix(upsampling_splits):
    (tx, ty), (vx, vy), _ = upsampling_splits
    with pytest.raises(ValueError, match="set_content_data"):
        ContentKNNBaseline(progress=False).fit(tx, ty, vx, vy)


def test_content_knn_trains_its_own_classifier(tmp_path, fashion_train, upsampling_splits):
    (tx, ty), (vx, vy), (sx, sy) = upsampling_splits
    x, y = fashion_train
    model = ContentKNNBaseline(k_grid=[1, 5], epochs=1, width=4, feature_dim=16, cache_dir=tmp_path,
                               progress=False).set_content_data(x[:1000], y[:1000])
    model.fit(tx, ty, vx, vy)
    assert model.selected_params["k"] in (1, 5)
    assert len(list(tmp_path.glob("content_classifier-*.pt"))) == 1
    assert np.mean(model.predict(sx) == sy) > 0.4


def test_content_knn_rejects_channel_mismatch(content_model, upsampling_splits):
    (tx, _), _, _ = upsampling_splits
    with pytest.raises(ValueError, match="data.channels"):
        ContentKNNBaseline(content_model=content_model, progress=False).features(np.repeat(tx[:4], 3, axis=-1))
