"""Perturbations by name: ``build_perturbation("jpeg", quality=30)``; the names are conf/perturb/'s file names.

Imported by entry points and sweeps that pick a perturbation by name, and lazily by ``combo``.
"""

from __future__ import annotations

from typing import Any

from ganprint.transforms.perturbations.base import NoPerturbation, Perturbation
from ganprint.transforms.perturbations.blur import GaussianBlur
from ganprint.transforms.perturbations.combo import Combination
from ganprint.transforms.perturbations.crop import CropResize
from ganprint.transforms.perturbations.jpeg import JpegCompression
from ganprint.transforms.perturbations.noise import GaussianNoise
from ganprint.transforms.perturbations.relight import SmoothIllumination

__all__ = ["PERTURBATIONS", "build_perturbation", "perturbation_names"]

PERTURBATIONS: dict[str, type[Perturbation]] = {
    cls.name: cls
    for cls in (NoPerturbation, GaussianNoise, GaussianBlur, CropResize, JpegCompression, SmoothIllumination,
                Combination)
}


def perturbation_names() -> list[str]:
    """The valid perturbation names, in the paper's table order."""
    return list(PERTURBATIONS)


def build_perturbation(name: str, **params: Any) -> Perturbation:
    """The perturbation called ``name`` with ``params`` overriding its paper defaults."""
    cls = PERTURBATIONS.get(name)
    if cls is None:
        raise ValueError(f"unknown perturbation {name!r}; valid names are {', '.join(PERTURBATIONS)} "
                         "(the files of conf/perturb/).")
    return cls(**params)
