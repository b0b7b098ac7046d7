"""The GAN zoo: ProGAN, SNGAN, CramerGAN, MMDGAN and DCGAN, one Lightning module that trains any of them, and
``GanZoo``, which trains a generator on uint8 images and samples from its safe checkpoint.

Families are built from plain spec dicts (conf/gan/<family>.yaml) by ``build_family``. This package takes
arrays and tensors only; it knows nothing of sources, caches or manifests (``ganprint.data`` calls ``GanZoo``
through its own protocol). It may import ``ganprint.nn`` and ``ganprint.metrics``.
"""

from .checkpoint import GeneratorCheckpointError
from .family import GANFamily, check_resolution
from .images import TensorImageDataset, image_grid, to_uint8
from .module import GANModule
from .registry import FAMILIES, build_family
from .zoo import GanZoo

__all__ = [
    "FAMILIES",
    "GANFamily",
    "GANModule",
    "GanZoo",
    "GeneratorCheckpointError",
    "TensorImageDataset",
    "build_family",
    "check_resolution",
    "image_grid",
    "to_uint8",
]
