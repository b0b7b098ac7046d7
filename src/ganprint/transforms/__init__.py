"""Image transforms on tensors: frequency filters (the Gaussian pyramid), perturbations, patch sampling.

Knows nothing of models, GANs or sources; ``data/``, ``models/`` and figure code may import it.
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

__all__ = [
    "band_full",
    "band_residual",
    "highpass",
    "lowpass",
    "lowpass_full",
    "pyramid_down",
    "pyramid_up",
]
