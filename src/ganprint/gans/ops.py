"""Small tensor operations shared by the GAN families: gradient penalty, resampling, per-tensor clipping, sizes.

Imported by the family modules and ``resnet``; depends on torch and ``ganprint.nn.resample`` (whose
``up_nearest`` it re-exports).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganprint.nn.resample import avg_pool2, up_nearest

__all__ = ["avg_pool2", "clip_per_tensor", "down_avg", "gradient_penalty", "log2_int", "up_nearest"]


def log2_int(x: int) -> int:
    return int(round(math.log2(x)))


def down_avg(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    if factor == 1:
        return x
    return avg_pool2(x) if factor == 2 else F.avg_pool2d(x, factor)


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
