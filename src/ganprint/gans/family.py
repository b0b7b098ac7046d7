"""The GAN family interface: a generator, a critic, their losses and optimizer settings in one object.

A family is built from a plain, JSON-able spec (``conf/gan/<family>.yaml``: ``arch``, ``optim``, ``loss``,
``n_dis``, ...). Its defaults are the official settings of the paper's GANs (docs/paper.md §1);
a scale changes sizes (widths, resolution, schedule), never the losses. ``GANModule`` trains any family
through this interface; ``GanZoo`` rebuilds a generator from the resolved spec stored in its checkpoint.
Imported by everything else in ``ganprint.gans``; takes tensors only.
"""

from __future__ import annotations

import copy
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ganprint.errors import ConfigError

MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024

# Keys every family understands; the per-family DEFAULTS give their values (and the nested dicts' keys).
COMMON_OPTIM = {"lr": 2e-4, "lr_d": None, "betas": [0.5, 0.999], "eps": 1e-8, "grad_clip": None, "decay_start": None}


def check_resolution(family: str, resolution: Any) -> int:
    """Return ``resolution`` if the family's up/down-sampling stack can produce it, else raise naming the key."""
    ok = (
        isinstance(resolution, numbers.Integral)
        and not isinstance(resolution, bool)
        and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
        and int(resolution) & (int(resolution) - 1) == 0
    )
    if not ok:
        raise ConfigError(
            f"{family} cannot produce {resolution!r}x{resolution!r} images: the resolution must be a power of two "
            f"between {MIN_RESOLUTION} and {MAX_RESOLUTION}; set `resolution` in conf/gan/{family}.yaml "
            f"(gan.spec.resolution) to one, e.g. 32."
        )
    return int(resolution)


def _merge(defaults: dict, overrides: dict, where: str, file: str) -> dict:
    """Overlay ``overrides`` on ``defaults`` one level deep; unknown keys raise, listing the valid ones."""
    out = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            raise ConfigError(f"unknown key {key!r} in {where} ({file}); valid keys: {', '.join(sorted(defaults))}.")
        if isinstance(defaults[key], dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key} must be a mapping, got {value!r}; fix it in {file}.")
            out[key] = _merge(defaults[key], value, f"{where}.{key}", file)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _jsonable(value: Any) -> Any:
    """Plain dicts/lists all the way down (also turns OmegaConf DictConfig/ListConfig into them)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_jsonable(v) for v in value]
    return value


class GANFamily(nn.Module, ABC):
    """A generator/critic pair with its losses. Subclasses set ``name``, ``DEFAULTS`` and implement the losses.

    ``critic_loss`` and ``generator_loss`` draw their own latents (from the global torch RNG, which Lightning
    seeds), because some families need several fake batches per loss (CramerGAN) or features of the real batch
    in the generator loss (CramerGAN, MMDGAN).
    """

    name: ClassVar[str] = "family"
    DEFAULTS: ClassVar[dict] = {}

    def __init__(self, resolution: int = 32, channels: int = 1, **overrides: Any) -> None:
        super().__init__()
        self.resolution = check_resolution(self.name, resolution)
        if not isinstance(channels, numbers.Integral) or isinstance(channels, bool) or channels < 1:
            raise ConfigError(f"channels must be a positive int (1 greyscale, 3 RGB), got {channels!r}; set "
                             f"`channels` in conf/gan/{self.name}.yaml.")
        self.channels = int(channels)
        defaults = {
            "latent_dim": 128,
            "latent_dist": "normal",
            "n_dis": 1,
            "ema_beta": None,
            "dequantize": False,
            **copy.deepcopy(self.DEFAULTS),
        }
        defaults["optim"] = {**COMMON_OPTIM, **defaults.get("optim", {})}
        self.cfg = _merge(defaults, _jsonable(overrides), "gan.spec", f"conf/gan/{self.name}.yaml")
        self.latent_dim = int(self.cfg["latent_dim"])
        self.n_dis = int(self.cfg["n_dis"])
        if self.n_dis < 1:
            raise ConfigError(f"n_dis must be >= 1, got {self.n_dis}; fix `n_dis` in conf/gan/{self.name}.yaml.")
        if self.cfg["latent_dist"] not in ("normal", "uniform"):
            raise ConfigError(f"latent_dist must be 'normal' or 'uniform'; fix conf/gan/{self.name}.yaml.")
        self.ema_beta = self.cfg["ema_beta"]
        self.generator, self.critic = self.build(**self.cfg["arch"])

    # --- construction -------------------------------------------------------------------------------------
    @abstractmethod
    def build(self, **arch: Any) -> tuple[nn.Module, nn.Module]:
        """Return ``(generator, critic)`` for ``self.resolution``/``self.channels``/``self.latent_dim``."""

    def spec(self) -> dict:
        """The resolved, JSON-able spec: ``build_family(**spec)`` rebuilds an identical family."""
        return _jsonable({"family": self.name, "resolution": self.resolution, "channels": self.channels,
                          **self.cfg})

    # --- latents and samples ------------------------------------------------------------------------------
    def sample_latent(self, n: int, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        if self.cfg["latent_dist"] == "uniform":  # MMD-GAN code: z ~ U(-1, 1)
            z = torch.rand(n, self.latent_dim, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(device) if device is not None else z

    def fake(self, n: int, device: torch.device) -> torch.Tensor:
        return self.generator(self.sample_latent(n, device))

    # --- training hooks used by GANModule -----------------------------------------------------------------
    def set_progress(self, images_seen: int) -> dict[str, float]:
        """Called before every critic step with the number of real images shown so far; returns values to log."""
        return {}

    def preprocess_real(self, real: torch.Tensor) -> torch.Tensor:
        if self.cfg["dequantize"]:  # SNGAN's loader: x/128 - 1 + U[0, 1/128)
            real = real + torch.rand_like(real) / 128.0
        return real

    @abstractmethod
    def critic_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss the critic minimises on one real batch, and extra scalars to log."""

    @abstractmethod
    def generator_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss the generator minimises; ``real`` is a fresh real batch (used by CramerGAN and MMDGAN)."""

    def make_optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        o = self.cfg["optim"]
        kw = {"betas": tuple(o["betas"]), "eps": o["eps"]}
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=o["lr"], **kw)
        opt_d = torch.optim.Adam(self.critic.parameters(), lr=o["lr_d"] if o["lr_d"] is not None else o["lr"], **kw)
        return opt_g, opt_d

    def lr_factor(self, progress: float) -> float:
        """Learning-rate multiplier at ``progress`` (fraction of generator steps done).

        ``optim.decay_start`` set: linear decay to zero from that fraction on (SNGAN: iterations 120k..150k).
        """
        start = self.cfg["optim"]["decay_start"]
        if start is None or progress <= start:
            return 1.0
        return max(0.0, 1.0 - (progress - start) / max(1e-12, 1.0 - start))

    @property
    def grad_clip(self) -> float | None:
        """Per-tensor gradient-norm clip (MMD-GAN code clips every gradient tensor to norm 1)."""
        return self.cfg["optim"]["grad_clip"]
