"""Perturbation base class: the uint8 image contract, per-image seeding, severity parameters, batch application.

Every perturbation in this package subclasses :class:`Perturbation`. The data module and the evaluation entry
point use :func:`perturb_batch` / :func:`derive_seed` (or call a perturbation on a whole ``[N, H, W, C]`` batch).
Imports numpy only; nothing here knows of models, sources or files.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Choices",
    "NoPerturbation",
    "Perturbation",
    "SeedLike",
    "UniformRange",
    "build_perturbation",
    "check_image",
    "derive_seed",
    "make_rng",
    "parse_choices",
    "parse_range",
    "perturb_batch",
    "perturbation_names",
]

_SEED_MASK = (1 << 64) - 1
SeedLike = int | np.integer | np.random.Generator


def make_rng(seed: SeedLike) -> np.random.Generator:
    """A numpy Generator for ``seed``; any Python int (negative ones too, e.g. from ``hash``) is accepted."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"a perturbation seed must be an int or a numpy Generator, got {type(seed).__name__}.")
    return np.random.default_rng(int(seed) & _SEED_MASK)


def derive_seed(seed: int, index: int) -> int:
    """The seed of image ``index`` in a set perturbed with ``seed``.

    A 64-bit value from numpy's SeedSequence hash of both numbers: identical across processes, platforms and
    Python versions (unlike ``hash``), and independent of which other images are perturbed with it.
    """
    words = np.random.SeedSequence([int(seed) & _SEED_MASK, int(index) & _SEED_MASK]).generate_state(2, np.uint32)
    return int(words[0]) | (int(words[1]) << 32)


def check_image(image: np.ndarray, who: str) -> None:
    """Raise ValueError unless ``image`` is a uint8 ``[H, W, C]`` array with C in {1, 3}."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"perturbation {who!r} takes a uint8 [H, W, C] image with C = 1 or 3 (or a [N, H, W, C] "
                         f"batch), got {desc}; convert with ganprint.data.imageio or np.asarray(..., np.uint8).")


# -- severity parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UniformRange:
    """A severity drawn uniformly from the closed interval [lo, hi]; lo == hi is a fixed severity.

    ``integer=True`` draws an integer uniformly from {lo, ..., hi} (both ends included).
    """

    lo: float
    hi: float
    integer: bool = False

    @property
    def fixed(self) -> bool:
        return self.lo == self.hi

    def sample(self, rng: np.random.Generator) -> float | int:
        if self.integer:
            return int(rng.integers(int(self.lo), int(self.hi) + 1))
        return float(rng.uniform(self.lo, self.hi))

    def to_config(self) -> float | int | list:
        cast = int if self.integer else float
        return cast(self.lo) if self.fixed else [cast(self.lo), cast(self.hi)]


@dataclass(frozen=True)
class Choices:
    """A severity drawn uniformly from a finite list of values (a single value is a fixed severity)."""

    values: tuple[int, ...]

    def sample(self, rng: np.random.Generator) -> int:
        return int(self.values[int(rng.integers(len(self.values)))]) if len(self.values) > 1 else int(self.values[0])

    def to_config(self) -> int | list[int]:
        return int(self.values[0]) if len(self.values) == 1 else [int(v) for v in self.values]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
    # ListConfig from Hydra is a Sequence too; strings are not a range.
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def parse_range(value: Any, *, name: str, bounds: tuple[float, float], where: str,
                integer: bool = False) -> UniformRange:
    """A number (fixed severity) or a ``[lo, hi]`` pair (uniform draw) inside ``bounds``; anything else is a
    ValueError that names the config key ``where`` to fix."""
    lo_b, hi_b = bounds
    kind = "an integer" if integer else "a number"
    msg = (f"{name} must be {kind} or a [lo, hi] pair with {lo_b} <= lo <= hi <= {hi_b}, got {value!r}; "
           f"fix it in {where}.")
    if _is_number(value):
        lo = hi = value
    elif _is_sequence(value) and len(value) == 2 and all(_is_number(v) for v in value):
        lo, hi = value
    else:
        raise ValueError(msg)
    lo, hi = float(lo), float(hi)
    if not (lo_b <= lo <= hi <= hi_b) or (integer and not (lo.is_integer() and hi.is_integer())):
        raise ValueError(msg)
    return UniformRange(lo, hi, integer)


def parse_choices(value: Any, *, name: str, where: str, odd: bool = False,
                  bounds: tuple[int, int] = (1, 1_000_000)) -> Choices:
    """A single integer (fixed severity) or a non-empty list of integers to draw from uniformly."""
    items = list(value) if _is_sequence(value) else [value]
    ok = bool(items) and all(_is_number(v) and float(v).is_integer() and bounds[0] <= v <= bounds[1]
                             and (not odd or int(v) % 2 == 1) for v in items)
    if not ok:
        parity = "odd " if odd else ""
        raise ValueError(f"{name} must be an {parity}integer in [{bounds[0]}, {bounds[1]}] or a list of them, got "
                         f"{value!r}; fix it in {where}.")
    return Choices(tuple(int(v) for v in items))


# -- the perturbation contract ----------------------------------------------------------------------------


# Every perturbation class by its name, filled by Perturbation.__init_subclass__ as the classes are defined.
_REGISTRY: dict[str, type[Perturbation]] = {}
# The order perturbation_names() lists them in: Yu et al. Table 7's columns (other names follow, as defined).
_TABLE_ORDER = ("none", "noise", "blur", "crop", "jpeg", "relight", "combo")


def perturbation_names() -> list[str]:
    """The valid perturbation names, in the paper's table order."""
    rank = {n: i for i, n in enumerate(_TABLE_ORDER)}
    return sorted(_REGISTRY, key=lambda n: rank.get(n, len(rank)))


def build_perturbation(name: str, **params: Any) -> Perturbation:
    """The perturbation called ``name`` with ``params`` overriding its paper defaults."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown perturbation {name!r}; valid names are {', '.join(perturbation_names())} "
                         "(the files of conf/perturb/).")
    return cls(**params)


class Perturbation(ABC):
    """A seeded image perturbation on uint8 ``[H, W, C]`` (C = 1 or 3), returning the same shape and dtype.

    ``perturbation(image, seed)`` is a pure function of (image, seed): the severity is drawn by
    :meth:`sample` from a Generator seeded with ``seed``, then :meth:`apply` continues with the same Generator
    for any per-pixel randomness. Called on a ``[N, H, W, C]`` batch it perturbs image ``i`` with
    ``derive_seed(seed, i)`` (see :func:`perturb_batch`), which is the data module's ``Perturb`` contract.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with a ``name`` of its own is registered under it (``build_perturbation(name)``)."""
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if not name:
            return
        other = _REGISTRY.get(name)
        if other is not None and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"two perturbations are called {name!r}: {other.__qualname__} and {cls.__qualname__}.")
        _REGISTRY[name] = cls

    def __call__(self, images: np.ndarray, seed: SeedLike) -> np.ndarray:
        arr = np.asarray(images)
        if arr.ndim == 4:
            return perturb_batch(arr, self, seed)
        check_image(arr, self.name)
        rng = make_rng(seed)
        out = self.apply(arr, self.sample(rng, arr.shape), rng)
        if out.shape != arr.shape or out.dtype != np.uint8:  # a bug in a subclass, not a user error
            raise RuntimeError(f"{type(self).__name__} returned {out.dtype} {out.shape} for {arr.shape}.")
        return out

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw this image's severity (and any other per-image choice) for an image of ``shape``."""
        return {}

    @abstractmethod
    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        """Perturb one checked uint8 ``[H, W, C]`` image with the drawn ``params``."""

    def params_for(self, seed: SeedLike, shape: tuple[int, ...]) -> dict[str, Any]:
        """The parameters ``self(image, seed)`` uses for an image of ``shape`` (replays the draw, no image needed)."""
        return self.sample(make_rng(seed), tuple(shape))

    def describe(self) -> dict[str, Any]:
        """Name and configured severities as plain Python values, for run records."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "name")
        return f"{type(self).__name__}({args})"


class NoPerturbation(Perturbation):
    """The identity: clean evaluation (``perturb=none``) through the same code path as the perturbed runs."""

    name = "none"

    def apply(self, image: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        return image.copy()


def perturb_batch(images: np.ndarray, perturbation: Perturbation, seed: SeedLike,
                  indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Perturb uint8 ``[N, H, W, C]`` images; image ``j`` gets seed ``derive_seed(seed, indices[j])``.

    ``indices`` (default ``0..N-1``) are the images' positions in the full set, so perturbing a set in chunks
    gives exactly the images that perturbing it at once gives. A Generator ``seed`` is turned into an int first.
    """
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"perturb_batch takes uint8 [N, H, W, C] images, got shape {arr.shape}.")
    idx = np.arange(arr.shape[0]) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.shape != (arr.shape[0],):
        raise ValueError(f"perturb_batch got {arr.shape[0]} images but {idx.size} indices.")
    base = int(seed.integers(1 << 63)) if isinstance(seed, np.random.Generator) else int(seed)
    out = np.empty_like(arr)
    for j in range(arr.shape[0]):
        out[j] = perturbation(arr[j], derive_seed(base, int(idx[j])))
    return out
