"""The ``synthetic`` source: real images passed through a fixed, seeded random upsampling network.

A stand-in "generator" with a genuine, seed-specific upsampling fingerprint (the checkerboard of a transposed
convolution), for tests and smoke runs that must not wait for GAN training. It is not a GAN: experiments that
claim the paper's findings use ``generator`` sources (the GAN zoo).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ganprint.data.sources.base import LoadResult, Source
from ganprint.utils.pixels import to_pixels, to_signed


class SyntheticSource(Source):
    """Images of ``base`` downsampled 2x then upsampled by a random 4x4 transposed convolution.

    ``strength`` scales the random part of the kernel around a bilinear one: 0 gives (almost) the base images
    back at half resolution, larger values give a stronger, seed-specific fingerprint.
    """

    kind = "synthetic"

    def __init__(self, name: str, base: Source, seed: int = 0, strength: float = 0.15) -> None:
        super().__init__(name)
        self.base = base
        self.seed = int(seed)
        self.strength = float(strength)

    def prepare(self) -> None:
        self.base.prepare()

    def keys(self) -> list[str]:
        # The data module draws each source's images with a permutation seeded by the source's name, so the
        # real source and each synthetic source use (mostly) different base images.
        return self.base.keys()

    def _kernel(self, channels: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed)
        bilinear = torch.tensor([0.25, 0.75, 0.75, 0.25])
        k = torch.outer(bilinear, bilinear)
        noise = torch.randn(channels, 1, 4, 4, generator=g) * self.strength
        return (k.expand(channels, 1, 4, 4) + noise).contiguous()

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        res = self.base.load(keys, resolution, channels)
        if len(res.images) == 0:
            return res
        x = to_signed(torch.from_numpy(res.images).permute(0, 3, 1, 2))
        x = F.avg_pool2d(x, 2)
        y = F.conv_transpose2d(x, self._kernel(channels), stride=2, padding=1, groups=channels)
        out = to_pixels(y).permute(0, 2, 3, 1).numpy()
        return LoadResult(res.keys, np.ascontiguousarray(out), res.skipped)

    def describe(self) -> dict:
        return {**super().describe(), "base": self.base.describe(), "seed": self.seed,
                "strength": self.strength}
