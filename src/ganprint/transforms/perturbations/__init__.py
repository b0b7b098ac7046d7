"""Seeded image perturbations of Yu et al.'s Table 7 (noise, blur, JPEG, crop, relight, their combination).

Each works on uint8 ``[H, W, C]`` numpy images (C = 1 or 3), or on ``[N, H, W, C]`` batches with per-image
seeds, and is deterministic given a seed. Knows nothing of models, sources or files; the data module and the
entry points import it (usually through Hydra ``conf/perturb/*.yaml``).
"""

from ganprint.transforms.perturbations.base import (
    NoPerturbation,
    Perturbation,
    derive_seed,
    perturb_batch,
)
from ganprint.transforms.perturbations.blur import GaussianBlur, opencv_sigma
from ganprint.transforms.perturbations.combo import PAPER_ORDER, Combination
from ganprint.transforms.perturbations.crop import CropResize
from ganprint.transforms.perturbations.jpeg import JpegCompression
from ganprint.transforms.perturbations.noise import GaussianNoise
from ganprint.transforms.perturbations.registry import PERTURBATIONS, build_perturbation, perturbation_names
from ganprint.transforms.perturbations.relight import SmoothIllumination

__all__ = [
    "PAPER_ORDER",
    "PERTURBATIONS",
    "Combination",
    "CropResize",
    "GaussianBlur",
    "GaussianNoise",
    "JpegCompression",
    "NoPerturbation",
    "Perturbation",
    "SmoothIllumination",
    "build_perturbation",
    "derive_seed",
    "opencv_sigma",
    "perturb_batch",
    "perturbation_names",
]
