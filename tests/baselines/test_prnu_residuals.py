"""The batched PRNU noise residual is the per-image scikit-image ``denoise_wavelet`` residual it replaced."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage.restoration import denoise_wavelet

from ganprint.models.baselines import prnu
from ganprint.models.baselines.prnu import (
    DEFAULT_LEVELS_GRID,
    DEFAULT_SIGMA_GRID,
    PRNUBaseline,
    noise_residual,
)

N = 7  # not a multiple of any chunk or power of two
SIGMAS = sorted({min(DEFAULT_SIGMA_GRID), 0.05, max(DEFAULT_SIGMA_GRID)})


def reference_residual(x: np.ndarray, levels: int, sigma: float, wavelet: str = "db4") -> np.ndarray:
    """The former per-image implementation: one ``denoise_wavelet`` call per image."""
    # The baseline hands denoise_wavelet float32 [0, 1] images, so skimage neither converts them with
    # img_as_float nor clips its output; the oracle must see the same input.
    img = x.astype(np.float32) / 255.0
    out = np.empty_like(img)
    channel_axis = -1 if img.shape[-1] > 1 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for i, im in enumerate(img):
            src = im if channel_axis is not None else im[..., 0]
            den = denoise_wavelet(src, sigma=sigma, wavelet=wavelet, wavelet_levels=int(levels), mode="soft",
                                  method="BayesShrink", channel_axis=channel_axis, rescale_sigma=False)
            out[i] = im - (den if channel_axis is not None else den[..., None])
    return out


def make_images(kind: str, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (N, 32, 32, channels)
    if kind == "random":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "smooth":
        yy, xx = np.mgrid[0:32, 0:32] / 32.0
        phase = rng.uniform(0, 2 * np.pi, (N, 1, 1, channels))
        wave = np.sin(3 * xx[None, ..., None] + phase) * np.cos(2 * yy[None, ..., None] + phase)
        return np.round(127.5 + 120 * wave).astype(np.uint8)
    # Constant images have all-zero detail subbands: BayesShrink's eps branch and soft thresholding of zeros.
    return np.broadcast_to(rng.integers(0, 256, (N, 1, 1, channels), dtype=np.uint8), shape).copy()


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("levels", DEFAULT_LEVELS_GRID)
@pytest.mark.parametrize("kind", ["random", "smooth", "constant"])
@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
def test_prnu_batched_residual_matches_denoise_wavelet(channels, kind, levels, sigma):
    x = make_images(kind, channels)
    got = noise_residual(x, levels, sigma)
    want = reference_residual(x, levels, sigma)
    assert got.dtype == np.float32 and got.shape == x.shape
    assert np.allclose(got, want, rtol=0, atol=1e-6), np.abs(got - want).max()


@pytest.mark.parametrize("shape", [(N, 31, 33, 1), (N, 28, 28, 3)], ids=["odd-grey", "28-rgb"])
def test_prnu_batched_residual_matches_on_other_sizes(shape):
    """Odd sizes exercise the crop after waverecn's extra sample."""
    x = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    for levels in DEFAULT_LEVELS_GRID:
        got, want = noise_residual(x, levels, 0.1), reference_residual(x, levels, 0.1)
        assert np.allclose(got, want, rtol=0, atol=1e-6), (levels, np.abs(got - want).max())


def test_prnu_residuals_across_chunks_match_denoise_wavelet(monkeypatch):
    monkeypatch.setattr(prnu, "CHUNK", 3)
    x = make_images("random", 3, seed=2)
    params = {"levels": 2, "sigma": 0.02}
    got = PRNUBaseline(progress=False).residuals(x, params)
    assert np.allclose(got, reference_residual(x, **params), rtol=0, atol=1e-6)


def test_prnu_residual_hides_level_warnings():
    """Levels past what 32x32 supports for db4 are grid points, not problems to warn about."""
    x = make_images("random", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noise_residual(x, max(DEFAULT_LEVELS_GRID), 0.05)
