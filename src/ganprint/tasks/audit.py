"""The shortcut audit as a task: ``ganprint-audit``, the audit before training on folder sources, the
content-only score beside it, and the input check of ``ganprint-attribute``.

The file-level audit lives in ``ganprint.data.audit`` (no models); the content-only score needs the in-project
content classifier (``models/baselines/content.py``), so it is added here. Before training, the audit runs
when a source is a folder of the user's files; its result goes into the run record (``data.audit``), its
warnings into the log, and the training files' input profile into every checkpoint (``ganprint_inputs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from ganprint.data import AttributionDataModule
from ganprint.data.audit import audit_sources, render
from ganprint.data.audit.profile import input_profile, outside
from ganprint.data.audit.properties import file_properties, source_properties
from ganprint.data.audit.run import pick_keys
from ganprint.data.sources.files import source_paths
from ganprint.tasks.job import output_dir
from ganprint.utils.atomic import atomic_write_json
from ganprint.utils.config import to_container
from ganprint.utils.run_record import RunRecord

log = logging.getLogger("ganprint")
DEFAULTS = {"enabled": True, "margin": 0.2, "max_files": 10000, "max_distance": 4, "min_correlation": 0.997,
            "content": True, "features": None}


def settings(cfg: DictConfig) -> dict[str, Any]:
    return {**DEFAULTS, **to_container(cfg.get("audit") or {})}


def run_audit(datamodule: AttributionDataModule, opts: dict[str, Any]) -> dict[str, Any]:
    kwargs = {} if not opts.get("features") else {"features": list(opts["features"])}
    return audit_sources(datamodule.sources, cache_dir=str(datamodule.cache_dir) if datamodule.cache_dir else None,
                         margin=float(opts["margin"]), max_files=opts.get("max_files"),
                         max_distance=int(opts["max_distance"]), min_correlation=float(opts["min_correlation"]),
                         normalize=datamodule.normalize, **kwargs)


def content_images(cfg: DictConfig, datamodule: AttributionDataModule) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Real images with content labels for the content classifier: the source set's own real source when it has
    them (Fashion-MNIST), else Fashion-MNIST's training images if installed; None when neither."""
    from ganprint.tasks.analysis import content_data, content_image_budget

    data = content_data(datamodule)
    if data is not None:
        return (*data, "the real source's content classes")
    from ganprint.data.sources import FashionMNISTSource, MissingDataError

    try:
        fm = FashionMNISTSource(name="content", root=cfg.paths.fashion_mnist_dir, subset="all")
        keys = [k for k in fm.keys() if not k.startswith("test:")][: content_image_budget(datamodule)]
        images = fm.load(keys, datamodule.resolution, datamodule.channels).images
    except (MissingDataError, FileNotFoundError, OSError):
        return None
    return images, fm.labels(keys), "Fashion-MNIST's product classes (the source set has no content labels)"


def content_score(cfg: DictConfig, datamodule: AttributionDataModule) -> dict[str, Any]:
    """Test accuracy of content features + kNN (k chosen on val), the Inception-role baseline: how much of an
    attribution accuracy content alone explains. Information, never a warning."""
    from ganprint.models.baselines.content import ContentKNNBaseline, train_content_classifier
    from ganprint.tasks.analysis import split_arrays

    data = content_images(cfg, datamodule)
    if data is None:
        return {"skipped": f"no content labels: the source set has none and Fashion-MNIST is not at "
                           f"{cfg.paths.fashion_mnist_dir}"}
    t0 = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup()
    seed = int(cfg.get("seed") or 0)
    network = train_content_classifier(data[0], data[1], seed=seed, progress=False,
                                       cache_dir=f"{cfg.paths.cache_dir}/content_classifier")
    knn = ContentKNNBaseline(content_model=network, seed=seed, progress=False)
    (tx, ty), (vx, vy), (sx, sy) = (split_arrays(datamodule, s) for s in ("train", "val", "test"))
    knn.fit(tx, ty, vx, vy)
    metrics = knn.evaluate(sx, sy, datamodule.source_names)
    return {"test_acc": metrics["test/acc"], "chance": float(np.bincount(sy).max() / len(sy)),
            "per_source": {k.split("acc_", 1)[1]: v for k, v in metrics.items() if "/acc_" in k},
            "method": f"content classifier features + kNN, k={knn.selected_params['k']} chosen on val; "
                      f"classifier trained on {data[2]}", "seconds": time.perf_counter() - t0}


def audit(cfg: DictConfig) -> dict[str, Any]:
    """``ganprint-audit``: audit a source set, print it, write ``audit.json`` and the run record."""
    start = time.time()
    opts = settings(cfg)
    datamodule: AttributionDataModule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    result = run_audit(datamodule, opts)
    if opts.get("content"):
        result["content"] = content_score(cfg, datamodule)
    datamodule.audit = result
    out = output_dir(cfg)
    atomic_write_json(out / "audit.json", result)
    RunRecord.from_config(cfg, start, cfg.get("task_name", "audit"), omit=("config_sha256", "seed", "tags"),
                          sources=datamodule.source_names, flagged=result["flagged"], warnings=result["warnings"],
                          metrics={"audit/metadata_acc": result["metadata"].get("test_acc"),
                                   "audit/metadata_majority": result["metadata"].get("majority"),
                                   "audit/content_acc": (result.get("content") or {}).get("test_acc"),
                                   "audit/duplicate_pairs": result["duplicates"]["n_pairs"],
                                   "audit/seconds": result["seconds"]},
                          data=datamodule.summary()).write(out)
    print(render(result))
    for w in result["warnings"]:
        log.warning("%s", w)
    log.info("audit written to %s", out / "audit.json")
    return result


def has_user_folders(datamodule: AttributionDataModule) -> bool:
    return any(s.kind == "folder" for s in datamodule.sources)


def audit_before_training(cfg: DictConfig, datamodule: AttributionDataModule, trainer=None) -> dict[str, Any] | None:
    """The audit at the start of a training on folder sources (``audit.enabled``): warnings logged, result in
    the run record and ``audit.json``, the input profile in every checkpoint the trainer writes."""
    opts = settings(cfg)
    if not opts.get("enabled") or not has_user_folders(datamodule):
        return None
    result = run_audit(datamodule, opts)
    if opts.get("content"):
        # The content score decodes every split and trains a content classifier: done on a second data module so
        # this one is still set up by the trainer (DDP batch sizes); both read the same array cache.
        result["content"] = content_score(cfg, hydra.utils.instantiate(cfg.data))
    datamodule.audit = result
    atomic_write_json(output_dir(cfg) / "audit.json", result)
    log.info("%s", render(result))
    for w in result["warnings"]:
        log.warning("%s", w)
    if trainer is not None:
        profile = training_profile(datamodule, opts)
        if profile is not None:
            from ganprint.callbacks.input_profile import InputProfile

            trainer.callbacks.append(InputProfile(profile))
    return result


def training_profile(datamodule: AttributionDataModule, opts: dict[str, Any]) -> dict[str, Any] | None:
    """The input profile of the file-backed sources (their audited files; the audit cached their properties).

    Under ``data.normalize`` it describes the original files, which is what ``ganprint-attribute`` is given and
    compares (it decodes inputs as they are), and names the setting the training data went through."""
    rows = {}
    cache = str(datamodule.cache_dir) if datamodule.cache_dir else None
    for s in datamodule.sources:
        s = getattr(s, "inner", s)  # a normalised source's original files
        keys = pick_keys(s.keys(), s.name, opts.get("max_files"))
        paths = source_paths(s, keys)
        if paths is not None:
            stamp = s.content_stamp(keys) if hasattr(s, "content_stamp") else ""
            rows[s.name] = source_properties(s.name, {**s.describe(), "stamp": stamp}, keys, paths, cache)
    profile = input_profile(rows)
    if profile is not None:
        profile["normalize"] = datamodule.normalize
    return profile


def check_inputs(ckpt: dict[str, Any], files: Sequence[Path], out_dir: Path | None = None) -> list[dict[str, Any]]:
    """``ganprint-attribute``: the inputs whose format, size, mode or quality lie outside what the checkpoint's
    training files had (its ``ganprint_inputs``); one warning paragraph, and ``input_check.json``."""
    from ganprint.callbacks.input_profile import CHECKPOINT_KEY

    profile = ckpt.get(CHECKPOINT_KEY)
    if not profile:
        return []
    flagged = []
    for f in files:
        reasons = outside(profile, file_properties(f))
        if reasons:
            flagged.append({"path": str(f), "outside": reasons})
    if flagged:
        shown = "; ".join(f"{Path(x['path']).name}: {', '.join(x['outside'])}" for x in flagged[:5])
        log.warning("%d of %d inputs lie outside what the checkpoint's training files had (%s; %s; %d-%d x %d-%d "
                    "pixels): %s%s. A prediction there is extrapolation: the model never saw such files, and a "
                    "format or size it never saw can move its answer as much as a generator does. Convert them "
                    "like the training data (or retrain with `data.normalize`) before trusting these attributions.%s",
                    len(flagged), len(files), "/".join(profile["formats"]), "/".join(profile["modes"]),
                    *profile["width"], *profile["height"], shown,
                    " (first 5; all in input_check.json)" if len(flagged) > 5 else "",
                    f" The training data were also re-encoded by data.normalize={profile['normalize']}."
                    if profile.get("normalize") else "")
    if out_dir is not None:
        atomic_write_json(Path(out_dir) / "input_check.json", {"profile": profile, "outside": flagged})
    return flagged
