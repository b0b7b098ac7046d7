"""PRNU-style GAN fingerprints (Marra et al., "Do GANs leave artificial fingerprints?", MIPR 2019).

An image's noise residual is the image minus its wavelet-denoised version (BayesShrink soft thresholding of the
wavelet detail coefficients, as in scikit-image's ``denoise_wavelet``); a source's fingerprint is the mean
residual of its training images; an image is attributed to the source whose fingerprint has the highest
normalized cross-correlation (both zero-mean, unit-norm) with its residual. Decomposition levels and the
denoiser's noise sigma are chosen on the validation split (Frank et al. search levels 1-4 and sigma 0.05-0.95
on a 0-255 scale with the Binghamton filter; this denoiser works on [0, 1] images, so the sigma grid is on that
scale).

The residuals of a whole batch are computed at once with PyWavelets' batched transforms and vectorised
per-image, per-subband thresholds: the grid search recomputes every training residual for each candidate, and
one ``denoise_wavelet`` call per 32x32 image was almost all Python overhead. The result equals
``image - denoise_wavelet(image)`` per image (float32 [0, 1] input, BayesShrink, soft, the given sigma,
``rescale_sigma=False``, colour channels denoised separately), which tests/baselines/test_prnu_residuals.py
checks against ``denoise_wavelet`` itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pywt

from ganprint.models.baselines.base import Baseline, check_images, flatten, grid_product, to_unit

DEFAULT_LEVELS_GRID = (1, 2, 3)
DEFAULT_SIGMA_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
CHUNK = 256  # images per progress-bar step


def _soft_bayes_shrink(d: np.ndarray, var: float) -> np.ndarray:
    """BayesShrink-soft-threshold each image's detail array ``d[i]`` (``[B, h, w]``) with its own threshold."""
    # skimage's _bayes_thresh, per image: the dtype's eps keeps the threshold finite (and large) when the
    # subband's variance does not exceed the noise variance.
    dvar = np.mean(d * d, axis=(-2, -1), keepdims=True)
    thresh = var / np.sqrt(np.maximum(dvar - var, np.finfo(d.dtype).eps))
    # pywt.threshold's soft formula rather than sign(d) * max(|d| - t, 0), so the rounding is the same; a zero
    # coefficient gives t / 0 = inf, clipped to a factor of 0.
    magnitude = np.abs(d)
    with np.errstate(divide="ignore"):
        factor = 1 - thresh / magnitude
    factor.clip(min=0, max=None, out=factor)
    return d * factor


def noise_residual(x: np.ndarray, levels: int, sigma: float, wavelet: str = "db4") -> np.ndarray:
    """``image - denoise_wavelet(image)`` for uint8 images ``[N, H, W, C]``; float32 in [0, 1] units."""
    img = to_unit(x)
    n, h, w, c = img.shape
    # denoise_wavelet (convert2ycbcr=False) denoises each channel on its own with the same sigma, so every
    # (image, channel) plane is an independent 2-D transform.
    planes = np.ascontiguousarray(np.moveaxis(img, -1, 1)).reshape(n * c, h, w)
    with warnings.catch_warnings():
        # pywt warns when the levels exceed what the image size supports without boundary effects; that
        # is a legitimate grid point on 32x32 images, not an error.
        warnings.simplefilter("ignore", UserWarning)
        coeffs = pywt.wavedecn(planes, wavelet, level=int(levels), axes=(-2, -1))
    var = sigma**2
    # The approximation is kept as is; only the detail subbands are thresholded.
    shrunk = [coeffs[0]] + [{key: _soft_bayes_shrink(d, var) for key, d in level.items()} for level in coeffs[1:]]
    # waverecn returns one extra sample on odd sizes (PyWavelets issue #80); skimage crops it the same way.
    den = pywt.waverecn(shrunk, wavelet, axes=(-2, -1))[:, :h, :w].astype(img.dtype, copy=False)
    return img - np.moveaxis(den.reshape(n, c, h, w), 1, -1)


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
