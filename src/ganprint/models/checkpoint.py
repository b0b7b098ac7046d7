"""Loading attribution checkpoints safely and against the right source set.

Checkpoints are read with ``torch.load(weights_only=True)``: a file crafted to run code on load is refused.
The network is rebuilt from the spec the checkpoint carries, and only ``nn.Module`` classes inside ``ganprint``
may be named. Every way a file can fail (not a checkpoint at all, a directory, damaged, built by another
version, weights that are NaN) ends in one ``CheckpointError`` sentence naming the fix; the same checks guard
``ckpt=``, ``init_ckpt=`` and a resumed ``ckpt_path=``.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class

from ganprint.errors import UserError
from ganprint.models.module import AttributionModule

# The largest input side a checkpoint may ask for: the attribution decodes at most 8192x8192 images, and a
# visNet holds one image-sized fingerprint per source, so a crafted spec could otherwise ask for terabytes.
MAX_RESOLUTION = 8192
PICKLE_PROTOCOL_2_OR_LATER = b"\x80"   # how a plain (legacy, non-zip) torch.save file starts


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def _not_a_checkpoint(path: Path, what: str, key: str) -> CheckpointError:
    return CheckpointError(f"{path} is not a checkpoint ({what}); pass the .ckpt file a ganprint training wrote "
                           f"(<run>/checkpoints/best.ckpt) as `{key}=`.")


def read_checkpoint(path: str | Path, key: str = "ckpt") -> dict[str, Any]:
    """The checkpoint dict at ``path``, loaded without running code; ``key`` names the option in messages."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file; pass the .ckpt inside it (e.g. "
                              f"{path / 'checkpoints' / 'best.ckpt'}) as `{key}=`.")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass an existing file as `{key}=...`.")
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror}); fix its permissions or pass another "
                              f"`{key}=`.") from exc
    # torch.save writes a zip archive (or, legacy, a pickle): anything else (an image, text, random bytes) is
    # not a checkpoint, and saying "it could run code" about a PNG would send the user the wrong way.
    if not head:
        raise _not_a_checkpoint(path, "an empty file", key)
    if not zipfile.is_zipfile(path) and not head.startswith(PICKLE_PROTOCOL_2_OR_LATER):
        kind = "a PNG image" if head.startswith(b"\x89PNG") else "a JPEG image" if head.startswith(b"\xff\xd8") \
            else "text" if _looks_like_text(path) else "unrecognised data"
        raise _not_a_checkpoint(path, kind, key)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "global" in msg.lower() or "weights_only" in msg or "Weights only" in msg:
            raise CheckpointError(
                f"{path} was refused: it holds objects other than tensors and plain data, so loading it could run "
                f"code. Only use checkpoints written by ganprint; pass another `{key}=`."
            ) from exc
        raise CheckpointError(f"{path} is damaged (not a readable checkpoint: {msg.splitlines()[0][:120]}); retrain "
                              f"or pass another `{key}=`.") from exc
    except Exception as exc:  # noqa: BLE001 - torch reports damaged archives with many exception types
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(f"{path} is damaged (not a readable checkpoint: {type(exc).__name__}: {first}); "
                              f"retrain or pass another `{key}=`.") from exc
    if not isinstance(ckpt, dict) or "ganprint" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a ganprint attribution checkpoint (no 'ganprint' metadata); pass a "
                              f"checkpoint written by ganprint-train as `{key}=`.")
    if not isinstance(ckpt["ganprint"], dict) or not isinstance(ckpt["state_dict"], dict):
        raise CheckpointError(f"{path}: its ganprint metadata is malformed; retrain or pass another `{key}=`.")
    return ckpt


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as fh:
        chunk = fh.read(512)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_finite_state(state: dict[str, Any], path: str | Path, key: str = "ckpt") -> None:
    """Refuse NaN or infinite weights: such a network labels every image with probability ``nan``."""
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path} holds non-finite (NaN or infinite) weights in {len(bad)} tensor(s), e.g. "
                              f"{bad[0]}: the training diverged or the file is damaged; retrain or pass another "
                              f"`{key}=`.")


def _ganprint_class(name: Any, base: type, what: str, path: str | Path) -> type:
    name = str(name or "")
    if not name.startswith("ganprint."):
        raise CheckpointError(f"checkpoint {path} names {what} class {name!r}, outside ganprint; refusing to build "
                              f"it. Only use checkpoints written by ganprint.")
    try:
        cls = get_class(name)
    except Exception as exc:  # noqa: BLE001 - hydra wraps a missing module or attribute in several types
        raise CheckpointError(f"checkpoint {path} names {what} class {name!r}, which this version of ganprint "
                              f"does not have; use the ganprint version that wrote it or retrain.") from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise CheckpointError(f"checkpoint {path} names {name!r} as its {what}, which is not a {base.__name__}; "
                              f"the file is forged or damaged, pass another checkpoint.")
    return cls


def build_net(spec: dict[str, Any], path: str | Path = "") -> torch.nn.Module:
    if not isinstance(spec, dict):
        raise CheckpointError(f"checkpoint {path} has no network spec; retrain or pass another checkpoint.")
    cls = _ganprint_class(spec.get("_target_"), torch.nn.Module, "network", path)
    kwargs = {k: v for k, v in spec.items() if k != "_target_"}
    res = kwargs.get("resolution")
    if res is not None and (isinstance(res, bool) or not isinstance(res, int) or not 1 <= res <= MAX_RESOLUTION):
        raise CheckpointError(f"checkpoint {path} asks for input resolution {res!r}, outside 1..{MAX_RESOLUTION}; "
                              f"the file is forged or damaged, pass another checkpoint.")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # extra or missing kwargs, values the network rejects
        raise CheckpointError(f"checkpoint {path}: its network spec does not fit {cls.__name__} of this ganprint "
                              f"version ({str(exc).splitlines()[0][:160]}); use the version that wrote it or "
                              f"retrain.") from exc


def check_sources(ckpt_sources: Sequence[str], expected: Sequence[str] | None, path: str | Path = "") -> None:
    if expected is not None and list(ckpt_sources) != list(expected):
        raise CheckpointError(
            f"checkpoint {path} was trained on sources {list(ckpt_sources)} (in this label order), but the "
            f"configured source set is {list(expected)}. Choose the matching `sources=...` or another `ckpt`."
        )


def load_net_weights(module: torch.nn.Module, state: dict[str, Any], path: str | Path, strict_net: bool = True) -> None:
    """Load ``state`` into ``module``; a shape or key mismatch of the network's weights is one CheckpointError."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatch: torch lists every tensor, one line is enough
        first = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln), str(exc).splitlines()[0])
        raise CheckpointError(f"{path}: its weights do not fit the network its spec describes ({first[:160]}); "
                              f"the file is damaged or from another version, retrain or pass another "
                              f"checkpoint.") from exc
    missing = [k for k in missing if k.startswith("net.")]
    unexpected = [k for k in unexpected if k.startswith("net.")]
    if strict_net and (missing or unexpected):
        raise CheckpointError(f"{path}: network weights do not match its spec (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}); the file is damaged or from another version.")


def load_attribution_module(path: str | Path, expected_sources: Sequence[str] | None = None,
                            optimizer=None) -> AttributionModule:
    """Rebuild the AttributionModule stored at ``path``; refuse it if its sources differ from ``expected``."""
    ckpt = read_checkpoint(path)
    meta = ckpt["ganprint"]
    names = meta.get("source_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"checkpoint {path} has no list of source names; retrain or pass another `ckpt=`.")
    check_sources(names, expected_sources, path)
    check_finite_state(ckpt["state_dict"], path)
    net = build_net(meta.get("net"), path)
    module_cls = AttributionModule
    if meta.get("module"):
        module_cls = _ganprint_class(meta["module"], AttributionModule, "module", path)
    hparams = {k: v for k, v in (ckpt.get("hyper_parameters") or {}).items() if k != "source_names"}
    try:
        module = module_cls(net=net, source_names=names, optimizer=optimizer, **hparams)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: its hyperparameters do not fit {module_cls.__name__} of this "
                              f"ganprint version ({str(exc).splitlines()[0][:160]}); use the version that wrote "
                              f"it or retrain.") from exc
    load_net_weights(module, ckpt["state_dict"], path)
    return module
