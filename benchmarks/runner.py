"""``run_bench``: every measurement of one benchmark run, in one process, as one JSON-able dict.

Order: the attNet training comparison (plain loop, Lightning, Lightning with the progress bar), data loading,
batched inference, the GAN comparison, matrix-multiply FLOP/s and the achieved training FLOP/s, then the GPU
section. All CPU measurements run under the same torch thread count. Imported by ``benchmarks.cli`` and
tests.
"""

from __future__ import annotations

import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch

from benchmarks.flops import achieved, matmul_flops_per_s, step_flops
from benchmarks.gan import gan_training
from benchmarks.gpu import gpu_section
from benchmarks.inference import inference
from benchmarks.loading import loading
from benchmarks.report import derive
from benchmarks.settings import GPU_PAPER, GPU_PAPER_SMOKE, BenchSettings
from benchmarks.timing import load_average, torch_threads
from benchmarks.training import PRECISION_DTYPES, attnet_variants, compare_training
from benchmarks.workload import build_datamodule, compose_train_cfg, quiet_lightning

SECTIONS = ("training", "loading", "inference", "gan", "flops", "gpu")


def _meta(s: BenchSettings, threads: int) -> dict:
    return {
        "size": s.size, "scale": s.scale, "batch_size": s.batch_size, "threads": threads, "warmup": s.warmup,
        "steps": s.steps, "repeats": s.repeats, "statistic": "median of repeats", "seed": s.seed,
        "device": "cpu", "cpu": platform.processor() or platform.machine(), "cpu_count": _cpu_count(),
        "torch": torch.__version__, "pytorch_lightning": pl.__version__, "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(), "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average_before": load_average(),
    }


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def run_bench(s: BenchSettings, sections: Iterable[str] = SECTIONS, log: Callable[[str], None] = print) -> dict:
    """Run the benchmark described by ``s``; returns the results dict (``report.write_json`` stores it)."""
    sections = set(sections)
    unknown = sections - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown benchmark sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}.")
    quiet_lightning()
    cpu = torch.device("cpu")
    with torch_threads(s.threads) as threads, tempfile.TemporaryDirectory(prefix="ganprint-bench-") as tmp:
        root = Path(tmp)
        res: dict = {"meta": _meta(s, threads)}
        log(f"[bench] size={s.size} threads={threads} batch={s.batch_size} warmup={s.warmup} steps={s.steps} "
            f"repeats={s.repeats} load={res['meta']['load_average_before']}")
        cfgs = {"lightning": compose_train_cfg(s.scale, root, s.net_overrides, s.batch_size)}
        if s.progress_bar_variant:
            cfgs["lightning_progress_bar"] = compose_train_cfg(s.scale, root, s.net_overrides, s.batch_size,
                                                               progress_bar=True)
        cfg = cfgs["lightning"]
        # The plain loop autocasts to the scale's precision too (the cpu scale trains in bf16-mixed), so the two
        # loops differ in the loop only; the FLOP/s reference is the matmul peak in that same dtype.
        precision = str(cfg.trainer.precision)
        amp = PRECISION_DTYPES.get(precision)
        counts = {"train": math.ceil(s.train_images / s.num_sources), "val": s.batch_size,
                  "test": math.ceil((s.inference_batches + 1) * 4 * s.batch_size / s.num_sources)}
        dm = build_datamodule(cfg, s.num_sources, counts, seed=s.seed)
        torch.manual_seed(s.seed)
        net = hydra.utils.instantiate(cfg.model.net)
        res["attnet"] = {"net": net.spec(), "params": sum(p.numel() for p in net.parameters()),
                         "train_images": int(len(dm.data["train"][1])), "num_workers": dm.num_workers,
                         "precision": precision,
                         "trainer": "conf/trainer/default.yaml, logger=none, callbacks/default.yaml "
                                    "(progress bar off for `lightning`, on for `lightning_progress_bar`)"}
        if "training" in sections:
            log(f"[bench] attNet training: {', '.join(['plain', *cfgs])} x {s.repeats}")
            res["attnet"]["train"] = compare_training(
                attnet_variants(cfgs, dm, s.warmup, s.steps, s.seed, cpu, amp), s.repeats)
        if "loading" in sections:
            log("[bench] data loading")
            res["attnet"]["loading"] = loading(dm, max(1, s.loading_passes), s.repeats, cpu)
        if "inference" in sections:
            log("[bench] batched inference")
            res["attnet"]["inference"] = inference(net, dm, s.inference_batches, s.repeats, cpu, amp)
        if "gan" in sections:
            log(f"[bench] GAN training ({s.gan}): plain, lightning x {s.repeats}")
            res["gan"] = gan_training(s.gan, s.gan_overrides, s.batch_size, s.warmup, s.steps, s.repeats, s.seed,
                                      cpu, root)
        if "flops" in sections:
            log(f"[bench] matmul FLOP/s (n={s.matmul_size}) and attNet FLOPs")
            x = torch.randn(s.batch_size, net.in_channels, net.resolution, net.resolution)
            y = torch.arange(s.batch_size) % s.num_sources
            flops = {"matmul": matmul_flops_per_s(s.matmul_size, s.repeats, cpu, amp or torch.float32),
                     "matmul_dtype": str(amp or torch.float32).removeprefix("torch."),
                     "attnet_per_image": step_flops(net, x, y)}
            train = res["attnet"].get("train", {})
            per_image = flops["attnet_per_image"]["train_step_per_image"]
            flops["achieved"] = {name: achieved(per_image, train[name], flops["matmul"])
                                 for name in ("plain", "lightning") if name in train}
            res["flops"] = flops
        if "gpu" in sections:
            workload = GPU_PAPER_SMOKE if s.size == "smoke" else GPU_PAPER
            if s.gpu and torch.cuda.is_available():
                log(f"[bench] GPU section on {torch.cuda.get_device_name()}")
            res["gpu"] = gpu_section(s, root, workload)
            if "skipped" in res["gpu"]:
                log(f"[bench] GPU section SKIPPED: {res['gpu']['skipped']}")
        res["meta"]["load_average_after"] = load_average()
        res["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    res.update(derive(res))
    return res
