"""Instantiate lists of callbacks and loggers from config groups (each entry with a ``_target_``)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_group(cfg: DictConfig | None) -> list:
    """Every entry of a config node that has ``_target_`` (``None`` or empty gives ``[]``)."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError("callbacks/logger config must be a mapping of name -> {_target_: ...}.")
    out = []
    for name, conf in cfg.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.debug("instantiating %s <%s>", name, conf._target_)
            out.append(hydra.utils.instantiate(conf))
    return out
