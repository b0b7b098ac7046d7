"""What one benchmark run measures: sizes, step counts, repetitions and threads (``BenchSettings``).

``SIZES`` holds the presets: ``cpu`` (the reference comparison: attNet at the cpu scale, batch 64) and ``smoke``
(everything tiny, seconds, for tests). ``GPU_PAPER`` is the fixed paper-scale GPU workload. Imported by every
module of ``benchmarks`` and by ``benchmarks.cli``; imports nothing of ganprint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchSettings:
    """One benchmark run. Every training comparison uses the same model, batch size and thread count.

    ``scale`` names the conf/scale/*.yaml the attNet, trainer and data module are composed from;
    ``net_overrides`` replace its sizes (the ``cpu`` preset sets them explicitly, so a change of
    conf/scale/cpu.yaml cannot silently change what is benchmarked). ``warmup`` steps are run and not timed;
    ``steps`` are timed; every measurement is repeated ``repeats`` times and the median reported.
    """

    size: str = "cpu"
    scale: str = "cpu"
    net_overrides: dict[str, int] = field(default_factory=dict)
    batch_size: int = 64
    num_sources: int = 5
    threads: int = 1
    warmup: int = 5
    steps: int = 30
    repeats: int = 5
    inference_batches: int = 6          # of the eval batch size (4 x batch_size, as the data module's)
    loading_passes: int = 1             # passes over the timed training images per loading repetition
    matmul_size: int = 2048
    gan: str = "dcgan"
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    progress_bar_variant: bool = True   # also time Lightning with the configured Rich progress bar
    seed: int = 0
    gpu: bool = True                    # run the GPU section when CUDA is available

    def replace(self, **changes: Any) -> BenchSettings:
        return dataclasses.replace(self, **changes)

    @property
    def train_images(self) -> int:
        """Training images the data module must hold so warm-up + timed steps fit in one epoch."""
        return (self.warmup + self.steps) * self.batch_size


CPU_NET = {"resolution": 32, "channels": 1, "fmap_base": 256, "fmap_max": 128, "fingerprint_dim": 128}

SIZES: dict[str, BenchSettings] = {
    "cpu": BenchSettings(size="cpu", scale="cpu", net_overrides=CPU_NET, batch_size=64, warmup=5, steps=30,
                         repeats=5, inference_batches=6, matmul_size=2048),
    # Seconds: the smoke scale's tiny attNet and GAN, a few steps, three repetitions (medians need three).
    "smoke": BenchSettings(size="smoke", scale="smoke",
                           net_overrides={"resolution": 32, "channels": 1, "fmap_base": 64, "fmap_max": 32,
                                          "fingerprint_dim": 32},
                           batch_size=16, warmup=1, steps=3, repeats=3, inference_batches=2, matmul_size=256,
                           gan_overrides={"arch": {"g_ch": 8, "d_ch": 8}}),
}


@dataclass(frozen=True)
class GpuPaperWorkload:
    """The paper-scale attNet on synthetic 128x128 RGB data: a short, fixed number of steps on one GPU."""

    net: dict[str, int] = field(default_factory=lambda: {"resolution": 128, "channels": 3, "fmap_base": 1024,
                                                         "fmap_max": 512, "fingerprint_dim": 512})
    batch_size: int = 32
    warmup: int = 10
    steps: int = 100
    repeats: int = 3


GPU_PAPER = GpuPaperWorkload()
GPU_PAPER_SMOKE = GpuPaperWorkload(batch_size=8, warmup=2, steps=4, repeats=3)
