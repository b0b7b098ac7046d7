"""Where the Hydra configs live, the OmegaConf resolvers they use, and config hashing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = Path(os.environ.get("GANPRINT_CONFIG_DIR", PROJECT_ROOT / "conf"))


def register_resolvers() -> None:
    """``${len:...}`` (number of sources), ``${plain:...}`` and ``${project_root:}``; safe to call twice."""
    if not OmegaConf.has_resolver("len"):
        OmegaConf.register_new_resolver("len", lambda x: len(x))
    if not OmegaConf.has_resolver("plain"):
        # A config node as plain data: its `_target_` dropped, so Hydra passes it on instead of building it
        # (a GAN spec handed to a generator source, which builds the GAN itself when it has to train one).
        OmegaConf.register_new_resolver(
            "plain", lambda node: OmegaConf.create({k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
                                                    if k != "_target_"}))
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


register_resolvers()


def to_container(cfg: DictConfig | dict) -> dict[str, Any]:
    """A resolved plain-dict copy of ``cfg`` without the ``hydra`` node."""
    if isinstance(cfg, DictConfig):
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    else:
        data = dict(cfg)
    data.pop("hydra", None)
    return data


def config_hash(cfg: DictConfig | dict, ignore: tuple[str, ...] = ("paths", "logger", "trainer", "callbacks")) -> str:
    """SHA-256 of the parts of a config that change results (paths, loggers and hardware left out)."""
    data = {k: v for k, v in to_container(cfg).items() if k not in ignore}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
