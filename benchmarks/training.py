"""attNet training throughput: a hand-written PyTorch loop against ganprint's Lightning training.

Both train the same network (the composed ``model.net``, same seed) on the same in-memory images with the same
batch size, optimizer (Adam, lr 1e-3, betas (0, 0.99)), loss (cross-entropy) and random horizontal flip of
half the batch. The plain loop iterates a ``DataLoader`` over a ``TensorDataset`` of the images converted to
float once; Lightning runs ``AttributionModule`` + ``AttributionDataModule`` + the configured ``pl.Trainer``
and callbacks. Repetitions alternate the order of the variants so slow drift on a shared machine hits both.
Imported by ``benchmarks.runner`` and ``benchmarks.gpu``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.timing import StepTimer, Window, summarise_windows, summary
from benchmarks.workload import build_module, build_trainer, float_tensors
from ganprint.callbacks import TrainingSpeed
from ganprint.data import AttributionDataModule

# Lightning precision -> the autocast dtype the plain loop uses to match it (None: fp32, no autocast).
PRECISION_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16, "32-true": None, "32": None}


def autocast(device: torch.device, dtype: torch.dtype | None):
    """bf16/fp16 autocast on ``device`` when ``dtype`` is given, else nothing (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def plain_attnet(cfg: DictConfig, dm: AttributionDataModule, warmup: int, steps: int, seed: int,
                 device: torch.device, amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Images/s of the hand-written loop over ``steps`` timed steps after ``warmup`` untimed ones."""
    torch.manual_seed(seed)
    net = hydra.utils.instantiate(cfg.model.net).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    images, labels = dm.data["train"]
    # Pinned exactly when ganprint's loader is (conf/scale/*.yaml), so only the loops differ.
    loader = DataLoader(TensorDataset(float_tensors(images), labels), batch_size=dm.batch_size, shuffle=True,
                        pin_memory=dm.pin_memory and device.type == "cuda")
    if len(loader) < warmup + steps:
        raise RuntimeError(f"the plain loop needs {warmup + steps} batches but the training set has {len(loader)}.")
    batches = iter(loader)
    window = Window(device)
    for step in range(warmup + steps):
        if step == warmup:
            window.start()
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        flip = torch.rand(x.shape[0], 1, 1, 1, device=device) < 0.5
        x = torch.where(flip, x.flip(-1), x)
        with autocast(device, amp_dtype):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return window.stop(steps * dm.batch_size)


def lightning_attnet(cfg: DictConfig, dm: AttributionDataModule, warmup: int, steps: int,
                     seed: int) -> dict[str, float]:
    """Images/s of ``trainer.fit(AttributionModule, AttributionDataModule)`` over the same timed steps.

    Also returns what ganprint's own ``TrainingSpeed`` callback measured (``callback_images_per_s``, when it is
    configured), a cross-check of the step timer.
    """
    module = build_module(cfg, dm.source_names, seed)
    timer = StepTimer(warmup, steps, dm.batch_size)
    trainer = build_trainer(cfg, [timer], max_batches=warmup + steps, enable_model_summary=False)
    trainer.fit(module, datamodule=dm)
    speed = next((c for c in trainer.callbacks if isinstance(c, TrainingSpeed)), None)
    out = dict(timer.measured())
    if speed is not None:
        out["callback_images_per_s"] = speed.images_per_s
    return out


def compare_training(variants: dict[str, Callable[[], dict[str, float]]], repeats: int) -> dict:
    """Run every variant ``repeats`` times, alternating the order, and summarise each by its medians.

    Each variant returns a ``Window.stop`` dict; a ``callback_images_per_s`` in it is summarised too.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            runs[name].append(variants[name]())
    out = {}
    for name, windows in runs.items():
        out[name] = summarise_windows(windows)
        if all("callback_images_per_s" in w for w in windows):
            out[name]["training_speed_callback"] = summary([w["callback_images_per_s"] for w in windows],
                                                           unit="images/s")
    return out


def attnet_variants(cfgs: dict[str, DictConfig], dm: AttributionDataModule, warmup: int, steps: int, seed: int,
                    device: torch.device, amp_dtype: torch.dtype | None = None) -> dict[str, Callable]:
    """``plain`` plus one Lightning variant per composed config (e.g. ``lightning``, ``lightning_progress_bar``)."""
    plain_cfg = next(iter(cfgs.values()))
    variants: dict[str, Callable] = {
        "plain": lambda: plain_attnet(plain_cfg, dm, warmup, steps, seed, device, amp_dtype),
    }
    for name, cfg in cfgs.items():
        variants[name] = lambda cfg=cfg: lightning_attnet(cfg, dm, warmup, steps, seed)
    return variants

