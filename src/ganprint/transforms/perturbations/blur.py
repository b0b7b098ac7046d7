"""Gaussian blur (Yu et al. Table 7 "blur": kernel size drawn from {1, 3, 5, 7, 9}).

Imported by the registry and by ``combo``.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np

from ganprint.transforms.perturbations.base import Perturbation, parse_choices, parse_range

__all__ = ["GaussianBlur", "opencv_sigma"]


def opencv_sigma(kernel_size: int) -> float:
    """The σ OpenCV derives from a kernel size when given σ = 0: ``0.3 * ((k - 1) * 0.5 - 1) + 0.8``.

    k = 1, 3, 5, 7, 9 → σ = 0.5, 0.8, 1.1, 1.4, 1.7. This is what ``cv2.GaussianBlur(img, (k, k), 0)``, the usual
    way to write "Gaussian blur with kernel size k", uses.
    """
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


class GaussianBlur(Perturbation):
    """Separable Gaussian blur with a k x k kernel, k drawn per image from ``kernel_size``.

    ``kernel_size``: an odd int (fixed) or a list of odd ints drawn uniformly; paper default ``[1, 3, 5, 7, 9]``.
    k = 1 is the identity (a 1-tap kernel), so on average a fifth of the images are left clean, as in the paper.
    ``sigma``: ``null`` (default) derives σ from k with :func:`opencv_sigma`, so σ grows with k (0.5 … 1.7);
    a number or ``[lo, hi]`` instead fixes / draws σ independently of k (the kernel still truncates at k).
    Borders are reflected (OpenCV's BORDER_REFLECT_101).

    Unlike ``cv2.GaussianBlur(img, (k, k), 0)``, which for k ≤ 7 uses fixed binomial taps (k = 3: 1/4, 1/2, 1/4),
    the kernel here is always the sampled Gaussian exp(-x²/2σ²), normalised; outputs differ by a few grey levels.
    """

    name = "blur"

    def __init__(self, kernel_size: int | list[int] = (1, 3, 5, 7, 9), sigma: float | list[float] | None = None):
        where = "conf/perturb/blur.yaml"
        self.kernel_size = parse_choices(kernel_size, name="blur kernel_size", where=f"{where} (kernel_size)",
                                         odd=True, bounds=(1, 255))
        self.sigma = None if sigma is None else parse_range(sigma, name="blur sigma", bounds=(1e-3, 100.0),
                                                            where=f"{where} (sigma)")
        self._ops: dict[tuple[int, float], A.GaussianBlur] = {}

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        k = self.kernel_size.sample(rng)
        sigma = opencv_sigma(k) if self.sigma is None else self.sigma.sample(rng)
        return {"kernel_size": k, "sigma": sigma}

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        k, sigma = params["kernel_size"], params["sigma"]
        if k == 1:
            return image.copy()
        key = (k, sigma)
        op = self._ops.get(key)
        if op is None:
            # Both limits pinned: albumentations' own random draw then has nothing left to choose.
            op = A.GaussianBlur(blur_limit=(k, k), sigma_limit=(sigma, sigma), p=1.0)
            if self.sigma is None:  # only a handful of keys; a drawn σ would grow the cache without bound
                self._ops[key] = op
        return op(image=image)["image"]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kernel_size": self.kernel_size.to_config(),
                "sigma": None if self.sigma is None else self.sigma.to_config()}
