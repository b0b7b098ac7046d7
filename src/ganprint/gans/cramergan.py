"""CramerGAN (Bellemare et al. 2017) as trained by the paper's code (the MMD-GAN repository, ``--model cramer``).

The critic h maps an image to ``dof_dim`` (256) features. With two independent fake batches G, G' and the
surrogate critic f(x) = ||h(x) - h(G')|| - ||h(x)||, the generator minimises the energy distance
E||h(G) - h(R)|| + E||h(G') - h(R)|| - E||h(G) - h(G')||, and the critic maximises f(R) - f(G) with a
gradient penalty (weight 10) on f at interpolates of real and fake images. Architecture ``g_resnet5``;
Adam lr 1e-4, betas (0.5, 0.9); every gradient tensor clipped to norm 1; dsteps 5; z ~ U(-1, 1).
Imported by ``ganprint.gans.registry``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .family import GANFamily
from .ops import gradient_penalty
from .resnet import DCGAN5Critic, MMDResNetGenerator

MMD_GAN_OPTIM = {"lr": 1e-4, "betas": [0.5, 0.9], "grad_clip": 1.0}


def safer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Row-wise L2 norm with an epsilon under the root, so its gradient exists at zero (MMD-GAN ``ops``)."""
    return torch.sqrt(x.pow(2).sum(dim=1) + eps)


class CramerGAN(GANFamily):
    name = "cramergan"
    DEFAULTS = {
        "latent_dim": 128,
        "latent_dist": "uniform",
        "n_dis": 5,
        "arch": {"g_ch": 64, "d_ch": 64, "dof_dim": 256, "max_mult": 16},
        "optim": dict(MMD_GAN_OPTIM),
        "loss": {"gp_weight": 10.0},
    }

    def build(self, g_ch: int, d_ch: int, dof_dim: int, max_mult: int) -> tuple[nn.Module, nn.Module]:
        return (MMDResNetGenerator(self.resolution, self.channels, self.latent_dim, g_ch, max_mult),
                DCGAN5Critic(self.resolution, self.channels, d_ch, dof_dim, max_mult))

    @staticmethod
    def surrogate(h_x: torch.Tensor, h_g2: torch.Tensor) -> torch.Tensor:
        """f(x) = ||h(x) - h(G')|| - ||h(x)||, one value per sample."""
        return safer_norm(h_x - h_g2) - safer_norm(h_x)

    def critic_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        n = real.shape[0]
        with torch.no_grad():
            fake, fake2 = self.fake(n, real.device), self.fake(n, real.device)
        h_real, h_fake, h_fake2 = self.critic(real), self.critic(fake), self.critic(fake2)
        # Official code: d_loss = -mean(critic(R, G) - critic(G', G)), the penalty on critic(x_hat, G).
        gap = (self.surrogate(h_real, h_fake) - self.surrogate(h_fake2, h_fake)).mean()
        gp = gradient_penalty(lambda x: self.surrogate(self.critic(x), h_fake), real, fake)
        loss = -gap + self.cfg["loss"]["gp_weight"] * gp
        return loss, {"gp": gp.detach(), "cramer_gap": gap.detach()}

    def generator_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        n = real.shape[0]
        h_g, h_g2 = self.critic(self.fake(n, real.device)), self.critic(self.fake(n, real.device))
        h_r = self.critic(real)
        loss = (safer_norm(h_g - h_r) + safer_norm(h_g2 - h_r) - safer_norm(h_g - h_g2)).mean()
        return loss, {}
