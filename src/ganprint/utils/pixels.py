"""The one conversion between stored pixels (uint8, 0..255) and the networks' input range (float, -1..1).

Every network, baseline, generator and figure in ganprint sees images as ``x / 127.5 - 1``; keeping the formula
in one place keeps them on one convention. Bottom layer: anything in the package may import it.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

HALF_RANGE = 127.5  # 255 / 2: 0 maps to -1 and 255 to +1


@overload
def to_signed(x: np.ndarray, out: None = None) -> np.ndarray: ...
@overload
def to_signed(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor: ...
def to_signed(x, out=None):
    """uint8 pixels as float32 in [-1, 1], same shape and memory layout. A tensor is converted into a copy (or
    into ``out``, a preallocated float tensor), never in place; a NumPy array gives a NumPy array."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32) / HALF_RANGE - 1.0
    out = x.to(torch.float32, copy=True) if out is None else out.copy_(x)
    return out.div_(HALF_RANGE).sub_(1.0)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Floats in [-1, 1] back to uint8 pixels: clipped, then rounded to the nearest level."""
    return ((x.detach().float().clamp(-1, 1) + 1.0) * HALF_RANGE).round().to(torch.uint8)
