"""Each baseline beats chance (1/3) clearly on small 3-source sets with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from ganprint.models.baselines import (
    ContentKNNBaseline,
    DCTRidgeBaseline,
    EigenfaceBaseline,
    KNNBaseline,
    PRNUBaseline,
)
from ganprint.models.baselines.prnu import normalized_cross_correlation


def _accuracy(model, split) -> float:
    x, y = split
    return float(np.mean(model.predict(x) == y))


@pytest.mark.parametrize("cls", [KNNBaseline, EigenfaceBaseline, PRNUBaseline, DCTRidgeBaseline])
def test_beats_chance_on_upsampling_artifacts(cls, upsampling_splits):
    (tx, ty), (vx, vy), test = upsampling_splits
    model = cls(progress=False).fit(tx, ty, vx, vy)
    acc = _accuracy(model, test)
    assert acc > 0.6, f"{cls.name}: test accuracy {acc:.3f} (chance 0.333)"
    report = model.fit_report()
    assert report["selected_params"] == model.selected_params
    assert report["val_acc"] == max(r["val_acc"] for r in report["grid"])


def test_content_knn_beats_chance(upsampling_splits, content_model):
    (tx, ty), (vx, vy), test = upsampling_splits
    model = ContentKNNBaseline(content_model=content_model, progress=False).fit(tx, ty, vx, vy)
    assert _accuracy(model, test) > 0.6
    feats = model.features(test[0])
    assert feats.shape == (len(test[0]), 128) and np.isfinite(feats).all()
    proba = model.predict_proba(test[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.fixture(scope="module")
def prnu_planted(planted_splits):
    (tx, ty), (vx, vy), _, _ = planted_splits
    return PRNUBaseline(progress=False).fit(tx, ty, vx, vy)


def test_small_planted_patterns_are_found(planted_splits, prnu_planted):
    # Patterns of +-4 grey levels on the same content distribution: the noise-residual fingerprint and a
    # linear model on principal components see them.
    (tx, ty), (vx, vy), test, _ = planted_splits
    assert _accuracy(prnu_planted, test) > 0.75
    assert _accuracy(EigenfaceBaseline(progress=False).fit(tx, ty, vx, vy), test) > 0.5


def test_prnu_fingerprint_matches_planted_pattern(planted_splits, prnu_planted):
    (tx, _), _, _, patterns = planted_splits
    model = prnu_planted
    fp = model.fingerprints_
    assert fp.shape == (3, 32, 32, 1)
    ncc = normalized_cross_correlation(fp, np.stack([patterns[1], patterns[2]]))
    # Each planted source's fingerprint correlates with its own pattern, not with the other one.
    assert ncc[1, 0] > 0.5 and ncc[2, 1] > 0.5, ncc
    assert abs(ncc[1, 1]) < 0.2 and abs(ncc[2, 0]) < 0.2 and np.abs(ncc[0]).max() < 0.2, ncc
    scores = model.scores(tx[:5])
    assert scores.shape == (5, 3) and np.all(np.abs(scores) <= 1 + 1e-9)
