"""PRNU-style GAN fingerprints (Marra et al., "Do GANs leave artificial fingerprints?", MIPR 2019).

An image's noise residual is the image minus its wavelet-denoised version (scikit-image's BayesShrink wavelet
denoiser, built on PyWavelets); a source's fingerprint is the mean residual of its training images; an image
is attributed to the source whose fingerprint has the highest normalized cross-correlation (both zero-mean,
unit-norm) with its residual. Decomposition levels and the denoiser's noise sigma are chosen on the
validation split (Frank et al. search levels 1-4 and sigma 0.05-0.95 on a 0-255 scale with the Binghamton
filter; this denoiser works on [0, 1] images, so the sigma grid is on that scale).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from skimage.restoration import denoise_wavelet

from ganprint.models.baselines.base import Baseline, check_images, flatten, grid_product, to_unit

DEFAULT_LEVELS_GRID = (1, 2, 3)
DEFAULT_SIGMA_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
CHUNK = 256  # images per progress-bar step


def noise_residual(x: np.ndarray, levels: int, sigma: float, wavelet: str = "db4") -> np.ndarray:
    """``image - denoise_wavelet(image)`` for uint8 images ``[N, H, W, C]``; float32 in [0, 1] units."""
    img = to_unit(x)
    out = np.empty_like(img)
    channel_axis = -1 if img.shape[-1] > 1 else None
    with warnings.catch_warnings():
        # pywt warns when the levels exceed what the image size supports without boundary effects; that
        # is a legitimate grid point on 32x32 images, not an error.
        warnings.simplefilter("ignore", UserWarning)
        for i, im in enumerate(img):
            src = im if channel_axis is not None else im[..., 0]
            den = denoise_wavelet(src, sigma=sigma, wavelet=wavelet, wavelet_levels=int(levels), mode="soft",
                                  method="BayesShrink", channel_axis=channel_axis, rescale_sigma=False)
            out[i] = im - (den if channel_axis is not None else den[..., None])
    return out


def unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows made zero-mean and unit-norm (all-zero rows stay zero)."""
    v = v - v.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def normalized_cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NCC ``[len(a), len(b)]`` between flattened arrays (zero-mean, unit-norm inner products)."""
    return unit_rows(flatten(a).astype(np.float64)) @ unit_rows(flatten(b).astype(np.float64)).T


class PRNUBaseline(Baseline):
    """Mean wavelet-residual fingerprint per source; attribution by normalized cross-correlation."""

    name = "prnu"

    def __init__(self, levels_grid: Sequence[int] = DEFAULT_LEVELS_GRID,
                 sigma_grid: Sequence[float] = DEFAULT_SIGMA_GRID, wavelet: str = "db4",
                 seed: int = 0, progress: bool = True) -> None:
        super().__init__(seed=seed, progress=progress)
        self.levels_grid = [int(v) for v in levels_grid]
        self.sigma_grid = [float(s) for s in sigma_grid]
        self.wavelet = wavelet
        self._params: dict[str, Any] = {}
        self.fingerprints_: np.ndarray | None = None  # [K, H, W, C], rows in classes_ order

    def param_grid(self) -> list[dict[str, Any]]:
        return grid_product(levels=self.levels_grid, sigma=self.sigma_grid)

    def residuals(self, x: np.ndarray, params: dict[str, Any] | None = None) -> np.ndarray:
        """Noise residuals ``[N, H, W, C]`` with the given (default: the selected) denoiser parameters."""
        p = params or self._params
        x = check_images(x, "images")
        chunks = range(0, len(x), CHUNK)
        parts = [noise_residual(x[i : i + CHUNK], p["levels"], p["sigma"], self.wavelet)
                 for i in self._track(chunks, f"prnu: residuals (levels={p['levels']}, sigma={p['sigma']})",
                                      total=len(chunks))]
        return np.concatenate(parts)

    def _fit_candidate(self, params: dict[str, Any], train_x: np.ndarray, train_y: np.ndarray) -> None:
        self._params = dict(params)
        res = self.residuals(train_x, params)
        self.fingerprints_ = np.stack([res[train_y == c].mean(axis=0) for c in self.classes_])

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Normalized cross-correlation of each image's residual with each source fingerprint ``[N, K]``."""
        self._check_fitted()
        return normalized_cross_correlation(self.residuals(x), self.fingerprints_)

    def features(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return flatten(self.residuals(x))
