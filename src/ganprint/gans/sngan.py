"""SNGAN (Miyato et al. 2018) as configured in the paper's code (pfnet-research/sngan_projection).

ResNet generator (BN, nearest upsampling) and ResNet discriminator with spectral normalisation on every
layer, unconditional (n_classes=1, so no projection term); hinge loss; Adam 2e-4, betas (0, 0.9); n_dis=5;
linear learning-rate decay over the last 20% of iterations (120k..150k officially); dequantisation noise
U[0, 1/128) on the real images. Imported by ``ganprint.gans.registry``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .family import GANFamily
from .resnet import ResNetDiscriminator, ResNetGenerator


class SNGAN(GANFamily):
    name = "sngan"
    DEFAULTS = {
        "latent_dim": 128,
        "n_dis": 5,
        "dequantize": True,
        "arch": {"g_ch": 64, "d_ch": 64, "max_mult": 16},
        "optim": {"lr": 2e-4, "betas": [0.0, 0.9], "decay_start": 0.8},
        "loss": {},
    }

    def build(self, g_ch: int, d_ch: int, max_mult: int) -> tuple[nn.Module, nn.Module]:
        return (ResNetGenerator(self.resolution, self.channels, self.latent_dim, g_ch, max_mult),
                ResNetDiscriminator(self.resolution, self.channels, d_ch, out_dim=1, sn=True, max_mult=max_mult))

    def critic_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        with torch.no_grad():
            fake = self.fake(real.shape[0], real.device)
        d_real, d_fake = self.critic(real), self.critic(fake)
        loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        return loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    def generator_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return -self.critic(self.fake(real.shape[0], real.device)).mean(), {}
