"""Evaluating a network on many stored images: batches, no autograd, results gathered on the CPU.

Images come as uint8 pixels in either layout the data module hands out (a tensor ``[N, C, H, W]`` or a NumPy
array ``[N, H, W, C]``) and are converted to the networks' [-1, 1] range one batch at a time, so only one batch
of floats is ever on the device. Imports ``utils`` only; imported by tasks (open-set outputs, fingerprint
analyses), the content baseline (its embeddings) and anything else that runs a trained network over a split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ganprint.utils.pixels import to_signed

LOGITS = "logits"


@torch.inference_mode()
def net_outputs(net: nn.Module, images: torch.Tensor | np.ndarray, outputs: Sequence[str] = (LOGITS,),
                batch_size: int = 512, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """Each asked output of ``net`` on all ``images``, float32 ``[N, ...]`` on the CPU, keyed by name.

    ``logits`` is ``net(x)``; any other name is a method of the network called on the same batch (``features``:
    attNet's and visNet's image fingerprints). The network is put in eval mode and moved to ``device`` if one is
    given; otherwise it runs where its parameters are."""
    missing = [name for name in outputs if name != LOGITS and not callable(getattr(net, name, None))]
    if missing:
        raise ValueError(f"{type(net).__name__} has no {missing} to evaluate; ask for logits or one of its methods.")
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    net = net.eval() if device is None else net.eval().to(device)
    if device is None:
        device = next(net.parameters(), torch.empty(0)).device  # a parameter-free network runs on the CPU
    calls = {name: net if name == LOGITS else getattr(net, name) for name in outputs}
    gathered: dict[str, list[torch.Tensor]] = {name: [] for name in outputs}
    for i in range(0, len(images), batch_size):
        x = to_signed(images[i : i + batch_size].to(device))
        for name, call in calls.items():
            gathered[name].append(call(x).float().cpu())
    return {name: torch.cat(parts) for name, parts in gathered.items()}
