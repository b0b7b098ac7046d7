"""The ``Baseline`` interface shared by the classical attribution baselines, and its validation-only grid search.

A baseline works on numpy arrays (uint8 images ``[N, H, W, C]``, integer source labels), so it is fed exactly
the splits the deep models get. ``fit`` receives the train and validation splits and nothing else: there is no
argument through which test images could reach hyperparameter selection. Every grid candidate is fitted on
train and scored by ``predict`` on the validation split (kNN baselines get the same accuracies for all k from
one neighbour search, see ``_grid_val_accuracies``); the best one is refitted on train (never on train + val)
and kept. May be imported by ``models/`` and the entry points; imports no data or source code.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ganprint.errors import ConfigError


def check_images(x: np.ndarray, what: str) -> np.ndarray:
    """Return ``x`` if it is a non-empty uint8 ``[N, H, W, C]`` array, else raise naming the split."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.uint8:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}"
        raise ConfigError(f"{what} must be a uint8 array [N, H, W, C], got {got}; pass the data module's "
                          f"uint8 images (channels last), not normalised tensors.")
    if len(x) == 0:
        raise ConfigError(f"{what} is empty; baselines fit on train and choose hyperparameters on val, so give "
                          f"the data module non-empty train and val splits (conf/data/*.yaml counts).")
    return x


def check_labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"{what} must be {n} integer labels, got {y.dtype} {y.shape}.")
    return y


def grid_product(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """All combinations of the given axes as a list of dicts, first axis varying slowest."""
    out: list[dict[str, Any]] = [{}]
    for key, values in axes.items():
        values = list(values)
        if not values:
            raise ConfigError(f"the hyperparameter grid `{key}` is empty; give it at least one value in conf/model/.")
        out = [{**d, key: v} for d in out for v in values]
    return out


class Baseline(ABC):
    """A classical attribution baseline: ``fit`` on train with hyperparameters chosen on val, then ``predict``.

    Subclasses define ``param_grid`` (the candidates; on a tie in validation accuracy the first one wins, so
    grids list the simplest / most regularised model first),
    ``_fit_candidate`` (fit on train with one candidate's parameters), ``predict``, ``scores`` and ``features``.
    ``_prepare`` fits what does not depend on the grid (a PCA, a scaler, a content network) once, on train.
    ``_grid_val_accuracies`` may be overridden where all candidates can be scored at once.
    """

    name: ClassVar[str] = "baseline"

    def __init__(self, seed: int = 0, progress: bool = True) -> None:
        self.seed = int(seed)
        self.progress = bool(progress)
        self.classes_: np.ndarray | None = None
        self.selected_params: dict[str, Any] = {}
        self._report: dict[str, Any] = {}
        self._live: Progress | None = None

    # -- what subclasses define ------------------------------------------------------------------------
    @abstractmethod
    def param_grid(self) -> list[dict[str, Any]]:
        """The hyperparameter candidates, searched in this order."""

    def _prepare(self, train_x: np.ndarray, train_y: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Fit grid-independent parts on train (default: nothing)."""

    @abstractmethod
    def _fit_candidate(self, params: dict[str, Any], train_x: np.ndarray, train_y: np.ndarray) -> None:
        """Fit the model on train with ``params``, replacing any previous fit."""

    def _grid_val_accuracies(self, grid: list[dict[str, Any]], train_x: np.ndarray, train_y: np.ndarray,
                             val_x: np.ndarray, val_y: np.ndarray) -> list[float]:
        """Validation accuracy of each candidate of ``grid``, in grid order.

        Default: fit each candidate on train and score its ``predict`` on val. An override must give exactly
        these numbers (it may only be faster) and must not use anything but train to fit and val to score.
        """
        accs = []
        for params in self._track(grid, f"{self.name}: grid search on val", total=len(grid)):
            self._fit_candidate(params, train_x, train_y)
            accs.append(float(np.mean(self.predict(val_x) == val_y)))
        return accs

    @abstractmethod
    def scores(self, x: np.ndarray) -> np.ndarray:
        """Per-class decision scores ``[N, K]`` (higher = more likely), columns in ``classes_`` order."""

    @abstractmethod
    def features(self, x: np.ndarray) -> np.ndarray:
        """The representation the baseline classifies, ``[N, D]`` float (for FD ratio and t-SNE)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted source labels ``[N]`` (values of ``classes_``)."""
        self._check_fitted()
        return self.classes_[np.argmax(self.scores(check_images(x, "images to predict")), axis=1)]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``[N, K]``; only baselines whose scores are probabilities define it."""
        raise NotImplementedError(f"{type(self).__name__} has no probabilistic output; use `scores` instead.")

    # -- the shared procedure ----------------------------------------------------------------------------
    def fit(self, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> Baseline:
        """Choose hyperparameters by validation accuracy over ``param_grid``, then refit on train with them."""
        train_x = check_images(train_x, "the train split")
        val_x = check_images(val_x, "the validation split")
        train_y = check_labels(train_y, len(train_x), "train labels")
        val_y = check_labels(val_y, len(val_x), "validation labels")
        if train_x.shape[1:] != val_x.shape[1:]:
            raise ConfigError(f"train images are {train_x.shape[1:]} but validation images {val_x.shape[1:]}; "
                              f"load every split at the same data.resolution and data.channels.")
        self.classes_ = np.unique(train_y)
        if len(self.classes_) < 2:
            raise ConfigError("the train split holds a single source; attribution needs at least two sources "
                              "in the source set (conf/sources/).")
        unknown = np.setdiff1d(np.unique(val_y), self.classes_)
        if len(unknown):
            raise ConfigError(f"validation labels {unknown.tolist()} have no training images; every source "
                              f"needs images in the train split (conf/data/*.yaml counts).")
        t0 = time.perf_counter()
        with self._progress_display():
            self._prepare(train_x, train_y)
            grid = self.param_grid()
            accs = self._grid_val_accuracies(grid, train_x, train_y, val_x, val_y)
            results = [{"params": dict(params), "val_acc": float(acc)}
                       for params, acc in zip(grid, accs, strict=True)]
            best = max(range(len(results)), key=lambda i: (results[i]["val_acc"], -i))
            self.selected_params = dict(results[best]["params"])
            self._fit_candidate(self.selected_params, train_x, train_y)
        self._report = {
            "baseline": self.name,
            "selected_params": dict(self.selected_params),
            "val_acc": results[best]["val_acc"],
            "grid": results,
            "n_train": len(train_x),
            "n_val": len(val_x),
            "fit_seconds": time.perf_counter() - t0,
        }
        return self

    def evaluate(self, x: np.ndarray, y: np.ndarray, source_names: Sequence[str] | None = None,
                 prefix: str = "test") -> dict[str, float]:
        """Run-record metrics: ``<prefix>/acc`` and ``<prefix>/acc_<source>`` (accuracy on that source's images).

        ``source_names[i]`` names label ``i``; without it the label values name the sources.
        """
        self._check_fitted()
        y = check_labels(y, len(check_images(x, f"the {prefix} split")), f"{prefix} labels")
        pred = self.predict(x)
        out = {f"{prefix}/acc": float(np.mean(pred == y))}
        for label in np.unique(y):
            name = source_names[int(label)] if source_names is not None else str(label)
            out[f"{prefix}/acc_{name}"] = float(np.mean(pred[y == label] == label))
        return out

    def fit_report(self) -> dict[str, Any]:
        """Validation accuracy of every grid candidate, the selected parameters and the fit time."""
        self._check_fitted()
        return dict(self._report)

    # -- helpers ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.classes_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train_x, train_y, val_x, val_y).")

    @contextmanager
    def _progress_display(self) -> Iterator[None]:
        """One rich display for the whole fit, so nested loops show as extra bars instead of clashing."""
        if not self.progress or self._live is not None:
            yield
            return
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*cols, transient=True) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def _track(self, items: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
        """Iterate ``items`` with a progress bar when progress is on (inside ``fit`` or on its own)."""
        if not self.progress:
            yield from items
            return
        with self._progress_display():
            live = self._live
            task = live.add_task(description, total=total)
            try:
                for item in items:
                    yield item
                    live.advance(task)
            finally:
                live.remove_task(task)


def to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1]."""
    return x.astype(np.float32) / 255.0


def flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)
