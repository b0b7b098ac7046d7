"""Perturbations by name: ``build_perturbation("jpeg", quality=30)``; the names are conf/perturb/'s file names.

Each ``Perturbation`` subclass registers itself under its ``name`` when it is defined (``__init_subclass__``, in
``base``); this module imports every perturbation module so that all of them are registered, and lists them.
Imported by entry points and sweeps that pick a perturbation by name.
"""

from __future__ import annotations

from ganprint.transforms.perturbations import blur, combo, crop, jpeg, noise, relight  # noqa: F401 - registers them
from ganprint.transforms.perturbations.base import (
    _REGISTRY,
    Perturbation,
    build_perturbation,
    perturbation_names,
)

__all__ = ["PERTURBATIONS", "build_perturbation", "perturbation_names"]

# name -> class, in the paper's table order
PERTURBATIONS: dict[str, type[Perturbation]] = {name: _REGISTRY[name] for name in perturbation_names()}
