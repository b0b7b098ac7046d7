"""Data-loading throughput: iterating a training ``DataLoader`` alone, with no model in the loop.

Measures ganprint's training loader (``AttributionDataModule.train_dataloader()``: ``ImageArrayDataset``, which
converts each uint8 image to float per item) and, for comparison, the plain loop's ``DataLoader`` over a float
``TensorDataset``. On a GPU the batches are also copied to the device, as training does. Imported by
``benchmarks.runner`` and ``benchmarks.gpu``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.timing import Window, summarise_windows
from benchmarks.workload import float_tensors
from ganprint.data import AttributionDataModule


def loader_throughput(make_loader: Callable[[], Iterable], passes: int, device: torch.device) -> dict[str, float]:
    """Images/s over ``passes`` full passes of a fresh iterator each, after one untimed pass."""

    def one_pass() -> int:
        n = 0
        for x, _ in make_loader():
            if device.type == "cuda":
                x = x.to(device, non_blocking=True)
            n += x.shape[0]
        return n

    one_pass()
    window = Window(device)
    window.start()
    images = sum(one_pass() for _ in range(passes))
    return window.stop(images)


def loading(dm: AttributionDataModule, passes: int, repeats: int, device: torch.device) -> dict:
    """``{"ganprint": ..., "plain": ...}`` images/s medians of the two training loaders."""
    images, labels = dm.data["train"]
    plain_ds = TensorDataset(float_tensors(images), labels)

    def plain() -> DataLoader:
        return DataLoader(plain_ds, batch_size=dm.batch_size, shuffle=True, pin_memory=dm.pin_memory)

    runs: dict[str, list[dict]] = {"ganprint": [], "plain": []}
    for _ in range(repeats):
        runs["ganprint"].append(loader_throughput(dm.train_dataloader, passes, device))
        runs["plain"].append(loader_throughput(plain, passes, device))
    return {name: summarise_windows(v, batch_size=dm.batch_size, images_per_pass=len(images))
            for name, v in runs.items()}
