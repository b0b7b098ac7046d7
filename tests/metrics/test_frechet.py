"""Fréchet distance and the FD ratio on Gaussians with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ganprint.metrics import fd_ratio, frechet_distance, gaussian_stats


def test_frechet_distance_of_known_gaussians():
    # Diagonal covariances commute: FD = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 1 + 1 + 1.
    a = (np.zeros(2), np.diag([1.0, 4.0]))
    b = (np.array([1.0, 0.0]), np.diag([4.0, 1.0]))
    assert frechet_distance(a, b) == pytest.approx(3.0, abs=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_from_samples():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 3))
    y = rng.normal(size=(20_000, 3)) * 2.0 + np.array([2.0, 0.0, 0.0])
    # 4 (means) + 3 * (2 - 1)^2 (scales) = 7
    assert frechet_distance(x, y) == pytest.approx(7.0, rel=0.03)
    mu, sigma = gaussian_stats(x)
    assert frechet_distance((mu, sigma), y) == pytest.approx(frechet_distance(x, y))


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(10, 40)) + 1.0
    fd = frechet_distance(x, y)
    assert np.isfinite(fd) and fd > 0


def test_fd_ratio_near_one_for_halves_of_one_source():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(4000, 8)) @ rng.normal(size=(8, 8))
    labels = rng.integers(0, 2, size=4000)  # one source split at random into two pseudo-sources
    out = fd_ratio(feats, labels, seed=0)
    assert 0.5 < out["fd_ratio"] < 1.5
    assert set(out["fd_inter"]) == {"0|1"} and set(out["fd_intra"]) == {"0", "1"}


def test_fd_ratio_large_for_different_sources():
    rng = np.random.default_rng(3)
    feats = np.concatenate([rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)) + 1.5,
                            rng.normal(size=(1000, 8)) * 1.5 - 1.5])
    labels = np.repeat([0, 1, 2], 1000)
    out = fd_ratio(feats, labels, seed=0, names=["real", "gan_a", "gan_b"])
    assert out["fd_ratio"] > 10
    assert set(out["fd_inter"]) == {"real|gan_a", "real|gan_b", "gan_a|gan_b"}
    assert out["fd_inter_mean"] == pytest.approx(np.mean(list(out["fd_inter"].values())))
    assert out["fd_intra_mean"] == pytest.approx(np.mean(list(out["fd_intra"].values())))
    assert out["n_per_half"] == {"real": 500, "gan_a": 500, "gan_b": 500}
    assert fd_ratio(feats, labels, seed=0)["fd_ratio"] == pytest.approx(out["fd_ratio"])  # seeded


def test_fd_ratio_rejects_bad_input():
    with pytest.raises(ValueError, match="at least two sources"):
        fd_ratio(np.zeros((10, 2)), np.zeros(10, int))
    with pytest.raises(ValueError, match="at least 4"):
        fd_ratio(np.random.default_rng(0).normal(size=(13, 2)), np.array([0] * 10 + [1] * 3))


def test_fd_ratio_pca_projection_keeps_separation():
    rng = np.random.default_rng(4)
    feats = np.concatenate([rng.normal(size=(400, 300)), rng.normal(size=(400, 300)) + 0.5])
    labels = np.repeat([0, 1], 400)
    out = fd_ratio(feats, labels, seed=0, pca_dim=20)
    assert out["dim"] == 20 and out["fd_ratio"] > 10
