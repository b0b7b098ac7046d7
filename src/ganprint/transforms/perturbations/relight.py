"""Relighting as a smooth random illumination field, gamma and colour shift (stands in for Table 7 "relighting").

The paper relit CelebA faces with SfSNet (a pretrained face-relighting network, not available here); this is
a content-agnostic substitute that changes low-frequency shading, tone curve and illuminant colour, and is
named for what it is. Imported by the registry and by ``combo``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganprint.transforms.perturbations.base import Perturbation, parse_range

__all__ = ["SmoothIllumination"]

_WHERE = "conf/perturb/relight.yaml"


class SmoothIllumination(Perturbation):
    """``out = 255 * clip(x * L(u, v) * g_c, 0, 1) ** gamma`` with ``x = image / 255``.

    * ``L = exp(s * P / max|P|)``: ``P`` is a random 2-D polynomial of total degree ``degree`` (coefficients
      i.i.d. N(0, 1) on coordinates u, v in [-1, 1]), so ``log L`` spans at most [-s, s] and reaches one end
      exactly; it is as smooth as a degree-2 surface (a tilted, curved light). ``strength`` (s): number or
      ``[lo, hi]``, default ``[0.1, 0.5]`` (illumination between x0.61 and x1.65 at s = 0.5).
    * ``gamma``: tone curve exponent, number or ``[lo, hi]``, default ``[0.7, 1.4]`` (1 = none).
    * ``color_shift`` (c): per-channel illuminant gains ``g_c ~ U[1 - c, 1 + c]`` rescaled to mean 1 (RGB only;
      greyscale has g = 1), number or ``[lo, hi]`` for c, default ``[0, 0.1]``.
    """

    name = "relight"

    def __init__(self, strength: float | list[float] = (0.1, 0.5), gamma: float | list[float] = (0.7, 1.4),
                 color_shift: float | list[float] = (0.0, 0.1), degree: int = 2) -> None:
        self.strength = parse_range(strength, name="relight strength", bounds=(0.0, 5.0),
                                    where=f"{_WHERE} (strength)")
        self.gamma = parse_range(gamma, name="relight gamma", bounds=(0.05, 20.0), where=f"{_WHERE} (gamma)")
        self.color_shift = parse_range(color_shift, name="relight color_shift", bounds=(0.0, 0.99),
                                       where=f"{_WHERE} (color_shift)")
        if isinstance(degree, bool) or not isinstance(degree, int) or not 0 <= degree <= 6:
            raise ValueError(f"relight degree must be an integer in [0, 6], got {degree!r}; fix it in {_WHERE} "
                             "(degree).")
        self.degree = degree
        self._terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        strength, gamma = self.strength.sample(rng), self.gamma.sample(rng)
        coeffs = rng.standard_normal(len(self._terms))
        c = self.color_shift.sample(rng)
        gains = rng.uniform(1.0 - c, 1.0 + c, size=3)
        gains = gains / gains.mean() if shape[2] == 3 else np.ones(1)
        return {"strength": strength, "gamma": gamma, "coeffs": coeffs, "gains": gains}

    def illumination_field(self, params: dict[str, Any], height: int, width: int) -> np.ndarray:
        """The multiplicative field ``L`` (float64 ``[height, width]``, positive) for drawn ``params``."""
        v, u = np.meshgrid(np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width), indexing="ij")
        poly = sum(c * u**i * v**j for c, (i, j) in zip(params["coeffs"], self._terms, strict=True))
        peak = float(np.max(np.abs(poly)))
        return np.exp(params["strength"] * poly / peak) if peak > 0 else np.ones((height, width))

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        field = self.illumination_field(params, h, w)[..., None]
        lit = np.clip(image / 255.0 * field * params["gains"], 0.0, 1.0) ** params["gamma"]
        return np.rint(lit * 255.0).astype(np.uint8)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "strength": self.strength.to_config(), "gamma": self.gamma.to_config(),
                "color_shift": self.color_shift.to_config(), "degree": self.degree}
