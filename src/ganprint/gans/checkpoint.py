"""Safe GAN checkpoints: plain tensors plus JSON, loadable with ``torch.load(weights_only=True)``.

A generator checkpoint is a dict ``{"format": FORMAT, "version": 1, "spec": <json>, "meta": <json>,
"state_dict": {...}}``. A resume checkpoint (``save_resume``/``load_resume``) holds a whole training state
(``GANModule.training_state``: weights, EMA, optimizers, counters, RNG states) plus a JSON fingerprint of the
training it belongs to, tagged ``RESUME_FORMAT``. Both are written atomically (temporary file in the same
folder, then ``os.replace``), so a killed run never leaves a half-written file under the final name. Anything
else at those paths is reported with one sentence naming the fix; a file that would unpickle objects (and so
could run code) is refused by ``weights_only=True``. Imported by ``ganprint.gans.zoo``.
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
RESUME_FORMAT = "ganprint-gan-resume"
RESUME_VERSION = 1


class GeneratorCheckpointError(UserError, ValueError):
    """The file is not a (readable) ganprint generator checkpoint."""


class ResumeCheckpointError(GeneratorCheckpointError):
    """The file is not a (readable) ganprint GAN resume checkpoint."""


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


def save_resume(path: Path, fingerprint: dict, state: dict[str, Any], meta: dict | None = None) -> Path:
    """Write ``state`` (``GANModule.training_state()``) atomically; ``fingerprint`` names the training it continues."""
    payload = {"format": RESUME_FORMAT, "version": RESUME_VERSION,
               "fingerprint": json.dumps(fingerprint, sort_keys=True),
               "meta": json.dumps(meta or {}, sort_keys=True), "state": state}
    return atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_resume(path: Path) -> tuple[dict, dict, dict[str, Any]]:
    """Return ``(fingerprint, meta, state)``; raise ``ResumeCheckpointError`` for anything else (never unpickles
    objects: a file crafted to run code on load fails here like a corrupt one)."""
    path = Path(path)

    def bad(why: str) -> ResumeCheckpointError:
        return ResumeCheckpointError(f"{path} is not a usable GAN resume checkpoint ({why}); training restarts "
                                     f"from step 0 and overwrites it.")

    try:
        payload: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # missing, truncated, corrupt zip, pickled objects outside the safe list, ...
        raise bad(f"unreadable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]) from e
    if not isinstance(payload, dict) or payload.get("format") != RESUME_FORMAT:
        raise bad("no ganprint resume format tag")
    if payload.get("version") != RESUME_VERSION:
        raise bad(f"format version {payload.get('version')!r}, expected {RESUME_VERSION}")
    try:
        fingerprint, meta, state = json.loads(payload["fingerprint"]), json.loads(payload["meta"]), payload["state"]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise bad(f"malformed: {e}") from e
    if not isinstance(fingerprint, dict) or not isinstance(meta, dict) or not isinstance(state, dict):
        raise bad("malformed fingerprint, meta or state")
    return fingerprint, meta, state
