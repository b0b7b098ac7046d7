"""FLOP/s: the machine's measured matrix-multiply rate and the FLOPs of one attNet training step.

``matmul_flops_per_s`` times ``torch.mm`` on large square matrices (2 n^3 FLOPs each) in the thread count in
force; ``step_flops`` counts the FLOPs of a forward pass and of forward + backward with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix multiplies; element-wise work is not
counted). Achieved training FLOP/s = counted training FLOPs per image x images/s. Imported by
``benchmarks.runner`` and ``benchmarks.gpu``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.timing import now, summary


def matmul_flops_per_s(n: int, repeats: int, device: torch.device, dtype: torch.dtype = torch.float32,
                       min_seconds: float = 0.2) -> dict:
    """Median FLOP/s of ``torch.mm`` on ``n x n`` matrices; each repetition runs for at least ``min_seconds``."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: allocation, library initialisation
    runs, cpu_runs = [], []
    for _ in range(repeats):
        calls, start, cpu0 = 0, now(device), time.process_time()
        while True:
            torch.mm(a, b, out=out)
            calls += 1
            elapsed = now(device) - start
            if elapsed >= min_seconds:
                break
        runs.append(2.0 * n**3 * calls / elapsed)
        cpu_runs.append(2.0 * n**3 * calls / max(time.process_time() - cpu0, 1e-9))
    return {**summary(runs, unit="FLOP/s", n=n, dtype=str(dtype).replace("torch.", "")),
            "per_cpu_second": summary(cpu_runs, unit="FLOP/cpu-s")}


def step_flops(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Counted FLOPs per image of the forward pass and of a training step's forward + backward."""
    was_training = net.training
    net.train()
    with FlopCounterMode(display=False) as fwd:
        net(x)
    with FlopCounterMode(display=False) as step:
        F.cross_entropy(net(x), y).backward()
    net.zero_grad(set_to_none=True)
    net.train(was_training)
    n = x.shape[0]
    return {"forward_per_image": fwd.get_total_flops() / n, "train_step_per_image": step.get_total_flops() / n,
            "train_3x_forward_per_image": 3.0 * fwd.get_total_flops() / n}


def achieved(flops_per_image: float, train: dict, matmul: dict, cpu_time: bool = True) -> dict:
    """Achieved FLOP/s of a training throughput summary and its fraction of the measured matrix-multiply rate.

    ``fraction_of_matmul`` compares wall-clock rates; ``fraction_of_matmul_cpu_time`` compares rates per CPU
    second of this process, which is what to read on a busy shared machine (both clocks see the same threads).
    """
    rate = flops_per_image * train["median"]
    out = {"flops_per_s": rate, "fraction_of_matmul": rate / matmul["median"]}
    if cpu_time and "per_cpu_second" in train and "per_cpu_second" in matmul:
        cpu_rate = flops_per_image * train["per_cpu_second"]["median"]
        out.update(flops_per_cpu_s=cpu_rate,
                   fraction_of_matmul_cpu_time=cpu_rate / matmul["per_cpu_second"]["median"])
    return out
