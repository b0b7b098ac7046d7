"""DCGAN (Radford et al. 2016): the simple fifth family, also the quickest to train in tests.

Generator: z -> 4x4 (transposed conv) -> [4x4 stride-2 transposed conv, BN, ReLU] per octave -> tanh.
Discriminator: [4x4 stride-2 conv, BN (not on the first), leaky ReLU 0.2] down to 4x4 -> 4x4 conv -> logit.
Non-saturating BCE loss, Adam 2e-4, betas (0.5, 0.999). Imported by ``ganprint.gans.registry``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .family import GANFamily
from .ops import log2_int


def _dcgan_init(module: nn.Module) -> None:
    for m in module.modules():  # N(0, 0.02) weights, N(1, 0.02) BN scales, as in the DCGAN paper
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, latent_dim: int, ch: int, max_ch: int) -> None:
        super().__init__()
        n = log2_int(resolution) - 2  # octaves above 4x4
        widths = [min(ch * 2 ** (n - 1 - i), max_ch) for i in range(n)]  # 4x4 .. res/2
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, ch: int, max_ch: int) -> None:
        super().__init__()
        n = log2_int(resolution) - 2
        widths = [min(ch * 2**i, max_ch) for i in range(n)]
        layers: list[nn.Module] = []
        c_in = channels
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(c_in, w, 4, 2, 1, bias=False))
            if i:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = w
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class DCGAN(GANFamily):
    name = "dcgan"
    DEFAULTS = {
        "latent_dim": 100,
        "n_dis": 1,
        "arch": {"g_ch": 64, "d_ch": 64, "max_ch": 512},
        "optim": {"lr": 2e-4, "betas": [0.5, 0.999]},
        "loss": {},
    }

    def build(self, g_ch: int, d_ch: int, max_ch: int) -> tuple[nn.Module, nn.Module]:
        return (DCGANGenerator(self.resolution, self.channels, self.latent_dim, g_ch, max_ch),
                DCGANDiscriminator(self.resolution, self.channels, d_ch, max_ch))

    def critic_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        with torch.no_grad():
            fake = self.fake(real.shape[0], real.device)
        d_real, d_fake = self.critic(real), self.critic(fake)
        loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        return loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    def generator_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return F.softplus(-self.critic(self.fake(real.shape[0], real.device))).mean(), {}
