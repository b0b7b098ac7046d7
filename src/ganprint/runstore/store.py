"""The run store: every (job, seed) of a spec has a fixed directory ``<results>/runs/<job key>/seed_<seed>/``
whose ``metrics.json`` is its record.

Paths and record reading only, no Hydra and no model code, so that ``reporting/`` can collect records as cheaply
as ``pipeline/`` plans runs. May be imported by ``pipeline/``, ``reporting/`` and anything above them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ganprint.runstore.spec import JobSpec
from ganprint.utils.run_record import RECORD_NAME


def job_key(job: JobSpec, scale: str) -> str:
    text = json.dumps({"scale": scale, **job.describe()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir(root: Path, job: JobSpec, scale: str, seed: int) -> Path:
    return Path(root) / "runs" / job_key(job, scale) / f"seed_{seed}"


def best_checkpoint(run: Path) -> Path:
    """Where a training job leaves its best checkpoint (the train task copies it there)."""
    return run / "checkpoints" / "best.ckpt"


def record_status(path: Path, want_hash: str | None) -> tuple[str, str]:
    """('done'|'stale'|'failed'|'missing', reason) for a run directory."""
    record = path / RECORD_NAME
    if not record.is_file():
        return "missing", "not run"
    try:
        data = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return "failed", f"unreadable record ({exc})"
    if data.get("status") != "ok":
        return "failed", str(data.get("reason", "failed"))[:300]
    if want_hash is not None and data.get("config_sha256") != want_hash:
        return "stale", "config changed since this run"
    return "done", ""


def collect(root: Path, job: JobSpec, scale: str, seeds: list[int]) -> list[dict[str, Any]]:
    """The records of a job's seeds: each the record dict, or {'status': 'missing'|'failed', 'reason'}."""
    out = []
    for seed in seeds:
        rdir = run_dir(root, job, scale, seed)
        status, reason = record_status(rdir, None)
        if status == "done":
            out.append({**json.loads((rdir / RECORD_NAME).read_text()), "run_dir": str(rdir)})
        else:
            out.append({"status": status, "reason": reason, "seed": seed, "run_dir": str(rdir)})
    return out
