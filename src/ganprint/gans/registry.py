"""The family registry: name -> GANFamily class, and ``build_family`` (the ``_target_`` of conf/gan/*.yaml).

Imported by ``ganprint.gans.zoo`` and by Hydra ``instantiate``.
"""

from __future__ import annotations

from typing import Any

from ganprint.errors import ConfigError

from .cramergan import CramerGAN
from .dcgan import DCGAN
from .family import GANFamily
from .mmdgan import MMDGAN
from .progan import ProGAN
from .sngan import SNGAN

FAMILIES: dict[str, type[GANFamily]] = {f.name: f for f in (ProGAN, SNGAN, CramerGAN, MMDGAN, DCGAN)}


def build_family(family: str, **kwargs: Any) -> GANFamily:
    """Build the GAN family ``family`` (progan, sngan, cramergan, mmdgan, dcgan) from its spec keys.

    ``kwargs`` are ``resolution``, ``channels`` and any of the family's spec keys (``latent_dim``, ``arch``,
    ``optim``, ``loss``, ``n_dis``, ``ema_beta``, ...); missing ones take the official defaults. A ``_target_``
    key (from a Hydra config passed as a plain dict) is ignored.
    """
    kwargs.pop("_target_", None)
    if family not in FAMILIES:
        raise ConfigError(f"unknown GAN family {family!r}; valid names: {', '.join(sorted(FAMILIES))}. "
                         f"Set `family` in conf/gan/<name>.yaml (gan.spec.family).")
    return FAMILIES[family](**kwargs)
