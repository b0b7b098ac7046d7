"""attNet: the paper's attribution network and its frequency and patch variants (Yu et al. 2019, Fig. 2).

A PyTorch port of the official ``classifier/networks.py:C_patch``: per resolution two equalized-lr 3x3 convs with
reflect padding and leaky ReLU 0.2, then 2x2 average pooling, down to 4x4; a 3x3 conv, flatten, Dense1 (the
*image fingerprint*) and Dense2 with gain 1 (the logits; its weight rows are the *model fingerprints*). Channels
follow the absolute resolution: a block at 2^R x 2^R has nf(R-1) then nf(R-2) maps, nf(s) = min(fmap_base / 2^s,
fmap_max), so a 32x32 block is as wide at every input resolution.

``mode`` picks the Fig. 2 network:

- ``full``: (a) the attribution network.
- ``predownsample``: (b) the input is low-passed with the binomial pyramid to ``switching_res`` x ``switching_res``
  before any convolution (the low band of Table 4); blocks run from there down to 4x4.
- ``residual``: (c) the input is the band residual between 2·``switching_res`` and ``switching_res``
  (``transforms.filters.band_residual``, a 2r x 2r image); blocks run from 2r.
- ``postpool``: (d) learned convs only at resolutions above ``switching_res``, plain average pooling below, so the
  learned features see small patches (Table 5); ``receptive_field()`` gives their size in input pixels.

Input: float images in [-1, 1], [N, in_channels, resolution, resolution]. Takes tensors only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ganprint.models.attnet_layout import AttNetLayout, attnet_layout
from ganprint.models.inputs import check_image_batch
from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear
from ganprint.nn.norm import NORMS, normalization
from ganprint.nn.resample import AvgPool2
from ganprint.transforms.filters import band_residual, pyramid_down

MODES = ("full", "predownsample", "residual", "postpool")
_TARGET = "ganprint.models.attnet.AttNet"


def _is_pow2(v: int) -> bool:
    return v >= 1 and not v & (v - 1)


class _LowPass(nn.Module):
    """Gaussian-pyramid low-pass by a fixed number of levels (no parameters)."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pyramid_down(x, self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}"


class _BandResidual(nn.Module):
    """The band between resolutions 2r and r, at 2r x 2r (no parameters)."""

    def __init__(self, r: int) -> None:
        super().__init__()
        self.r = r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return band_residual(x, self.r)

    def extra_repr(self) -> str:
        return f"r={self.r}"


class AttNet(nn.Module):
    """The attribution network (official ``C_patch``) with the paper's pre-downsampling, residual and post-pooling
    variants; see the module docstring. With the defaults at 128x128 RGB and 5 classes it has 8,913,797
    parameters, as the official network."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        resolution: int = 128,
        fmap_base: int = 1024,
        fmap_max: int = 512,
        fingerprint_dim: int = 512,
        mode: str = "full",
        switching_res: int = 4,
        norm: str = "none",
    ) -> None:
        super().__init__()
        num_classes, in_channels, resolution = int(num_classes), int(in_channels), int(resolution)
        fmap_base, fmap_max, fingerprint_dim = int(fmap_base), int(fmap_max), int(fingerprint_dim)
        mode, switching_res, norm = str(mode), int(switching_res), str(norm)
        _validate(num_classes, in_channels, resolution, fmap_base, fmap_max, fingerprint_dim, mode, switching_res,
                  norm)
        self._kwargs: dict[str, Any] = {
            "num_classes": num_classes, "in_channels": in_channels, "resolution": resolution,
            "fmap_base": fmap_base, "fmap_max": fmap_max, "fingerprint_dim": fingerprint_dim,
            "mode": mode, "switching_res": switching_res, "norm": norm,
        }
        self.num_classes, self.in_channels, self.resolution = num_classes, in_channels, resolution
        self.fingerprint_dim, self.mode, self.switching_res = fingerprint_dim, mode, switching_res
        self.norm = norm

        layout = attnet_layout(resolution, mode, switching_res)
        self._field = layout.output_field
        # Module creation order is the order parameters draw their initial values: keep it (seeded runs).
        self.preprocess = _preprocess(layout, switching_res)
        self.local, ch = _trunk(layout.blocks, in_channels, fmap_base, fmap_max, norm)
        # One k x k average pool equals repeated 2x2 pools exactly.
        k = layout.last // 4
        self.pool = AvgPool2() if k == 2 else nn.AvgPool2d(k) if k > 1 else nn.Identity()
        width = _nf(1, fmap_base, fmap_max)
        self.head = nn.Sequential(EqualizedConv2d(ch, width, 3), normalization(norm, width), nn.LeakyReLU(0.2),
                                  nn.Flatten())
        self.dense1 = EqualizedLinear(width * 16, fingerprint_dim)
        self.act = nn.LeakyReLU(0.2)
        self.dense2 = EqualizedLinear(fingerprint_dim, num_classes, gain=1.0)

    # -- forward passes -----------------------------------------------------------------------------
    def local_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last learned local feature map (after the last trunk conv, before any pooling that follows).

        One position of it depends on ``receptive_field()`` x ``receptive_field()`` input pixels. Where the
        trunk has no convolution (postpool at s = resolution, predownsample to 4x4) it is the (filtered) input.
        """
        self._check_input(x)
        return self.local(self.preprocess(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Image fingerprints [N, fingerprint_dim]: the Dense1 activations before the last layer."""
        return self.act(self.dense1(self.head(self.pool(self.local_features(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes] for images in [-1, 1]."""
        return self.dense2(self.features(x))

    @property
    def model_fingerprints(self) -> torch.Tensor:
        """Model fingerprints [num_classes, fingerprint_dim]: Dense2's effective (scaled) weight rows, detached."""
        return self.dense2.effective_weight.detach()

    # -- description --------------------------------------------------------------------------------
    def receptive_field(self) -> int:
        """Side in input pixels of the square one position of ``local_features`` depends on.

        This is the learned receptive field: the 4x4 head conv and the dense layers see the whole image by
        design and are left out. At 128x128, postpool with s = 64, 32, 16, 8, 4 gives 5, 14, 32, 68, 140; at
        s = resolution there are no learned local features and the answer is 1. For predownsample and
        residual it includes the pyramid filters (the maximum over positions, ignoring borders).
        """
        return self._field.size

    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this network: ``{'_target_': ..., **constructor kwargs}``."""
        return {"_target_": _TARGET, **self._kwargs}

    def extra_repr(self) -> str:
        return f"mode={self.mode}, switching_res={self.switching_res}, receptive_field={self.receptive_field()}"

    def _check_input(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.in_channels, self.resolution, "AttNet")


def _nf(stage: int, fmap_base: int, fmap_max: int) -> int:
    """Channels of a stage: a block at 2^R x 2^R has nf(R-1) then nf(R-2) maps."""
    return min(int(fmap_base / 2.0**stage), fmap_max)


def _preprocess(layout: AttNetLayout, switching_res: int) -> nn.Module:
    """The fixed filter before the first convolution."""
    if layout.preprocess == "lowpass":
        return _LowPass(layout.lowpass_levels)
    if layout.preprocess == "band_residual":
        return _BandResidual(switching_res)
    return nn.Identity()


def _trunk(blocks: tuple[int, ...], in_channels: int, fmap_base: int, fmap_max: int,
           norm: str) -> tuple[nn.Sequential, int]:
    """The learned blocks (``conv{r}_{0,1}``, ``norm{r}_{0,1}`` with batch norm, ``act{r}_{0,1}``, a 2x2 pool
    ``pool{2r}`` between blocks) and the channel count they end with. The names are checkpoint keys."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    ch = in_channels
    for i, r in enumerate(blocks):
        if i:
            layers[f"pool{2 * r}"] = AvgPool2()
        stage = r.bit_length() - 1
        for j in (0, 1):
            width = _nf(stage - 1 - j, fmap_base, fmap_max)
            layers[f"conv{r}_{j}"] = EqualizedConv2d(ch, width, 3)
            if norm != "none":
                layers[f"norm{r}_{j}"] = normalization(norm, width)
            layers[f"act{r}_{j}"] = nn.LeakyReLU(0.2)
            ch = width
    return nn.Sequential(layers), ch


def _validate(num_classes: int, in_channels: int, resolution: int, fmap_base: int, fmap_max: int,
              fingerprint_dim: int, mode: str, switching_res: int, norm: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown attNet mode {mode!r}; set model.net.mode (or variant=none|predownsample|"
                         f"residual|postpool) to one of {', '.join(MODES)}.")
    if resolution < 4 or not _is_pow2(resolution):
        raise ValueError(f"attNet needs a power-of-two input resolution of at least 4, got {resolution}; "
                         "set model.net.resolution (scale.resolution).")
    if not _is_pow2(switching_res) or not 4 <= switching_res <= resolution:
        raise ValueError(f"model.net.switching_res must be a power of two from 4 to the resolution {resolution}, "
                         f"got {switching_res}; set model.net.switching_res.")
    if mode == "residual" and 2 * switching_res > resolution:
        raise ValueError(f"the residual variant takes the band between 2r and r, so model.net.switching_res must be "
                         f"at most {resolution // 2} at resolution {resolution}, got {switching_res}.")
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels), ("fmap_base", fmap_base),
                       ("fmap_max", fmap_max), ("fingerprint_dim", fingerprint_dim)):
        if value < 1:
            raise ValueError(f"model.net.{key} must be a positive integer, got {value}.")
    if fmap_base < resolution // 2:
        raise ValueError(f"model.net.fmap_base {fmap_base} leaves the {resolution}x{resolution} block without "
                         f"channels; set it (scale.fmap_base) to at least {resolution // 2}.")
    if norm not in NORMS:
        raise ValueError(f"unknown attNet norm {norm!r}; set model.net.norm (scale.attnet.norm) to one of "
                         f"{', '.join(NORMS)}.")
