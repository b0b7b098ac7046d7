"""Generator quality: Fréchet distance of each generator's samples to the real data, next to the real-vs-real floor.

``frechet_report`` takes any feature function (uint8 ``[N, H, W, C]`` -> ``[N, D]``): the in-project content
classifier's ``embed`` (``ganprint.models.baselines.content``) is the Inception stand-in; ``pixel_features``
is a model-free fallback. The real set is split into two random halves A and B of equal size; every
generator is compared with B using as many samples as A has, so each distance carries the same finite-sample
bias as the floor FD(A, B). Imports ``ganprint.metrics.frechet``; arrays only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ganprint.errors import ConfigError
from ganprint.metrics.frechet import frechet_distance, gaussian_stats

from .images import check_images

Embed = Callable[[np.ndarray], np.ndarray]


def pixel_features(images: np.ndarray, size: int = 16) -> np.ndarray:
    """Area-downsampled pixels in [0, 1], flattened: ``[N, size*size*C]`` (a model-free feature space)."""
    x = torch.from_numpy(np.ascontiguousarray(check_images(images))).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = F.adaptive_avg_pool2d(x, size)
    return x.flatten(1).numpy().astype(np.float64)


def frechet_report(embed: Embed, real: np.ndarray, fakes: Mapping[str, np.ndarray], seed: int = 0) -> dict:
    """``{"real_halves": FD(A, B), "n_per_set": n, "fd": {name: FD(fake[:n], B)}}`` with n = |A| = |B|."""
    real = check_images(real, "real images")
    if len(real) < 4:
        raise ConfigError("the Fréchet report needs at least 4 real images; give it more real data.")
    idx = np.random.default_rng(seed).permutation(len(real))
    n = len(real) // 2
    a, b = real[idx[:n]], real[idx[n: 2 * n]]
    stats_b = gaussian_stats(embed(b))
    out = {"real_halves": frechet_distance(gaussian_stats(embed(a)), stats_b), "n_per_set": n, "fd": {}}
    for name, fake in fakes.items():
        fake = check_images(fake, f"samples of {name}")
        if len(fake) < n:
            raise ConfigError(f"{name} has {len(fake)} samples but the report compares sets of {n}; sample at "
                              f"least {n} images (half the real set).")
        out["fd"][name] = frechet_distance(gaussian_stats(embed(fake[:n])), stats_b)
    return out
