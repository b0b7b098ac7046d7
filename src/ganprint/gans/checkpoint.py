"""Safe generator checkpoints: plain tensors plus a JSON spec, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict ``{"format": FORMAT, "version": 1, "spec": <json>, "meta": <json>, "state_dict": {...}}``
written atomically (temporary file in the same folder, then ``os.replace``), so a killed run never leaves a
half-written file under the final name. Anything else at that path is reported with one sentence naming the
fix. Imported by ``ganprint.gans.zoo``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganprint.errors import UserError
from ganprint.utils.atomic import atomic_write

FORMAT = "ganprint-generator"
VERSION = 1


class GeneratorCheckpointError(UserError, ValueError):
    """The file is not a (readable) ganprint generator checkpoint."""


def _bad(path: Path, why: str) -> GeneratorCheckpointError:
    return GeneratorCheckpointError(f"{path} is not a ganprint generator checkpoint; delete it and rerun ({why}).")


def save_generator(path: Path, generator: nn.Module, spec: dict, meta: dict | None = None) -> Path:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "spec": json.dumps(spec, sort_keys=True),
        "meta": json.dumps(meta or {}, sort_keys=True),
        "state_dict": {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()},
    }
    return atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_generator_payload(path: Path) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    """Return ``(spec, meta, state_dict)``; raise ``GeneratorCheckpointError`` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator checkpoint {path} does not exist; train it first (GanZoo.train).")
    try:
        payload: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, truncated file, pickled objects outside the safe list, ...
        raise _bad(path, f"unreadable: {type(e).__name__}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _bad(path, "no ganprint format tag")
    if payload.get("version") != VERSION:
        raise _bad(path, f"format version {payload.get('version')!r}, expected {VERSION}")
    try:
        spec, meta = json.loads(payload["spec"]), json.loads(payload["meta"])
        state = payload["state_dict"]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise _bad(path, f"malformed: {e}") from e
    if not isinstance(spec, dict) or "family" not in spec or not isinstance(state, dict):
        raise _bad(path, "malformed spec or weights")
    return spec, meta, state
