"""Baselines by name: ``build_baseline("knn", k_grid=[1, 3])``. The names match ``conf/model/<name>.yaml``."""

from __future__ import annotations

from typing import Any

from ganprint.errors import ConfigError
from ganprint.models.baselines.base import Baseline
from ganprint.models.baselines.content import ContentKNNBaseline
from ganprint.models.baselines.dct import DCTRidgeBaseline
from ganprint.models.baselines.eigenface import EigenfaceBaseline
from ganprint.models.baselines.knn import KNNBaseline
from ganprint.models.baselines.prnu import PRNUBaseline

BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls
    for cls in (KNNBaseline, EigenfaceBaseline, PRNUBaseline, ContentKNNBaseline, DCTRidgeBaseline)
}


def build_baseline(name: str, **kwargs: Any) -> Baseline:
    """A baseline by its name, constructed with ``kwargs`` (its grids and options)."""
    try:
        cls = BASELINES[name]
    except KeyError:
        raise ConfigError(f"unknown baseline {name!r}; choose one of {', '.join(sorted(BASELINES))} "
                          f"(model=<name>, files in conf/model/).") from None
    return cls(**kwargs)
