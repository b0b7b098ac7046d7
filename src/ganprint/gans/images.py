"""Image conversions for GAN training and sampling: uint8 ``[N, H, W, C]`` arrays <-> float tensors in [-1, 1].

``TensorImageDataset`` feeds real images to ``GANModule``; ``to_uint8`` turns generator output back into
images; ``image_grid`` tiles samples for the PNG grids. Imported by ``module``, ``zoo`` and ``quality``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ganprint.errors import ConfigError
from ganprint.utils.pixels import to_pixels, to_signed


def check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        got = f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
        raise ConfigError(f"{what} must be a uint8 array [N, H, W, C], got {got}.")
    if len(images) == 0:
        raise ConfigError(f"{what} is empty: the GAN needs real training images; check the source's data path.")
    return images


class TensorImageDataset(Dataset):
    """uint8 ``[N, H, W, C]`` images as float ``[C, H, W]`` tensors in [-1, 1] (``utils.pixels.to_signed``)."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(check_images(images)))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_signed(self.images[i].permute(2, 0, 1))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float ``[N, C, H, W]`` in [-1, 1] -> uint8 ``[N, H, W, C]``, clipped and rounded."""
    return to_pixels(x).permute(0, 2, 3, 1).cpu().numpy()


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 ``[N, H, W, C]`` images into one ``[H', W', C]`` grid (``nrow`` images per row)."""
    n, h, w, c = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), dtype=np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = img
    return grid


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write a uint8 ``[H, W, C]`` image losslessly, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    return path
