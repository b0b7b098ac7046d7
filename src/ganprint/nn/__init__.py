"""Layers shared by the attribution networks (models/) and the GAN zoo (gans/); they take tensors only."""

from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm

__all__ = ["EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "PixelNorm"]
