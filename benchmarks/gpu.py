"""The GPU section: the same comparisons on the GPU, and the paper-scale attNet's images/s and peak memory.

Runs only when ``torch.cuda.is_available()`` (``gpu_section`` returns ``{"skipped": reason}`` otherwise).
(1) The settings' attNet (the cpu-scale model) trained by the plain loop and by Lightning in fp32
(``trainer=gpu`` with ``trainer.precision=32-true``), its loading and inference, and the GAN comparison;
(2) the paper-scale attNet (128x128 RGB, fmap_base 1024, fmap_max 512, batch 32) on synthetic 128x128 data for a
short fixed number of steps, in the configured precision (conf/trainer/gpu.yaml: bf16-mixed; the plain loop
autocasts to bf16 likewise) and the data loader of conf/scale/paper.yaml (workers, pinned memory), with the
peak GPU memory of each; (3) matrix-multiply FLOP/s in fp32, TF32 and bf16 and the achieved training FLOP/s.
``device`` and ``trainer`` are parameters so a test can run this code path on the CPU. Imported by
``benchmarks.runner``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import hydra
import torch

from benchmarks.flops import achieved, matmul_flops_per_s, step_flops
from benchmarks.gan import gan_training
from benchmarks.inference import inference
from benchmarks.loading import loading
from benchmarks.settings import BenchSettings, GpuPaperWorkload
from benchmarks.training import PRECISION_DTYPES, attnet_variants, compare_training
from benchmarks.workload import build_datamodule, compose_train_cfg, quiet_lightning


def _peak_tracked(fn: Callable, peaks: list[float], device: torch.device) -> Callable:
    def run():
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        if device.type == "cuda":
            peaks.append(torch.cuda.max_memory_allocated(device) / 2**20)
        return out
    return run


def _counts(num_sources: int, train_images: int, batch_size: int, eval_batches: int) -> dict[str, int]:
    eval_images = (eval_batches + 1) * 4 * batch_size
    return {"train": math.ceil(train_images / num_sources), "val": batch_size,
            "test": math.ceil(eval_images / num_sources)}


def same_model_section(s: BenchSettings, device: torch.device, root: Path, trainer: str) -> dict:
    """(1): the settings' attNet and GAN comparisons on ``device`` in fp32."""
    cfg = compose_train_cfg(s.scale, root, s.net_overrides, s.batch_size, trainer=trainer,
                            extra_overrides=["trainer.precision=32-true"])
    dm = build_datamodule(cfg, s.num_sources, _counts(s.num_sources, s.train_images, s.batch_size,
                                                      s.inference_batches), seed=s.seed)
    variants = attnet_variants({"lightning": cfg}, dm, s.warmup, s.steps, s.seed, device)
    train = compare_training(variants, s.repeats)
    torch.manual_seed(s.seed)
    net = hydra.utils.instantiate(cfg.model.net)
    return {
        "precision": "32-true",
        "train": train,
        "loading": loading(dm, max(1, s.loading_passes), s.repeats, device),
        "inference": inference(net, dm, s.inference_batches, s.repeats, device),
        "gan": gan_training(s.gan, s.gan_overrides, s.batch_size, s.warmup, s.steps, s.repeats, s.seed, device,
                            root),
    }


def paper_section(w: GpuPaperWorkload, s: BenchSettings, device: torch.device, root: Path, trainer: str,
                  precision: str | None = None) -> dict:
    """(2): the paper-scale attNet for ``w.warmup + w.steps`` steps per repetition, images/s and peak memory."""
    extra = [f"trainer.precision={precision}"] if precision else []
    cfg = compose_train_cfg("paper", root, w.net, w.batch_size, trainer=trainer, extra_overrides=extra)
    precision = str(cfg.trainer.precision)
    amp = PRECISION_DTYPES.get(precision)
    workers = int(cfg.data.num_workers) if device.type == "cuda" else 0
    dm = build_datamodule(cfg, s.num_sources, _counts(s.num_sources, (w.warmup + w.steps) * w.batch_size,
                                                      w.batch_size, 1),
                          seed=s.seed, num_workers=workers, pin_memory=device.type == "cuda")
    peaks: dict[str, list[float]] = {"plain": [], "lightning": []}
    variants = attnet_variants({"lightning": cfg}, dm, w.warmup, w.steps, s.seed, device, amp)
    variants = {name: _peak_tracked(fn, peaks[name], device) for name, fn in variants.items()}
    train = compare_training(variants, w.repeats)
    for name, vals in peaks.items():
        if vals and name in train:
            train[name]["peak_memory_mib"] = round(max(vals), 1)
    torch.manual_seed(s.seed)
    net = hydra.utils.instantiate(cfg.model.net).to(device)
    x = torch.randn(w.batch_size, w.net["channels"], w.net["resolution"], w.net["resolution"], device=device)
    flops = step_flops(net, x, torch.zeros(w.batch_size, dtype=torch.long, device=device))
    return {"net": net.spec(), "params": sum(p.numel() for p in net.parameters()), "batch_size": w.batch_size,
            "warmup": w.warmup, "steps": w.steps, "repeats": w.repeats, "precision": precision,
            "num_workers": workers, "train": train, "flops_per_image": flops}


def gpu_section(s: BenchSettings, root: Path, workload: GpuPaperWorkload, device: torch.device | None = None,
                trainer: str = "gpu", paper_precision: str | None = None) -> dict:
    """All of the GPU section, or ``{"skipped": reason}`` when there is no GPU (or it is switched off)."""
    quiet_lightning()
    if not s.gpu:
        return {"skipped": "switched off (--no-gpu)"}
    if device is None:
        if not torch.cuda.is_available():
            return {"skipped": "no CUDA device: torch.cuda.is_available() is False"}
        device = torch.device("cuda")
    out: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)}
    if device.type == "cuda":
        out.update(cuda=torch.version.cuda, cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    n = 8192 if s.size != "smoke" else 1024
    mm = {"fp32": matmul_flops_per_s(n, s.repeats, device, torch.float32),
          "bf16": matmul_flops_per_s(n, s.repeats, device, torch.bfloat16)}
    if device.type == "cuda":
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            mm["tf32"] = matmul_flops_per_s(n, s.repeats, device, torch.float32)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    out["matmul"] = mm
    out["same_model"] = same_model_section(s, device, root, trainer)
    paper = paper_section(workload, s, device, root, trainer, paper_precision)
    peak_key = "bf16" if PRECISION_DTYPES.get(paper["precision"]) is not None else "fp32"
    per_image = paper["flops_per_image"]["train_step_per_image"]
    # CPU time means nothing for GPU work: only wall-clock fractions here.
    paper["achieved"] = {name: achieved(per_image, paper["train"][name], mm[peak_key], cpu_time=False)
                         for name in ("plain", "lightning")}
    paper["achieved_vs"] = f"matmul {peak_key}"
    out["paper"] = paper
    return out
