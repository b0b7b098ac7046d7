"""Training one GAN-zoo generator on the real data, sampling it into a cached source folder, and measuring it:
Fréchet distance on content-classifier features (and on pixels) against real test images, next to the
distance between two halves of the real data and that of an untrained generator of the same family."""

from __future__ import annotations

import json
import logging
import shutil
import time
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ganprint.data.sources import GeneratorSource
from ganprint.gans import build_family
from ganprint.gans.quality import frechet_report, pixel_features
from ganprint.gans.zoo import GanZoo
from ganprint.models.baselines.content import embed_images, train_content_classifier
from ganprint.tasks.job import output_dir
from ganprint.utils.config import gan_precision
from ganprint.utils.instantiate import instantiate_group
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")


def train_gan(cfg: DictConfig) -> dict[str, Any]:
    start = time.time()
    real = hydra.utils.instantiate(cfg.real)
    spec = {k: v for k, v in OmegaConf.to_container(cfg.gan.spec, resolve=True).items() if k != "_target_"}
    gan = {"spec": spec, "max_steps": int(cfg.max_steps), "batch_size": int(cfg.batch_size),
           "precision": gan_precision(cfg, spec["family"])}
    loggers = instantiate_group(cfg.get("logger"))  # losses and sample grids, when this run trains the generator
    zoo = GanZoo(logger=loggers or None, grid_every_n_steps=int(cfg.get("grid_every_n_steps") or 0))
    source = GeneratorSource(cfg.name, real, gan, zoo, cfg.paths.cache_dir, n_images=int(cfg.n_images),
                             train_seed=int(cfg.train_seed), sample_seed=int(cfg.sample_seed),
                             train_images=cfg.train_images, subset_diff=int(cfg.subset_diff),
                             resolution=int(cfg.scale.resolution), channels=int(cfg.scale.channels))
    source.prepare()
    trained = json.loads((source.entry_dir / "trained.json").read_text())
    out = output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.entry_dir / "samples.png", out / "samples.png")
    metrics: dict[str, Any] = {"gan/train_seconds": trained["info"].get("train_seconds"),
                               "gan/images_per_second": trained["info"].get("images_per_second")}
    if cfg.quality.enabled:
        metrics.update(quality(cfg, real, source, spec))
    RunRecord.from_config(cfg, start, "train_gan", seed=cfg.train_seed, omit=("tags",), metrics=metrics,
                          generator=source.describe(), entry_dir=str(source.entry_dir),
                          samples_dir=str(source.samples_dir), trained=trained).write(out)
    log.info("generator %s: %s", cfg.name, {k: round(v, 3) for k, v in metrics.items() if v is not None})
    return metrics


def quality(cfg: DictConfig, real, source: GeneratorSource, spec: dict) -> dict[str, float]:
    """FD of trained and untrained samples vs real test images, on content features and on pixels."""
    # never more than the source holds: the report compares equal-sized sets of samples and real images
    res, ch, n = int(cfg.scale.resolution), int(cfg.scale.channels), min(int(cfg.quality.n_images), int(cfg.n_images))
    test_keys = [k for k in real.keys() if k.startswith("test:")] or real.keys()
    real_test = real.load(test_keys[: 2 * n], res, ch).images
    n = len(real_test) // 2
    samples = source.load(source.keys()[:n], res, ch).images
    torch.manual_seed(int(cfg.train_seed))
    family = build_family(**spec)
    untrained = GanZoo.generate_images(family.generator, family, n, seed=int(cfg.sample_seed))
    fakes = {"trained": samples, "untrained": untrained}
    out: dict[str, float] = {}
    if hasattr(real, "labels"):
        train_keys = [k for k in real.keys() if not k.startswith("test:")][: int(cfg.quality.content_images)]
        content = train_content_classifier(real.load(train_keys, res, ch).images, real.labels(train_keys),
                                           seed=0, cache_dir=f"{cfg.paths.cache_dir}/content_classifier",
                                           progress=False)
        rep = frechet_report(lambda x: embed_images(content, x), real_test, fakes)
        out.update({"gan/fd_content": rep["fd"]["trained"], "gan/fd_content_untrained": rep["fd"]["untrained"],
                    "gan/fd_content_real_halves": rep["real_halves"]})
    rep = frechet_report(pixel_features, real_test, fakes)
    out.update({"gan/fd_pixels": rep["fd"]["trained"], "gan/fd_pixels_untrained": rep["fd"]["untrained"],
                "gan/fd_pixels_real_halves": rep["real_halves"]})
    return {k: float(np.float64(v)) for k, v in out.items()}
