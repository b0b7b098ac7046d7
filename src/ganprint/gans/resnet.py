"""ResNet generator and discriminator blocks shared by SNGAN, CramerGAN and MMDGAN.

SNGAN follows pfnet-research/sngan_projection (``ResNetGenerator``, ``SNResNetProjectionDiscriminator`` with
one class, i.e. unconditional); CramerGAN and MMDGAN use the MMD-GAN code's ``g_resnet5`` pair: a ResNet
generator whose last upsampling is a 5x5 transposed conv, and the 5x5 stride-2 ``DCGAN5Discriminator``.
Channel counts follow the official 128-pixel layouts and shrink with the resolution (one block per octave).
Imported by the family modules only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .ops import avg_pool2, log2_int, up_nearest


def _sn(module: nn.Module, use: bool) -> nn.Module:
    return spectral_norm(module) if use else module


def _glorot(module: nn.Module, gain: float) -> nn.Module:
    nn.init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class UpBlock(nn.Module):
    """BN-ReLU-up-conv3-BN-ReLU-conv3, shortcut up-conv1 (sngan_projection ``Block``; Gulrajani's 'up')."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.c1 = _glorot(nn.Conv2d(c_in, c_out, 3, padding=1), math.sqrt(2))
        self.c2 = _glorot(nn.Conv2d(c_out, c_out, 3, padding=1), math.sqrt(2))
        self.sc = _glorot(nn.Conv2d(c_in, c_out, 1), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = up_nearest(F.relu(self.bn1(x)))
        h = self.c2(F.relu(self.bn2(self.c1(h))))
        return h + self.sc(up_nearest(x))


class DownBlock(nn.Module):
    """ReLU-conv3-ReLU-conv3(-avgpool), shortcut conv1(-avgpool) (sngan_projection discriminator ``Block``)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, sn: bool) -> None:
        super().__init__()
        self.c1 = _sn(_glorot(nn.Conv2d(c_in, c_in, 3, padding=1), math.sqrt(2)), sn)
        self.c2 = _sn(_glorot(nn.Conv2d(c_in, c_out, 3, padding=1), math.sqrt(2)), sn)
        self.learnable_sc = c_in != c_out or downsample
        self.sc = _sn(_glorot(nn.Conv2d(c_in, c_out, 1), 1.0), sn) if self.learnable_sc else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(F.relu(x))))
        s = self.sc(x) if self.sc is not None else x
        if self.downsample:
            h, s = avg_pool2(h), avg_pool2(s)
        return h + s


class OptimizedBlock(nn.Module):
    """The discriminator's first block: conv3-ReLU-conv3-avgpool, shortcut avgpool-conv1 (no pre-activation)."""

    def __init__(self, c_in: int, c_out: int, sn: bool) -> None:
        super().__init__()
        self.c1 = _sn(_glorot(nn.Conv2d(c_in, c_out, 3, padding=1), math.sqrt(2)), sn)
        self.c2 = _sn(_glorot(nn.Conv2d(c_out, c_out, 3, padding=1), math.sqrt(2)), sn)
        self.sc = _sn(_glorot(nn.Conv2d(c_in, c_out, 1), 1.0), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = avg_pool2(self.c2(F.relu(self.c1(x))))
        return h + self.sc(avg_pool2(x))


class ResNetGenerator(nn.Module):
    """z -> linear -> 4x4 -> one up block per octave -> BN-ReLU -> conv3x3 -> tanh (sngan_projection).

    Block channels (as multiples of ``ch``) end at 1 and double towards the bottom, capped at ``max_mult``:
    at 128 px and ``ch=64`` this is the official 1024-1024-512-256-128-64.
    """

    def __init__(self, resolution: int, channels: int, latent_dim: int, ch: int, max_mult: int = 16) -> None:
        super().__init__()
        n = log2_int(resolution) - 2
        outs = [ch * min(2 ** (n - i), max_mult) for i in range(1, n + 1)]  # block outputs, bottom to top
        self.bottom = outs[0]
        self.l1 = _glorot(nn.Linear(latent_dim, 16 * self.bottom), 1.0)
        self.blocks = nn.Sequential(*[UpBlock(outs[i - 1] if i else self.bottom, outs[i]) for i in range(n)])
        c_top = outs[-1]
        self.bn = nn.BatchNorm2d(c_top)
        self.out = _glorot(nn.Conv2d(c_top, channels, 3, padding=1), 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.l1(z).view(z.shape[0], self.bottom, 4, 4))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class ResNetDiscriminator(nn.Module):
    """Optimized block, down blocks to 4x4, one block at 4x4, ReLU, spatial sum, linear (sngan_projection).

    ``out_dim`` 1 for a scalar critic; ``sn`` wraps every conv and the linear in spectral normalisation.
    """

    def __init__(self, resolution: int, channels: int, ch: int, out_dim: int = 1, sn: bool = True,
                 max_mult: int = 16) -> None:
        super().__init__()
        n = log2_int(resolution) - 2  # downsamplings to reach 4x4
        mults = [min(2**i, max_mult) for i in range(n)]
        blocks: list[nn.Module] = [OptimizedBlock(channels, ch * mults[0], sn)]
        blocks += [DownBlock(ch * mults[i - 1], ch * mults[i], True, sn) for i in range(1, n)]
        blocks += [DownBlock(ch * mults[-1], ch * mults[-1], False, sn)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = _sn(_glorot(nn.Linear(ch * mults[-1], out_dim), 1.0), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h)


class MMDResNetGenerator(nn.Module):
    """MMD-GAN ``ResNetGenerator``: linear -> 4x4, up blocks to res/2, BN-ReLU, 5x5 stride-2 deconv, out-act.

    At 128 px and ``ch=64``: 1024 -> 512 -> 256 -> 128 -> 64 channels, as ``g_resnet5``. The official output
    is a sigmoid on [0, 1] data; ganprint's data are in [-1, 1], so the same layer ends in tanh.
    """

    def __init__(self, resolution: int, channels: int, latent_dim: int, ch: int, max_mult: int = 16) -> None:
        super().__init__()
        n = log2_int(resolution) - 3  # residual up blocks; the deconv does the last octave
        mults = [min(2 ** (n - i), max_mult) for i in range(n + 1)]
        self.bottom = ch * mults[0]
        self.l1 = _glorot(nn.Linear(latent_dim, 16 * self.bottom), 1.0)
        self.blocks = nn.Sequential(*[UpBlock(ch * mults[i - 1], ch * mults[i]) for i in range(1, n + 1)])
        self.bn = nn.BatchNorm2d(ch * mults[-1])
        self.deconv = _glorot(nn.ConvTranspose2d(ch * mults[-1], channels, 5, stride=2, padding=2,
                                                 output_padding=1), 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.l1(z).view(z.shape[0], self.bottom, 4, 4))
        return torch.tanh(self.deconv(F.relu(self.bn(h))))


class DCGAN5Critic(nn.Module):
    """MMD-GAN ``DCGAN5Discriminator`` without batch norm (it is off whenever a gradient penalty is used):
    5x5 stride-2 convs with leaky ReLU 0.2 down to 4x4 (channels ch, 2ch, 4ch, ...), then a linear map to
    ``out_dim`` features. ``forward`` returns every layer, because MMDGAN's L2 penalty covers all of them."""

    def __init__(self, resolution: int, channels: int, ch: int, out_dim: int, max_mult: int = 16) -> None:
        super().__init__()
        n = log2_int(resolution) - 2
        widths = [ch * min(2**i, max_mult) for i in range(n)]
        convs, c_in = [], channels
        for w in widths:
            convs.append(nn.Conv2d(c_in, w, 5, stride=2, padding=2))
            c_in = w
        self.convs = nn.ModuleList(convs)
        self.linear = nn.Linear(c_in * 16, out_dim)
        for m in [*self.convs, self.linear]:  # TF ops: truncated normal std 0.02, zero bias
            nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
            nn.init.zeros_(m.bias)

    def layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            out.append(x)
        out.append(self.linear(x.flatten(1)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)[-1]
