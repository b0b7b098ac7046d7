"""ProGAN-style layers: equalized learning rate, pixel norm, minibatch standard deviation.

Equalized learning rate (Karras et al. 2018, "wscale" in the official GANFingerprints code): weights are stored
~N(0, 1) and scaled at run time by gain / sqrt(fan_in), so Adam's per-parameter step is the same for every
layer whatever its fan-in. Biases are separate and start at zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedConv2d(nn.Module):
    """Conv2d with equalized learning rate; ``padding_mode='reflect'`` as in the official attNet."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        gain: float = math.sqrt(2.0),
        bias: bool = True,
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.pad = kernel_size // 2
        self.padding_mode = padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad and self.padding_mode == "zeros":
            # conv2d pads zeros itself: no padded copy, no pad backward (ProGAN's gradient penalty runs this twice)
            return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        if self.pad:
            # Reflect padding needs the input larger than the pad; 1x1 maps fall back to replicate.
            mode = self.padding_mode if min(x.shape[-2:]) > self.pad else "replicate"
            x = F.pad(x, (self.pad,) * 4, mode=mode if mode != "zeros" else "constant")
        return F.conv2d(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, padding_mode={self.padding_mode}"


class EqualizedLinear(nn.Module):
    """Linear layer with equalized learning rate."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0), bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    @property
    def effective_weight(self) -> torch.Tensor:
        """The weight as applied (stored weight times the run-time scale)."""
        return self.weight * self.scale

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}"


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit average square (ProGAN generator)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the across-group standard deviation as one extra feature map (ProGAN discriminator)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            g = 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()
        y = y.mean(dim=(1, 2, 3), keepdim=True)  # [n/g, 1, 1, 1]
        y = y.repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)
