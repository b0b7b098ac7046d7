"""Timing primitives shared by the benchmarks: a clock that waits for the GPU, a Lightning step timer, medians.

Every throughput here is images over the time between the end of warm-up step ``warmup - 1`` and the end
of step ``warmup + steps - 1``, so data loading of the timed steps is inside the window and one-off costs
(iterator creation, worker start, first-call allocations) are outside it, for the plain loops and for Lightning
alike. Each window is clocked twice: wall time (``images_per_s``, the headline) and this process's CPU time
(``images_per_cpu_s``), which other jobs on a shared machine disturb much less. Imported by the other
``benchmarks`` modules only.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Iterator, Sequence

import pytorch_lightning as pl
import torch


def now(device: torch.device | str = "cpu") -> float:
    """``perf_counter`` after the device's queued work is done (CUDA kernels are asynchronous)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class Window:
    """A timed window: wall and process CPU time from ``start()`` to ``stop(images)``."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = device
        self.wall0 = self.cpu0 = None

    def start(self) -> None:
        self.wall0, self.cpu0 = now(self.device), time.process_time()

    def stop(self, images: int) -> dict[str, float]:
        wall, cpu = now(self.device) - self.wall0, time.process_time() - self.cpu0
        return {"images_per_s": images / wall, "images_per_cpu_s": images / cpu if cpu > 0 else float("nan"),
                "seconds": wall}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run with ``n`` torch intra-op threads (``0``: leave torch's default); yields the count in force."""
    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def summary(values: Sequence[float], **extra) -> dict:
    """``{"median": ..., "runs": [...], "spread": (max - min) / median}`` of repeated measurements."""
    vals = [float(v) for v in values]
    med = statistics.median(vals)
    spread = (max(vals) - min(vals)) / med if med > 0 else float("nan")
    return {"median": med, "runs": [round(v, 3) for v in vals], "spread": round(spread, 4), **extra}


def summarise_windows(windows: Sequence[dict[str, float]], **extra) -> dict:
    """Wall-clock summary of ``Window.stop`` results, with the CPU-time one under ``per_cpu_second``."""
    return {**summary([w["images_per_s"] for w in windows], unit="images/s", **extra),
            "per_cpu_second": summary([w["images_per_cpu_s"] for w in windows], unit="images/cpu-s")}


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not on every platform
        return None


class StepTimer(pl.Callback):
    """Times training steps ``warmup .. warmup + steps - 1`` of a Lightning fit and stops it after them."""

    def __init__(self, warmup: int, steps: int, batch_size: int) -> None:
        if warmup < 1 or steps < 1:
            raise ValueError("the step timer needs warmup >= 1 and steps >= 1.")
        self.warmup, self.steps, self.batch_size = warmup, steps, batch_size
        self.window: Window | None = None
        self.result: dict[str, float] | None = None
        self.batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1
        if self.batches == self.warmup:
            self.window = Window(pl_module.device)
            self.window.start()
        elif self.batches == self.warmup + self.steps:
            self.result = self.window.stop(self.steps * self.batch_size)
            trainer.should_stop = True

    def measured(self) -> dict[str, float]:
        if self.result is None:
            raise RuntimeError(f"Lightning ran {self.batches} training batches, fewer than the "
                               f"{self.warmup + self.steps} the benchmark needs; the training set is too small.")
        return self.result
