"""Run records: the contract between training and tables.

Every job (deep model, baseline, evaluation, any stage) writes ``metrics.json`` beside its resolved config:
metrics, source names in label order, seed, git commit, data-manifest hash, config hash, wall time and
package versions. Reporting reads these files only. Written atomically.

A task builds its record with ``RunRecord.from_config`` (the provenance every task records, computed in one
place) and writes it with ``RunRecord.write``. Imported by tasks/, pipeline/ and runstore/.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ganprint.utils.atomic import atomic_write_json
from ganprint.utils.config import PROJECT_ROOT, config_hash, to_container

RECORD_NAME = "metrics.json"
PACKAGES = ("torch", "pytorch-lightning", "torchmetrics", "hydra-core", "scikit-learn", "albumentations", "numpy")


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    try:
        out["ganprint"] = metadata.version("ganprint")
    except metadata.PackageNotFoundError:
        out["ganprint"] = "source"
    return out


def to_jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def write_run_record(output_dir: str | Path, **fields: Any) -> Path:
    """Write ``output_dir/metrics.json`` with ``fields`` plus provenance (commit, versions, host, time)."""
    record = {"record_version": 1, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": git_commit(),
              "versions": versions(), "host": {"machine": platform.machine(), "cuda": torch.cuda.is_available()}}
    record.update(to_jsonable(fields))
    return atomic_write_json(Path(output_dir) / RECORD_NAME, record)


PROVENANCE = ("config", "config_sha256", "seed", "tags", "wall_time_s")
_FROM_CONFIG = object()


@dataclass
class RunRecord:
    """What one run writes to ``metrics.json``: its task and status, the provenance taken from its config, and
    the task's own ``fields`` (metrics, sources, data summary, manifest hash, ...)."""

    task: str
    status: str = "ok"
    fields: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    config_sha256: str | None = None
    seed: Any = None
    tags: list[str] | None = None
    wall_time_s: float | None = None
    # The provenance keys this record carries: a record never holds a key its task did not write before
    # RunRecord existed (attribute and audit runs have no config hash, seed or tags), so older and newer
    # records of one task compare key for key.
    recorded: tuple[str, ...] = PROVENANCE

    @classmethod
    def from_config(cls, cfg: Any, start: float, task: str, status: str = "ok", *, seed: Any = _FROM_CONFIG,
                    omit: Collection[str] = (), **fields: Any) -> RunRecord:
        """The record of a run of ``cfg`` that started at ``start`` (``time.time()``); ``seed`` defaults to
        ``cfg.seed``; ``omit`` names provenance keys this task does not record."""
        recorded = tuple(k for k in PROVENANCE if k not in omit)
        # only what is recorded is computed: a failed run's config may not resolve everywhere
        compute = {"config": lambda: to_container(cfg), "config_sha256": lambda: config_hash(cfg),
                   "seed": lambda: cfg.get("seed") if seed is _FROM_CONFIG else seed,
                   "tags": lambda: list(cfg.get("tags") or []), "wall_time_s": lambda: time.time() - start}
        return cls(task=task, status=status, fields=fields, recorded=recorded, **{k: compute[k]() for k in recorded})

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "status": self.status, **self.fields,
                **{k: getattr(self, k) for k in self.recorded}}

    def write(self, output_dir: str | Path) -> Path:
        return write_run_record(output_dir, **self.as_dict())


def read_run_record(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    return json.loads(path.read_text())


def training_config(ckpt: str | Path) -> dict[str, Any] | None:
    """The resolved config of the run that wrote checkpoint ``ckpt`` (``<run>/checkpoints/<file>``): from its
    run record, else from the ``.hydra/config.yaml`` Hydra wrote when it started; None when neither is there."""
    run = Path(ckpt).resolve().parent.parent
    try:
        config = read_run_record(run).get("config")
        if isinstance(config, dict):
            return config
    except (OSError, ValueError):
        pass
    hydra_cfg = run / ".hydra" / "config.yaml"
    if hydra_cfg.is_file():
        import yaml

        try:
            config = yaml.safe_load(hydra_cfg.read_text())
        except (OSError, yaml.YAMLError):
            return None
        return config if isinstance(config, dict) else None
    return None

