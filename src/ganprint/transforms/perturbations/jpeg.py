"""JPEG compression (Yu et al. Table 7 "JPEG": quality ~ U[10, 75]): a real libjpeg encode + decode.

Imported by the registry and by ``combo``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ganprint.transforms.perturbations.base import Perturbation, parse_range

__all__ = ["JpegCompression"]


class JpegCompression(Perturbation):
    """Encode to JPEG at ``quality`` and decode back to uint8 of the same shape.

    ``quality``: the libjpeg/IJG quality factor (1-100), an int (fixed) or ``[lo, hi]`` (an integer drawn
    uniformly from lo..hi, both included); paper default ``[10, 75]``. The quantisation tables are the IJG
    standard tables scaled by ``jpeg_quality_scaling(quality)``; RGB is converted to YCbCr with 4:2:0 chroma
    subsampling, greyscale is encoded as one channel. Baseline, no optimisation; nothing random but the quality.
    """

    name = "jpeg"

    def __init__(self, quality: int | list[int] = (10, 75)) -> None:
        self.quality = parse_range(quality, name="jpeg quality", bounds=(1, 100), integer=True,
                                   where="conf/perturb/jpeg.yaml (quality)")

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"quality": self.quality.sample(rng)}

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        return self.decode(self.encode(image, params["quality"]), image.shape[2])

    @staticmethod
    def encode(image: np.ndarray, quality: int) -> bytes:
        """JPEG bytes of a uint8 ``[H, W, C]`` image (C = 1 or 3) at ``quality``.

        PIL rather than albumentations' ImageCompression: the latter hands an RGB array to ``cv2.imencode``,
        which reads it as BGR, so red and blue swap roles in the YCbCr conversion and in chroma subsampling.
        For greyscale the two are byte-identical (same libjpeg, same tables).
        """
        pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
        buf = io.BytesIO()
        # subsampling pinned so a Pillow default change cannot silently change the attack.
        kwargs = {"subsampling": "4:2:0"} if image.shape[2] == 3 else {}
        pil.save(buf, format="JPEG", quality=int(quality), optimize=False, progressive=False, **kwargs)
        return buf.getvalue()

    @staticmethod
    def decode(data: bytes, channels: int) -> np.ndarray:
        """uint8 ``[H, W, channels]`` from JPEG bytes."""
        with Image.open(io.BytesIO(data)) as pil:
            arr = np.asarray(pil.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
        return arr[..., None] if channels == 1 else arr.copy()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "quality": self.quality.to_config()}
