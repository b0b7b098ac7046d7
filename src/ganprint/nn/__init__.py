"""Layers shared by the attribution networks (models/) and the GAN zoo (gans/); they take tensors only."""

from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from ganprint.nn.norm import NORMS, normalization
from ganprint.nn.resample import AvgPool2, Up2, avg_pool2, up_nearest

__all__ = ["NORMS", "AvgPool2", "EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "PixelNorm", "Up2", "avg_pool2",
           "normalization", "up_nearest"]
