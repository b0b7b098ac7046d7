"""The ``subset`` source: a fixed-size subset of another source's images, chosen at random or as the most
realistic ones (the paper's artifact analysis, Table 6).

Realism rule (documented because the paper does not give its own): each candidate image is projected with a
PCA fitted on the real source's images (``real_images`` of them, at the same resolution), and scored by its
mean Euclidean distance to its ``k`` nearest real images in that space; the ``n_images`` candidates with the
smallest score are "the most realistic" — those with the fewest visible departures from real images. ``random``
picks the same number uniformly (seeded), so both arms train and test on equally many images.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from ganprint.data.sources.base import LoadResult, Source
from ganprint.data.splits import stable_seed
from ganprint.errors import ConfigError

RULES = ("random", "realistic")


class SubsetSource(Source):
    """``n_images`` of ``base``'s images, picked by ``rule`` (``random`` | ``realistic``) at ``resolution``."""

    kind = "subset"

    def __init__(self, name: str, base: Source, n_images: int, rule: str = "random", real: Source | None = None,
                 resolution: int = 32, channels: int = 1, real_images: int = 5000, k: int = 5,
                 pca_dim: int = 64, seed: int = 0) -> None:
        super().__init__(name)
        if rule not in RULES:
            raise ConfigError(f"unknown subset rule {rule!r} for source {name!r}; use one of {RULES}.")
        if rule == "realistic" and real is None:
            raise ConfigError(f"source {name!r}: the realistic rule needs `real:` (the real source) to compare with.")
        self.base, self.real, self.rule = base, real, rule
        self.n_images, self.resolution, self.channels = int(n_images), int(resolution), int(channels)
        self.real_images, self.k, self.pca_dim, self.seed = int(real_images), int(k), int(pca_dim), int(seed)

    def prepare(self) -> None:
        self.base.prepare()
        if self.real is not None:
            self.real.prepare()

    def realism_scores(self, keys: Sequence[str]) -> np.ndarray:
        """Mean distance to the k nearest real images in the real images' PCA space (lower = more realistic)."""
        real_keys = [k for k in self.real.keys() if not k.startswith("test:")]
        rng = np.random.default_rng(stable_seed("realism", self.seed))
        pick = rng.choice(len(real_keys), size=min(self.real_images, len(real_keys)), replace=False)
        real = self.real.load([real_keys[i] for i in sorted(pick)], self.resolution, self.channels).images
        real = real.reshape(len(real), -1).astype(np.float32) / 255.0
        pca = PCA(n_components=min(self.pca_dim, *real.shape), random_state=0).fit(real)
        nn = NearestNeighbors(n_neighbors=self.k).fit(pca.transform(real))
        scores = []
        for i in range(0, len(keys), 2048):
            cand = self.base.load(keys[i : i + 2048], self.resolution, self.channels).images
            dist, _ = nn.kneighbors(pca.transform(cand.reshape(len(cand), -1).astype(np.float32) / 255.0))
            scores.append(dist.mean(axis=1))
        return np.concatenate(scores)

    @cached_property
    def _keys(self) -> list[str]:
        keys = self.base.keys()
        if self.n_images > len(keys):
            raise ConfigError(f"source {self.name!r} asks for {self.n_images} of {len(keys)} images of "
                              f"{self.base.name!r}; lower its `n_images` or sample more from the base source.")
        if self.rule == "random":
            order = np.random.default_rng(stable_seed("subset", self.seed, self.name)).permutation(len(keys))
        else:
            order = np.argsort(self.realism_scores(keys), kind="stable")
        return [keys[i] for i in sorted(order[: self.n_images])]

    def keys(self) -> list[str]:
        return list(self._keys)

    def load(self, keys: Sequence[str], resolution: int, channels: int) -> LoadResult:
        return self.base.load(keys, resolution, channels)

    def describe(self) -> dict:
        return {**super().describe(), "base": self.base.describe(), "rule": self.rule, "n_images": self.n_images,
                "k": self.k, "pca_dim": self.pca_dim, "real_images": self.real_images, "seed": self.seed}
