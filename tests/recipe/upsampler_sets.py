"""Independent source sets for checking the attribution recipe on data the project never trains its defaults on.

Real photographs (crops of the pictures that scikit-image ships, not Fashion-MNIST) against "generators" that are
image pipelines over other crops of them: a generator's fingerprint is its up-sampler or its re-encoding, as in
the paper's finding that up-sampling layers leave the artifacts. Two sets:

- ``interp5`` (the development set: the cpu recipe's learning rate and step budget were compared on it): nearest,
  bilinear and bicubic 2x up-sampling and a transposed convolution with a fixed 4x4 kernel.
- ``pipelines5`` (held out: built once the recipe was chosen, never used to choose it): PIL Hamming 2x
  up-sampling, PIL bicubic 21 -> 32 px up-sampling, a JPEG quality-60 round trip of full-resolution crops, and a 3x3 stride-2 transposed
  convolution followed by a 3x3 blur.

Used by tests/recipe/test_small_data_recipe.py only; written as PNG folders for ``data=folders``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import skimage
import torch
import torch.nn.functional as F
from PIL import Image

PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
          "brick.png", "moon.png", "motorcycle_left.png", "hubble_deep_field.jpg", "retina.jpg", "rocket.jpg",
          "clock_motion.png", "horse.png", "page.png")
SETS = {"interp5": ("up_nearest", "up_bilinear", "up_bicubic", "up_tconv4"),
        "pipelines5": ("up_bicubic_3to2", "up_hamming", "jpeg60", "up_tconv3_blur")}


def _photos() -> list[np.ndarray]:
    root = Path(os.path.dirname(skimage.__file__)) / "data"
    return [np.asarray(Image.open(root / f).convert("RGB")) for f in PHOTOS]


def _crops(photos: list[np.ndarray], rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` random square crops of random zoom, resized to ``size`` with Lanczos (the 'camera' of the set)."""
    out = []
    for _ in range(n):
        p = photos[rng.integers(len(photos))]
        h, w = p.shape[:2]
        side = max(size, int(min(h, w) * rng.uniform(0.25, 1.0) * rng.uniform(0.1, 0.3)))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out.append(np.asarray(Image.fromarray(p[y:y + side, x:x + side]).resize((size, size), Image.LANCZOS)))
    return np.stack(out)


def _tconv(lo: np.ndarray, k: int, seed: int, blur: bool) -> np.ndarray:
    t = torch.from_numpy(lo).permute(0, 3, 1, 2).float()
    g = torch.Generator().manual_seed(seed)
    kern = torch.rand(k, k, generator=g) + 0.5
    kern = kern / kern.sum() * 4  # a 2x up-sampler keeps the mean brightness when it sums to 4
    pad, extra = (1, 0) if k == 4 else (1, 1)
    up = F.conv_transpose2d(t, kern.expand(3, 1, k, k).contiguous(), stride=2, padding=pad, output_padding=extra,
                            groups=3)
    if blur:
        b = torch.tensor([1.0, 2.0, 1.0])
        b = (b[:, None] * b[None, :]) / 16
        up = F.conv2d(F.pad(up, (1, 1, 1, 1), mode="reflect"), b.expand(3, 1, 3, 3).contiguous(), groups=3)
    return up.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def _make(kind: str, photos: list[np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray:
    if kind in ("up_nearest", "up_bilinear", "up_bicubic"):
        t = torch.from_numpy(_crops(photos, rng, n, 16)).permute(0, 3, 1, 2).float()
        mode = kind[3:]
        up = F.interpolate(t, scale_factor=2, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
        return up.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
    if kind == "up_hamming":
        return np.stack([np.asarray(Image.fromarray(c).resize((32, 32), Image.HAMMING))
                         for c in _crops(photos, rng, n, 16)])
    if kind == "up_bicubic_3to2":  # a non-integer ratio (21 -> 32 px): resampling phases repeat every 3 pixels
        return np.stack([np.asarray(Image.fromarray(c).resize((32, 32), Image.BICUBIC))
                         for c in _crops(photos, rng, n, 21)])
    if kind == "jpeg60":
        out = []
        for c in _crops(photos, rng, n, 32):
            buf = io.BytesIO()
            Image.fromarray(c).save(buf, format="JPEG", quality=60)
            out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        return np.stack(out)
    if kind == "up_tconv4":
        return _tconv(_crops(photos, rng, n, 16), 4, 7, blur=False)
    if kind == "up_tconv3_blur":
        return _tconv(_crops(photos, rng, n, 16), 3, 11, blur=True)
    raise ValueError(f"unknown pipeline {kind!r}")


def build(name: str, root: str | Path, per_source: int = 900, seed: int = 0) -> Path:
    """Write set ``name`` under ``root/<source>/<i>.png`` (``real`` first) and return ``root``."""
    rng = np.random.default_rng(seed)
    photos = _photos()
    root = Path(root)
    arrays = {"real": _crops(photos, rng, per_source, 32)}
    for kind in SETS[name]:
        arrays[kind] = _make(kind, photos, rng, per_source)
    for source, arr in arrays.items():
        (root / source).mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(arr):
            Image.fromarray(a).save(root / source / f"{i:05d}.png")
    return root
