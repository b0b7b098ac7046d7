"""Crop-and-resize (Yu et al. Table 7 "cropping": remove 5-20 % of the side at a random offset, resize back).

Imported by the registry and by ``combo``.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from ganprint.transforms.perturbations.base import Perturbation, parse_range

__all__ = ["CropResize"]

_INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                   "area": cv2.INTER_AREA}


class CropResize(Perturbation):
    """Cut a window ``round((1 - f) H) x round((1 - f) W)`` at a uniformly random offset, resize it to H x W.

    ``fraction`` (f): the share of each side removed, a number (fixed) or ``[lo, hi]`` (drawn uniformly per
    image); paper default ``[0.05, 0.20]``. The same f applies to both sides, so the aspect ratio is kept; the
    top and left offsets are drawn independently and uniformly from every position where the window fits (the
    removed rows/columns are split at random between the two edges). ``interpolation``: resize kernel, one of
    nearest, bilinear (default), bicubic, area.
    """

    name = "crop"

    def __init__(self, fraction: float | list[float] = (0.05, 0.20), interpolation: str = "bilinear") -> None:
        self.fraction = parse_range(fraction, name="crop fraction", bounds=(0.0, 0.9),
                                    where="conf/perturb/crop.yaml (fraction)")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"crop interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}; "
                             "fix it in conf/perturb/crop.yaml (interpolation).")
        self.interpolation = interpolation
        self._resize: dict[tuple[int, int], A.Resize] = {}

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[:2]
        f = self.fraction.sample(rng)
        ch, cw = max(1, int(round(h * (1.0 - f)))), max(1, int(round(w * (1.0 - f))))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return {"fraction": f, "top": top, "left": left, "height": ch, "width": cw}

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        top, left, ch, cw = params["top"], params["left"], params["height"], params["width"]
        if (ch, cw) == (h, w):
            return image.copy()
        window = np.ascontiguousarray(image[top:top + ch, left:left + cw])
        op = self._resize.get((h, w))
        if op is None:
            op = self._resize[(h, w)] = A.Resize(h, w, interpolation=_INTERPOLATIONS[self.interpolation], p=1.0)
        return op(image=window)["image"]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "fraction": self.fraction.to_config(), "interpolation": self.interpolation}
