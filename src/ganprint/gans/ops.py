"""Small tensor operations shared by the GAN families: gradient penalty, fast nearest upsampling, sizes.

Imported by the family modules and ``resnet``; depends on torch only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def log2_int(x: int) -> int:
    return int(round(math.log2(x)))


class _UpNearest(torch.autograd.Function):
    """Nearest upsampling as a broadcast copy; its gradient is a sum-pool (both faster on CPU than
    F.interpolate's kernels or autograd's strided reduction of the broadcast)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: int) -> torch.Tensor:
        ctx.factor = factor
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, factor, w, factor).reshape(n, c, h * factor, w * factor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f = ctx.factor
        return F.avg_pool2d(grad, f) * float(f * f), None


def up_nearest(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor (the values of F.interpolate(mode="nearest"))."""
    return x if factor == 1 else _UpNearest.apply(x, factor)


def down_avg(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


def clip_per_tensor(module: torch.nn.Module, clip: float | None) -> None:
    """Clip each parameter's gradient to norm ``clip`` on its own (tf.clip_by_norm per gradient, as the MMD-GAN
    code does); nothing when ``clip`` is falsy."""
    if clip:
        for p in module.parameters():
            if p.grad is not None:
                torch.nn.utils.clip_grad_norm_([p], clip)


def gradient_penalty(fn, real: torch.Tensor, fake: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """WGAN-GP term ``mean((||d fn(x_hat) / d x_hat|| - target)^2)`` at random interpolates of real and fake.

    ``fn`` maps a batch to one score per sample. The norm is over each whole sample (the MMD-GAN code's
    ``safer_norm(grad, axis=1)`` takes it over one image axis only; we use the norm WGAN-GP defines).
    """
    u = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (real.detach() + u * (fake.detach() - real.detach())).requires_grad_(True)
    out = fn(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return (norm - target).pow(2).mean()
