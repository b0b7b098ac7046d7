"""Loading attribution checkpoints safely and against the right source set.

Checkpoints are read with ``torch.load(weights_only=True)``: a file crafted to run code on load is refused.
The network is rebuilt from the spec the checkpoint carries, and only classes inside ``ganprint`` may be named.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class

from ganprint.errors import UserError
from ganprint.models.module import AttributionModule


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass an existing file as `ckpt=...`.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} was refused: it holds objects other than tensors and plain data, so loading it could run "
            f"code. Only use checkpoints written by ganprint ({str(exc).splitlines()[0]})."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc}); retrain or pick another file.") from exc
    if not isinstance(ckpt, dict) or "ganprint" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a ganprint attribution checkpoint (no 'ganprint' metadata).")
    return ckpt


def build_net(spec: dict[str, Any]) -> torch.nn.Module:
    target = str(spec.get("_target_", ""))
    if not target.startswith("ganprint."):
        raise CheckpointError(f"checkpoint names network class {target!r}, outside ganprint; refusing to build it.")
    kwargs = {k: v for k, v in spec.items() if k != "_target_"}
    return get_class(target)(**kwargs)


def check_sources(ckpt_sources: Sequence[str], expected: Sequence[str] | None, path: str | Path = "") -> None:
    if expected is not None and list(ckpt_sources) != list(expected):
        raise CheckpointError(
            f"checkpoint {path} was trained on sources {list(ckpt_sources)} (in this label order), but the "
            f"configured source set is {list(expected)}. Choose the matching `sources=...` or another `ckpt`."
        )


def load_attribution_module(path: str | Path, expected_sources: Sequence[str] | None = None,
                            optimizer=None) -> AttributionModule:
    """Rebuild the AttributionModule stored at ``path``; refuse it if its sources differ from ``expected``."""
    ckpt = read_checkpoint(path)
    meta = ckpt["ganprint"]
    check_sources(meta["source_names"], expected_sources, path)
    net = build_net(meta["net"])
    module_cls = AttributionModule
    if meta.get("module"):
        if not str(meta["module"]).startswith("ganprint."):
            raise CheckpointError(f"checkpoint names module class {meta['module']!r}, outside ganprint; refusing it.")
        module_cls = get_class(str(meta["module"]))
    hparams = {k: v for k, v in (ckpt.get("hyper_parameters") or {}).items() if k != "source_names"}
    module = module_cls(net=net, source_names=meta["source_names"], optimizer=optimizer, **hparams)
    missing, unexpected = module.load_state_dict(ckpt["state_dict"], strict=False)
    missing = [k for k in missing if k.startswith("net.")]
    unexpected = [k for k in unexpected if k.startswith("net.")]
    if missing or unexpected:
        raise CheckpointError(f"{path}: network weights do not match its spec (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}); the file is damaged or from another version.")
    return module
