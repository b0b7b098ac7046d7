"""Image transforms: frequency filters (the Gaussian pyramid, on float tensors), perturbations (noise, blur,
JPEG, crop, relighting, combination; on uint8 numpy images, deterministic per seed) and PGD attacks.

Knows nothing of models, GANs or sources; ``data/``, ``models/``, tasks and figure code may import it.
"""

from ganprint.transforms.filters import (
    band_full,
    band_residual,
    highpass,
    lowpass,
    lowpass_full,
    pyramid_down,
    pyramid_up,
)
from ganprint.transforms.perturbations import (
    Perturbation,
    build_perturbation,
    derive_seed,
    perturb_batch,
    perturbation_names,
)

__all__ = [
    "Perturbation",
    "build_perturbation",
    "derive_seed",
    "perturb_batch",
    "perturbation_names",
    "band_full",
    "band_residual",
    "highpass",
    "lowpass",
    "lowpass_full",
    "pyramid_down",
    "pyramid_up",
]
