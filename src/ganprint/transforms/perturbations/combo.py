"""The combined attack (Yu et al. Table 7 "combination"): each part applied with probability p, in order.

Builds parts given by name through the registry that every ``Perturbation`` subclass joins (``base``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganprint.transforms.perturbations.base import Perturbation, build_perturbation
from ganprint.transforms.perturbations.blur import GaussianBlur
from ganprint.transforms.perturbations.crop import CropResize
from ganprint.transforms.perturbations.jpeg import JpegCompression
from ganprint.transforms.perturbations.noise import GaussianNoise
from ganprint.transforms.perturbations.relight import SmoothIllumination

__all__ = ["PAPER_ORDER", "Combination"]

PAPER_ORDER = ("relight", "crop", "blur", "jpeg", "noise")
_WHERE = "conf/perturb/combo.yaml"


def _paper_parts() -> dict[str, Perturbation]:
    return {"relight": SmoothIllumination(), "crop": CropResize(), "blur": GaussianBlur(),
            "jpeg": JpegCompression(), "noise": GaussianNoise()}


class Combination(Perturbation):
    """Apply each part independently with probability ``p``, in the order the parts are given.

    ``parts``: a mapping name → perturbation (or name → dict of that perturbation's params, built with the
    registry), or a list of perturbations (named by their ``name``). Default: the paper's five attacks with
    their paper severities in the paper's order relight → crop → blur → JPEG → noise.
    ``p``: one probability for every part (paper: 0.5) or a mapping name → probability.
    The coin flips and each part's seed are drawn up front, so a part's draw does not depend on whether the
    parts before it fired; :meth:`applied_parts` replays which parts an image got.
    """

    name = "combo"

    def __init__(self, parts: Mapping[str, Any] | Sequence[Perturbation] | None = None,
                 p: float | Mapping[str, float] = 0.5) -> None:
        self.parts = self._build_parts(parts)
        names = list(self.parts)
        if isinstance(p, Mapping):
            unknown = sorted(set(p) - set(names))
            if unknown:
                raise ValueError(f"combo p names unknown parts {unknown}; parts are {names}; fix p in {_WHERE}.")
            probs = {n: p.get(n, 0.5) for n in names}
        else:
            probs = dict.fromkeys(names, p)
        for n, q in probs.items():
            if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
                raise ValueError(f"combo probability for {n!r} must be in [0, 1], got {q!r}; fix p in {_WHERE}.")
        self.p = {n: float(q) for n, q in probs.items()}

    @staticmethod
    def _build_parts(parts: Mapping[str, Any] | Sequence[Perturbation] | None) -> dict[str, Perturbation]:
        if parts is None:
            return _paper_parts()
        if isinstance(parts, Mapping):
            built = {}
            for key, part in parts.items():
                if isinstance(part, Perturbation):
                    built[str(key)] = part
                elif part is None or isinstance(part, Mapping):
                    built[str(key)] = build_perturbation(str(key), **dict(part or {}))
                else:
                    raise ValueError(f"combo part {key!r} must be a perturbation or a dict of its params, got "
                                     f"{type(part).__name__}; fix parts in {_WHERE}.")
        else:
            built = {}
            for part in parts:
                if not isinstance(part, Perturbation) or part.name in built:
                    raise ValueError(f"combo parts must be distinct perturbations, got {part!r}; fix parts in "
                                     f"{_WHERE}.")
                built[part.name] = part
        if not built:
            raise ValueError(f"combo needs at least one part; fix parts in {_WHERE}.")
        if any(isinstance(part, Combination) for part in built.values()):
            raise ValueError(f"combo parts cannot themselves be combos; fix parts in {_WHERE}.")
        return built

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        names = list(self.parts)
        coins = rng.random(len(names))
        seeds = rng.integers(0, 1 << 63, size=len(names))
        applied = tuple(n for n, c in zip(names, coins, strict=True) if c < self.p[n])
        return {"applied": applied, "seeds": {n: int(s) for n, s in zip(names, seeds, strict=True)}}

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        out = image.copy()
        for n in params["applied"]:
            out = self.parts[n](out, params["seeds"][n])
        return out

    def applied_parts(self, seed: int) -> tuple[str, ...]:
        """Names of the parts ``self(image, seed)`` applies, in application order (independent of the image)."""
        return self.params_for(seed, (1, 1, 1))["applied"]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "p": dict(self.p), "parts": {n: part.describe() for n, part in self.parts.items()}}
