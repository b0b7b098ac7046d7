"""visNet: the paper's fingerprint visualization network (Yu et al. 2019, Sec. 3.2) and its reconstruction critic.

A PyTorch port of the official ``classifier_visNet/networks.py``:

- ``VisNet`` (the official ``EG``): an encoder-decoder R. The encoder is the attNet trunk (per resolution two
  equalized-lr 3x3 reflect-padded convs with leaky ReLU 0.2, 2x2 average pooling) down to 4x4, then two 3x3
  convs at 4x4 (the latent). The decoder mirrors it with nearest-neighbour upsampling and ends in a 3x3 toRGB
  conv with tanh. The *image fingerprint* is ``I - R(I)``; each source has a learnable *model fingerprint* of
  image size, and the logit for a source is the correlation of the two (``correlation`` below).
- ``ReconstructionCritic`` (the official ``D_rec``/``D_patch``): the same trunk to 4x4, minibatch stddev, a 3x3
  conv and two dense layers to one WGAN score; it judges reconstructions against the inputs.

Widths follow the absolute resolution like attNet: a block at 2^R x 2^R has nf(R-1) then nf(R-2) maps in the
encoder and nf(R-1) maps in the decoder, nf(s) = min(fmap_base / 2^s, fmap_max). At 128x128 RGB with the official
widths (fmap_base 1024, fmap_max 512) the encoder has 7,076,224 and the decoder 7,078,035 parameters, as the
official network.

``norm``: ``none`` (the official network) or ``batch``: batch norm after every convolution of the encoder and the
decoder except the last (``toRGB``), as attNet's ``norm``; a scale adds it so that a CPU-sized step budget converges
(conf/scale/cpu.yaml, docs/cpu-recipe.md). The critic never takes it (its gradient penalty is per sample).

``correlation``:

- ``inner`` (the official code, the default): the plain inner product scaled by 1/sqrt(C*H*W) (the equalized-lr
  gain of the official H x W "valid" convolution); unbounded logits.
- ``normalized`` (the paper's formula): both fingerprints are made zero-mean and unit-norm, so a logit is a
  correlation coefficient in [-1, 1], unchanged when either fingerprint is scaled or shifted. A softmax over such
  logits is capped (at most e/(e + (N-1)/e), 0.65 for five sources), so its probabilities are not confidences.

Input: float images in [-1, 1], [N, in_channels, resolution, resolution]. Takes tensors only.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ganprint.models.inputs import check_image_batch
from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from ganprint.nn.norm import NORMS, normalization
from ganprint.nn.resample import AvgPool2, Up2

CORRELATIONS = ("normalized", "inner")
FINGERPRINT_INITS = ("zeros", "normal")
_TARGET = "ganprint.models.visnet.VisNet"


def _nf(fmap_base: int, fmap_max: int):
    def nf(stage: int) -> int:
        return max(1, min(int(fmap_base / 2.0**stage), fmap_max))

    return nf


def _conv(layers: OrderedDict[str, nn.Module], tag: str, cin: int, cout: int, norm: str) -> None:
    """3x3 conv, optional norm, leaky ReLU 0.2, under the names ``conv{tag}``, ``norm{tag}``, ``act{tag}`` (the
    norm's key only when there is one, so the official layout's checkpoint keys stay as they are)."""
    layers[f"conv{tag}"] = EqualizedConv2d(cin, cout, 3)
    if norm != "none":
        layers[f"norm{tag}"] = normalization(norm, cout)
    layers[f"act{tag}"] = nn.LeakyReLU(0.2)


def encoder_trunk(in_channels: int, resolution: int, nf, norm: str = "none") -> tuple[nn.Sequential, int]:
    """The attNet trunk (``AttNet(mode='full').local``) followed by the last 2x2 pool: ``[N, C, R, R]`` to
    ``[N, ch, 4, 4]``. Returns the layers and ``ch``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    ch = in_channels
    r = resolution
    while r >= 8:
        stage = r.bit_length() - 1
        _conv(layers, f"{r}_0", ch, nf(stage - 1), norm)
        _conv(layers, f"{r}_1", nf(stage - 1), nf(stage - 2), norm)
        layers[f"pool{r}"] = AvgPool2()
        ch = nf(stage - 2)
        r //= 2
    return nn.Sequential(layers), ch


def _conv_block(cin: int, cout: int, tag: str, norm: str) -> OrderedDict[str, nn.Module]:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    _conv(layers, f"{tag}_0", cin, cout, norm)
    _conv(layers, f"{tag}_1", cout, cout, norm)
    return layers


class VisNet(nn.Module):
    """The fingerprint visualization network (official ``EG``); see the module docstring.

    ``forward(x)`` gives logits ``[N, num_classes]``; ``image_fingerprint(x)`` the residuals ``I - R(I)``;
    ``model_fingerprints`` the learned per-source fingerprints ``[num_classes, C, H, W]``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        resolution: int = 128,
        fmap_base: int = 1024,
        fmap_max: int = 512,
        correlation: str = "inner",
        fingerprint_init: str = "zeros",
        norm: str = "none",
    ) -> None:
        super().__init__()
        num_classes, in_channels, resolution = int(num_classes), int(in_channels), int(resolution)
        fmap_base, fmap_max, correlation = int(fmap_base), int(fmap_max), str(correlation)
        fingerprint_init, norm = str(fingerprint_init), str(norm)
        _validate(num_classes, in_channels, resolution, fmap_base, fmap_max, correlation, fingerprint_init, norm)
        self._kwargs: dict[str, Any] = {
            "num_classes": num_classes, "in_channels": in_channels, "resolution": resolution,
            "fmap_base": fmap_base, "fmap_max": fmap_max, "correlation": correlation,
            "fingerprint_init": fingerprint_init, "norm": norm,
        }
        self.num_classes, self.in_channels, self.resolution = num_classes, in_channels, resolution
        self.correlation = correlation
        nf = _nf(fmap_base, fmap_max)

        trunk, ch = encoder_trunk(in_channels, resolution, nf, norm)
        self.encoder = nn.Sequential(OrderedDict([*trunk.named_children(),
                                                  *_conv_block(ch, nf(1), "4", norm).items()]))

        dec: OrderedDict[str, nn.Module] = _conv_block(nf(1), nf(1), "4", norm)
        ch = nf(1)
        r = 8
        while r <= resolution:
            stage = r.bit_length() - 1
            dec[f"up{r}"] = Up2()
            dec.update(_conv_block(ch, nf(stage - 1), str(r), norm))
            ch = nf(stage - 1)
            r *= 2
        dec["to_image"] = EqualizedConv2d(ch, in_channels, 3, gain=1.0)
        dec["tanh"] = nn.Tanh()
        self.decoder = nn.Sequential(dec)

        # Stored at unit scale as every equalized-lr weight (the inner-product logit applies the run-time scale).
        # The official code draws them ~N(0, 1) ("normal"); from zero, a fingerprint holds only what training put
        # there, so short runs attribute sooner and the pictures carry no leftover initial noise.
        shape = (num_classes, in_channels, resolution, resolution)
        init = torch.zeros(shape) if fingerprint_init == "zeros" else torch.randn(shape)
        self.fingerprints = nn.Parameter(init)
        self.inner_scale = 1.0 / math.sqrt(in_channels * resolution * resolution)

    # -- forward passes -----------------------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """R(I): the reconstruction in [-1, 1], same shape as ``x``."""
        self._check_input(x)
        return self.decoder(self.encoder(x))

    def image_fingerprint(self, x: torch.Tensor) -> torch.Tensor:
        """The image fingerprint ``I - R(I)`` [N, C, H, W] (values in [-2, 2])."""
        return x - self.reconstruct(x)

    def correlate(self, image_fingerprints: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes]: the correlation of each image fingerprint with each model fingerprint."""
        f = image_fingerprints.flatten(1)
        w = self.fingerprints.flatten(1)
        if self.correlation == "normalized":
            return _unit(f) @ _unit(w).T
        return (f @ w.T) * self.inner_scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Image fingerprints flattened to [N, C*H*W] (what the FD ratio and t-SNE analyses read)."""
        return self.image_fingerprint(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes] for images in [-1, 1]."""
        return self.correlate(self.image_fingerprint(x))

    @property
    def model_fingerprints(self) -> torch.Tensor:
        """Model fingerprints [num_classes, C, H, W] as stored (unit-variance scale, as the official code exports
        them), detached."""
        return self.fingerprints.detach()

    # -- description --------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this network: ``{'_target_': ..., **constructor kwargs}``."""
        return {"_target_": _TARGET, **self._kwargs}

    def parameter_groups(self) -> dict[str, int]:
        """Parameter counts of the encoder, the decoder and the model fingerprints."""
        return {"encoder": _count(self.encoder), "decoder": _count(self.decoder),
                "fingerprints": self.fingerprints.numel()}

    def extra_repr(self) -> str:
        return f"correlation={self.correlation}, norm={self._kwargs['norm']}"

    def _check_input(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.in_channels, self.resolution, "VisNet")


class ReconstructionCritic(nn.Module):
    """WGAN critic of reconstructions (official ``D_rec``): attNet trunk to 4x4, minibatch stddev, 3x3 conv,
    dense nf(0), dense 1. 8,916,353 parameters at 128x128 RGB with the official widths."""

    def __init__(self, in_channels: int = 3, resolution: int = 128, fmap_base: int = 1024, fmap_max: int = 512,
                 mbstd_group_size: int = 4) -> None:
        super().__init__()
        nf = _nf(int(fmap_base), int(fmap_max))
        trunk, ch = encoder_trunk(int(in_channels), int(resolution), nf)
        mbstd = [MinibatchStdDev(int(mbstd_group_size))] if mbstd_group_size > 1 else []
        self.net = nn.Sequential(
            *trunk, *mbstd, EqualizedConv2d(ch + len(mbstd), nf(1), 3), nn.LeakyReLU(0.2), nn.Flatten(),
            EqualizedLinear(nf(1) * 16, nf(0)), nn.LeakyReLU(0.2), EqualizedLinear(nf(0), 1, gain=1.0),
        )

    @classmethod
    def matching(cls, net: VisNet, mbstd_group_size: int = 4) -> ReconstructionCritic:
        """The critic for ``net``'s images, with its widths (as the official ``D_rec`` shares ``EG``'s)."""
        s = net.spec()
        return cls(s["in_channels"], s["resolution"], s["fmap_base"], s["fmap_max"], mbstd_group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """WGAN scores [N]."""
        return self.net(x).squeeze(1)


def _unit(v: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    v = v - v.mean(dim=1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(eps)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _validate(num_classes: int, in_channels: int, resolution: int, fmap_base: int, fmap_max: int,
              correlation: str, fingerprint_init: str, norm: str) -> None:
    if correlation not in CORRELATIONS:
        raise ValueError(f"unknown visNet correlation {correlation!r}; set model.net.correlation to one of "
                         f"{', '.join(CORRELATIONS)}.")
    if fingerprint_init not in FINGERPRINT_INITS:
        raise ValueError(f"unknown visNet fingerprint_init {fingerprint_init!r}; set model.net.fingerprint_init to "
                         f"one of {', '.join(FINGERPRINT_INITS)}.")
    if norm not in NORMS:
        raise ValueError(f"unknown visNet norm {norm!r}; set model.net.norm (scale.visnet.norm) to one of "
                         f"{', '.join(NORMS)}.")
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"visNet needs a power-of-two input resolution of at least 8, got {resolution}; "
                         "set model.net.resolution (scale.resolution).")
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels), ("fmap_base", fmap_base),
                       ("fmap_max", fmap_max)):
        if value < 1:
            raise ValueError(f"model.net.{key} must be a positive integer, got {value}.")
    if fmap_base < resolution // 2:
        raise ValueError(f"model.net.fmap_base {fmap_base} leaves the {resolution}x{resolution} block without "
                         f"channels; set it (scale.fmap_base) to at least {resolution // 2}.")


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP term per sample, ``(||grad D(x_hat)||_2 - 1)^2`` at ``x_hat = real + u (fake - real)``,
    u ~ U[0, 1] per sample (Gulrajani et al. 2017; the official ProGAN loss)."""
    u = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (real + u * (fake - real)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2)


__all__ = ["CORRELATIONS", "FINGERPRINT_INITS", "ReconstructionCritic", "VisNet", "encoder_trunk", "gradient_penalty"]
