"""Batched inference throughput of attNet: eval mode, no autograd, the data module's test loader.

``loader``: images/s of iterating ``AttributionDataModule.test_dataloader()`` (batches of ``eval_batch_size``)
and running the network on each batch, what ``ganprint-eval`` does per batch; ``forward``: the network alone
on pre-converted float batches of the same size. Imported by ``benchmarks.runner`` and ``benchmarks.gpu``.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from benchmarks.timing import Window, summarise_windows
from benchmarks.training import autocast
from benchmarks.workload import float_tensors
from ganprint.data import AttributionDataModule


@torch.inference_mode()
def _loader_run(net: nn.Module, dm: AttributionDataModule, batches: int, device: torch.device,
                amp_dtype: torch.dtype | None) -> dict[str, float]:
    loader = iter(dm.test_dataloader())
    x, _ = next(loader)  # warm-up batch
    with autocast(device, amp_dtype):
        net(x.to(device))
    window, n = Window(device), 0
    window.start()
    for x, _ in itertools.islice(loader, batches):
        with autocast(device, amp_dtype):
            net(x.to(device, non_blocking=True))
        n += x.shape[0]
    return window.stop(n)


@torch.inference_mode()
def _forward_run(net: nn.Module, x: torch.Tensor, batch_size: int, batches: int, device: torch.device,
                 amp_dtype: torch.dtype | None) -> dict[str, float]:
    chunks = [x[i * batch_size:(i + 1) * batch_size].to(device) for i in range(batches + 1)]
    with autocast(device, amp_dtype):
        net(chunks[0])
    window = Window(device)
    window.start()
    for c in chunks[1:]:
        with autocast(device, amp_dtype):
            net(c)
    return window.stop(sum(len(c) for c in chunks[1:]))


def inference(net: nn.Module, dm: AttributionDataModule, batches: int, repeats: int, device: torch.device,
              amp_dtype: torch.dtype | None = None) -> dict:
    """Medians of ``repeats`` runs over ``batches`` eval batches (after one warm-up batch) each."""
    net = net.to(device).eval()
    test_x = float_tensors(dm.data["test"][0])
    if len(test_x) < (batches + 1) * dm.eval_batch_size:
        raise RuntimeError(f"inference needs {(batches + 1) * dm.eval_batch_size} test images, got {len(test_x)}.")
    runs: dict[str, list[dict]] = {"loader": [], "forward": []}
    for _ in range(repeats):
        runs["loader"].append(_loader_run(net, dm, batches, device, amp_dtype))
        runs["forward"].append(_forward_run(net, test_x, dm.eval_batch_size, batches, device, amp_dtype))
    return {name: summarise_windows(v, batch_size=dm.eval_batch_size, batches=batches)
            for name, v in runs.items()}
