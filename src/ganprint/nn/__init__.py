"""Layers shared by the attribution networks (models/) and the GAN zoo (gans/); they take tensors only."""

from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from ganprint.nn.norm import NORMS, normalization

__all__ = ["NORMS", "EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "PixelNorm", "normalization"]
