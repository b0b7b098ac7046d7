"""Frequency filters: the binomial (Gaussian) image pyramid of the paper's frequency analysis (Table 4).

A port of the official code's ``downscale2d_rgb_Gaussian`` / ``upscale2d_rgb_Gaussian``: a 5x5 binomial kernel
[1,4,6,4,1]^T [1,4,6,4,1] / 256, reflect padding, stride 2 (down) or zero insertion then the same kernel x4 (up).
On top of it: the low-pass to r x r, the band residual between 2r and r (one level of a Laplacian pyramid) and
full-size versions of both for figures.

Works on float tensors [N, C, H, W] (any channel count, any device, any value range); square or not, each side
must be the target size times a power of two. Imported by ``models/`` (the attNet variants) and by figure code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "BINOMIAL_5",
    "band_full",
    "band_residual",
    "binomial_kernel",
    "highpass",
    "levels_between",
    "lowpass",
    "lowpass_full",
    "pyramid_down",
    "pyramid_up",
]

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def binomial_kernel(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The 5x5 binomial kernel [1,4,6,4,1]^T [1,4,6,4,1] / 256 (sums to 1)."""
    k1 = torch.tensor(BINOMIAL_5, dtype=dtype, device=device) / 16.0
    return torch.outer(k1, k1)


def _check(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"filters expect an image batch [N, C, H, W]; got shape {tuple(x.shape)}.")


def _blur(x: torch.Tensor, stride: int, scale: float) -> torch.Tensor:
    c = x.shape[1]
    k = (binomial_kernel(x.dtype, x.device) * scale).expand(c, 1, 5, 5)
    # Reflect padding as in the official code: it keeps constants constant and checkerboards exact.
    mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode=mode), k, stride=stride, groups=c)


def pyramid_down(x: torch.Tensor, times: int = 1) -> torch.Tensor:
    """Blur with the binomial kernel and keep every second pixel, ``times`` times ([N,C,H,W] -> H/2^t, W/2^t)."""
    _check(x)
    for _ in range(int(times)):
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"pyramid_down needs even image sides; got {tuple(x.shape[-2:])}.")
        x = _blur(x, stride=2, scale=1.0)
    return x


def pyramid_up(x: torch.Tensor, times: int = 1) -> torch.Tensor:
    """Insert zeros between pixels and blur with the binomial kernel x4, ``times`` times (H -> H*2^t)."""
    _check(x)
    for _ in range(int(times)):
        n, c, h, w = x.shape
        z = x.new_zeros(n, c, 2 * h, 2 * w)
        z[..., ::2, ::2] = x
        x = _blur(z, stride=1, scale=4.0)
    return x


def levels_between(size: int, r: int) -> int:
    """How many pyramid levels lead from side ``size`` down to side ``r`` (``size = r * 2^levels``)."""
    size, r = int(size), int(r)
    if r < 1 or size < r or size % r or (size // r) & (size // r - 1):
        raise ValueError(f"cannot go from {size} px to {r} px by halving; r must be {size} divided by a power of two.")
    return (size // r).bit_length() - 1


def _levels(x: torch.Tensor, r: int) -> int:
    _check(x)
    h, w = x.shape[-2:]
    k = levels_between(h, r)
    if w % (2**k):
        raise ValueError(f"image width {w} is not divisible by 2^{k}.")
    return k


def lowpass(x: torch.Tensor, r: int) -> torch.Tensor:
    """Gaussian-pyramid low-pass to r x r (the paper's pre-downsampling input): [N,C,H,W] -> [N,C,r,r·W/H]."""
    return pyramid_down(x, _levels(x, r))


def band_residual(x: torch.Tensor, r: int) -> torch.Tensor:
    """The band between resolutions 2r and r, at 2r x 2r: ``lowpass(x, 2r) - pyramid_up(lowpass(x, r))``.

    One level of a Laplacian pyramid; the pre-downsampling residual network's input. Zero for constant images.
    """
    g = lowpass(x, 2 * int(r))
    return g - pyramid_up(pyramid_down(g))


def lowpass_full(x: torch.Tensor, r: int) -> torch.Tensor:
    """``lowpass(x, r)`` upsampled back to the input size with the same pyramid (for figures)."""
    k = _levels(x, r)
    return pyramid_up(pyramid_down(x, k), k)


def highpass(x: torch.Tensor, r: int) -> torch.Tensor:
    """What the low-pass to r x r removes, at the input size: ``x - lowpass_full(x, r)``."""
    return x - lowpass_full(x, r)


def band_full(x: torch.Tensor, r: int) -> torch.Tensor:
    """``band_residual(x, r)`` upsampled to the input size (for figures of each band)."""
    return pyramid_up(band_residual(x, r), _levels(x, 2 * int(r)))
