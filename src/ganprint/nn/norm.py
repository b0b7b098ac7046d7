"""Optional normalization after a convolution, shared by attNet and visNet (models/); takes tensors only.

The official networks have none; a scale may add batch norm so that a CPU-sized step budget converges
(docs/cpu-recipe.md has the measurements). The GAN critics never take it: a WGAN-GP critic with batch norm
breaks the per-sample gradient penalty.
"""

from __future__ import annotations

from torch import nn

NORMS = ("none", "batch")


def normalization(norm: str, channels: int) -> nn.Module:
    """The layer that ``norm`` names for ``channels`` maps (``nn.Identity`` for ``"none"``)."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()
