"""2x resampling for the attribution networks (models/) and the GAN zoo (gans/): nearest up, average down.

Both are written as broadcasts and strided sums with hand-written gradients because PyTorch's CPU kernels for
these tiny maps are slow: on one thread, ``F.avg_pool2d(x, 2)`` forward + backward of a 64x16x32x32 batch takes
4.4 ms against 1.1 ms here, and the pools were 12 % of an attNet training step at the cpu scale (`make bench`
and docs/cpu-recipe.md have the step-level figures). Values equal ``F.interpolate(mode="nearest")`` and
``F.avg_pool2d(x, 2)`` up to float rounding; the gradients are differentiable again, so a WGAN-GP penalty's
double backward runs through them. Takes tensors only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _UpNearest(torch.autograd.Function):
    """Nearest upsampling by any integer factor as a broadcast copy; its gradient is a sum-pool."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: int) -> torch.Tensor:
        ctx.factor = factor
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, factor, w, factor).reshape(n, c, h * factor, w * factor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f = ctx.factor
        return F.avg_pool2d(grad, f) * float(f * f), None


class _Up2(torch.autograd.Function):
    """Nearest 2x upsampling as four strided copies (2.5x faster than the broadcast copy); gradient: sum-pool."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        out = x.new_empty(n, c, 2 * h, 2 * w)
        for i in (0, 1):
            for j in (0, 1):
                out[:, :, i::2, j::2] = x
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SumPool2.apply(grad)


class _SumPool2(torch.autograd.Function):
    """Sum over 2x2 blocks as four strided views added; its gradient is a nearest 2x upsampling."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _Up2.apply(grad)


def up_nearest(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling of ``[N, C, H, W]`` by an integer factor."""
    if factor == 1:
        return x
    return _Up2.apply(x) if factor == 2 else _UpNearest.apply(x, factor)


def avg_pool2(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2)`` of ``[N, C, H, W]``; odd sides fall back to it (its floor semantics)."""
    if x.dim() != 4 or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.avg_pool2d(x, 2)
    # Scaling the quarter-size sum is cheaper than scaling the input.
    return _SumPool2.apply(x) * 0.25


class AvgPool2(nn.Module):
    """``nn.AvgPool2d(2)`` through :func:`avg_pool2` (no parameters: checkpoints are unchanged)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool2(x)


class Up2(nn.Module):
    """``nn.Upsample(scale_factor=2, mode="nearest")`` through :func:`up_nearest`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return up_nearest(x, 2)
