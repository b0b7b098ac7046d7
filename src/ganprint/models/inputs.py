"""The input check shared by the attribution networks (attNet, visNet)."""

from __future__ import annotations

import torch


def check_image_batch(x: torch.Tensor, channels: int, resolution: int, net: str) -> None:
    """Raise a ValueError naming the config keys when ``x`` is not ``[N, channels, resolution, resolution]``."""
    want = (channels, resolution, resolution)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(
            f"{net} was built for images [N, {want[0]}, {want[1]}, {want[2]}] but got {tuple(x.shape)}; make "
            "model.net.in_channels and model.net.resolution match the data (scale.channels, scale.resolution)."
        )
