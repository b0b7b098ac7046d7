"""ProGAN (Karras et al. 2018) as configured in the paper's code (``ProGAN/networks.py`` G_paper/D_paper).

Progressive growing: training starts at ``arch.start_resolution`` and doubles it phase by phase, each new
octave faded in linearly (alpha 0 -> 1) over ``schedule.lod_transition_kimg`` thousand real images after
``schedule.lod_training_kimg`` at the previous one (the official ``TrainingSchedule`` arithmetic). Pixel norm,
equalized learning rate, minibatch standard deviation in the critic, WGAN-GP loss (lambda 10) with drift
0.001, Adam lr 1e-3 (below 128 px; 1.5e-3 at 128), betas (0, 0.99), eps 1e-8, and an exponential moving
average of the generator (``ema_beta``, official 0.999) that is the one sampled. Widths follow
``nf(stage) = min(fmap_base / 2^stage, fmap_max)`` (official 8192 / 512). Imported by ``ganprint.gans.registry``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganprint.errors import ConfigError
from ganprint.nn.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm

from .family import GANFamily
from .ops import avg_pool2, down_avg, gradient_penalty, log2_int, up_nearest


def lod_at(kimg: float, resolution_log2: int, start_log2: int, training_kimg: float,
           transition_kimg: float) -> float:
    """Level of detail after ``kimg`` thousand real images (0 = full resolution), as ProGAN's schedule."""
    lod = float(resolution_log2 - start_log2)
    phase_dur = training_kimg + transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod -= phase_idx
    if transition_kimg > 0:
        lod -= max(phase_kimg - training_kimg, 0.0) / transition_kimg
    return max(lod, 0.0)


def split_level(level: float) -> tuple[int, float]:
    """``(top, alpha)``: the highest active octave and the fade-in weight of its output (1 when stable)."""
    top = int(math.ceil(level - 1e-9))
    alpha = 1.0 - (top - level)
    return top, min(max(alpha, 0.0), 1.0)


def _lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


class _Grown(nn.Module):
    """Holds the current level of detail as a buffer, so checkpoints and EMA copies carry it."""

    def __init__(self, resolution_log2: int, start_log2: int) -> None:
        super().__init__()
        self.res_log2, self.start_log2 = resolution_log2, start_log2
        self.register_buffer("level", torch.tensor(float(start_log2)))

    def set_level(self, level: float) -> None:
        self.level.fill_(min(max(level, self.start_log2), self.res_log2))


class ProGANGenerator(_Grown):
    def __init__(self, resolution: int, channels: int, latent_dim: int, nf, start_log2: int) -> None:
        super().__init__(log2_int(resolution), start_log2)
        conv = lambda i, o: EqualizedConv2d(i, o, 3, padding_mode="zeros")  # noqa: E731
        self.pn = PixelNorm()
        self.dense = EqualizedLinear(latent_dim, nf(1) * 16, gain=math.sqrt(2) / 4)
        self.conv4 = conv(nf(1), nf(1))
        self.blocks = nn.ModuleDict({
            str(r): nn.ModuleList([conv(nf(r - 2), nf(r - 1)), conv(nf(r - 1), nf(r - 1))])
            for r in range(3, self.res_log2 + 1)
        })
        self.to_rgb = nn.ModuleDict({str(r): EqualizedConv2d(nf(r - 1), channels, 1, gain=1.0)
                                     for r in range(2, self.res_log2 + 1)})

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return self.pn(F.leaky_relu(x, 0.2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        top, alpha = split_level(float(self.level))
        x = self.pn(z)
        x = self._act(self.dense(x).view(z.shape[0], -1, 4, 4))
        x = self._act(self.conv4(x))
        prev = x
        for r in range(3, top + 1):
            prev = x
            c1, c2 = self.blocks[str(r)]
            x = self._act(c2(self._act(c1(up_nearest(x, 2)))))
        out = self.to_rgb[str(top)](x)
        if top > 2 and alpha < 1.0:
            out = _lerp(up_nearest(self.to_rgb[str(top - 1)](prev), 2), out, alpha)
        return up_nearest(out, 2 ** (self.res_log2 - top))


class ProGANCritic(_Grown):
    def __init__(self, resolution: int, channels: int, nf, start_log2: int, mbstd_group_size: int) -> None:
        super().__init__(log2_int(resolution), start_log2)
        conv = lambda i, o: EqualizedConv2d(i, o, 3, padding_mode="zeros")  # noqa: E731
        self.from_rgb = nn.ModuleDict({str(r): EqualizedConv2d(channels, nf(r - 1), 1)
                                       for r in range(2, self.res_log2 + 1)})
        self.blocks = nn.ModuleDict({
            str(r): nn.ModuleList([conv(nf(r - 1), nf(r - 1)), conv(nf(r - 1), nf(r - 2))])
            for r in range(3, self.res_log2 + 1)
        })
        self.mbstd = MinibatchStdDev(mbstd_group_size) if mbstd_group_size > 1 else None
        self.conv4 = conv(nf(1) + (1 if self.mbstd else 0), nf(1))
        self.dense0 = EqualizedLinear(nf(1) * 16, nf(0))
        self.dense1 = EqualizedLinear(nf(0), 1, gain=1.0)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        top, alpha = split_level(float(self.level))
        img = down_avg(img, 2 ** (self.res_log2 - top))
        x = act(self.from_rgb[str(top)](img))
        for r in range(top, 2, -1):
            c1, c2 = self.blocks[str(r)]
            x = avg_pool2(act(c2(act(c1(x)))))
            if r == top and alpha < 1.0:
                x = _lerp(act(self.from_rgb[str(top - 1)](avg_pool2(img))), x, alpha)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = act(self.conv4(x))
        x = act(self.dense0(x.flatten(1)))
        return self.dense1(x)


class ProGAN(GANFamily):
    name = "progan"
    DEFAULTS = {
        "latent_dim": 512,
        "n_dis": 1,
        "ema_beta": 0.999,
        "arch": {"fmap_base": 8192, "fmap_max": 512, "fmap_decay": 1.0, "start_resolution": 4,
                 "mbstd_group_size": 4},
        "optim": {"lr": 1e-3, "betas": [0.0, 0.99], "eps": 1e-8},
        "loss": {"gp_weight": 10.0, "drift": 0.001},
        "schedule": {"lod_training_kimg": 600.0, "lod_transition_kimg": 600.0},
    }

    def build(self, fmap_base: int, fmap_max: int, fmap_decay: float, start_resolution: int,
              mbstd_group_size: int) -> tuple[nn.Module, nn.Module]:
        def nf(stage: int) -> int:
            return min(int(fmap_base / 2.0 ** (stage * fmap_decay)), fmap_max)

        if start_resolution not in [2**r for r in range(2, log2_int(self.resolution) + 1)]:
            raise ConfigError(f"arch.start_resolution={start_resolution} must be a power of two between 4 and "
                             f"the resolution {self.resolution}; fix it in conf/gan/progan.yaml.")
        start = log2_int(start_resolution)
        return (ProGANGenerator(self.resolution, self.channels, self.latent_dim, nf, start),
                ProGANCritic(self.resolution, self.channels, nf, start, mbstd_group_size))

    def level_at(self, images_seen: int) -> float:
        s = self.cfg["schedule"]
        lod = lod_at(images_seen / 1000.0, self.generator.res_log2, self.generator.start_log2,
                     float(s["lod_training_kimg"]), float(s["lod_transition_kimg"]))
        return self.generator.res_log2 - lod

    def set_progress(self, images_seen: int) -> dict[str, float]:
        level = self.level_at(images_seen)
        self.generator.set_level(level)
        self.critic.set_level(level)
        top, alpha = split_level(level)
        return {"level": level, "alpha": alpha, "resolution": float(2**top)}

    def preprocess_real(self, real: torch.Tensor) -> torch.Tensor:
        """Reals at the current level of detail: downscaled, cross-faded with their 2x blur, upscaled back."""
        real = super().preprocess_real(real)
        lod = self.generator.res_log2 - float(self.critic.level)
        if lod <= 0:
            return real
        factor = 2 ** int(math.floor(lod))
        x = down_avg(real, factor)
        x = _lerp(x, up_nearest(avg_pool2(x), 2), lod - math.floor(lod))
        return up_nearest(x, factor)

    def critic_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        with torch.no_grad():
            fake = self.fake(real.shape[0], real.device)
        d_real, d_fake = self.critic(real), self.critic(fake)
        gp = gradient_penalty(self.critic, real, fake)
        c = self.cfg["loss"]
        drift = d_real.pow(2).mean()
        loss = d_fake.mean() - d_real.mean() + c["gp_weight"] * gp + c["drift"] * drift
        return loss, {"gp": gp.detach(), "wdist": (d_real.mean() - d_fake.mean()).detach()}

    def generator_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return -self.critic(self.fake(real.shape[0], real.device)).mean(), {}
