"""Eigenface (Sirovich & Kirby, Turk & Pentland): PCA of raw pixels, then a linear SVM (Yu et al. 2019, Table 1).

The grid is Frank et al.'s (GANDCTAnalysis baselines/eigenface.py): kept PCA variance in {0.25, 0.5, 0.75, 0.95}
times LinearSVC C in {1e-4, 1e-3, 1e-2, 0.1}. The PCA is fitted once on (at most ``pca_max_samples`` of) the
training images; each variance level keeps the leading components that explain it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from ganprint.errors import ConfigError
from ganprint.models.baselines.base import Baseline, check_images, flatten, grid_product
from ganprint.utils.pixels import to_signed

DEFAULT_VARIANCE_GRID = (0.25, 0.5, 0.75, 0.95)
DEFAULT_C_GRID = (1e-4, 1e-3, 1e-2, 0.1)


def decision_columns(d: np.ndarray) -> np.ndarray:
    """sklearn's binary decision values ``[N]`` as two columns ``[N, 2]``; multi-class ones unchanged."""
    return np.stack([-d, d], axis=1) if d.ndim == 1 else d


class EigenfaceBaseline(Baseline):
    """PCA on pixels in [-1, 1] + LinearSVC; ``features`` are the kept PCA coefficients."""

    name = "eigenface"

    def __init__(self, variance_grid: Sequence[float] = DEFAULT_VARIANCE_GRID,
                 c_grid: Sequence[float] = DEFAULT_C_GRID, pca_max_samples: int = 10_000,
                 max_iter: int = 2000, seed: int = 0, progress: bool = True) -> None:
        super().__init__(seed=seed, progress=progress)
        bad = [v for v in variance_grid if not 0.0 < float(v) <= 1.0]
        if bad:
            raise ConfigError(f"variance_grid values {bad} are not in (0, 1]; fix `model.variance_grid`.")
        self.variance_grid = [float(v) for v in variance_grid]
        self.c_grid = [float(c) for c in c_grid]
        self.pca_max_samples = int(pca_max_samples)
        self.max_iter = int(max_iter)
        self._pca: PCA | None = None
        self._train_proj: np.ndarray | None = None
        self._n_components = 0
        self._svm: LinearSVC | None = None
        self.convergence_warnings = 0

    @staticmethod
    def _vectors(x: np.ndarray) -> np.ndarray:
        return flatten(to_signed(x))

    def components_for(self, variance: float) -> int:
        """How many leading components explain ``variance`` of the training pixels' variance."""
        cum = np.cumsum(self._pca.explained_variance_ratio_)
        return int(min(np.searchsorted(cum, variance - 1e-9) + 1, len(cum)))

    def _prepare(self, train_x: np.ndarray, train_y: np.ndarray) -> None:
        self.convergence_warnings = 0
        v = self._vectors(train_x)
        rng = np.random.default_rng(self.seed)
        sub = v if len(v) <= self.pca_max_samples else v[rng.choice(len(v), self.pca_max_samples, replace=False)]
        self._pca = PCA(svd_solver="full").fit(sub)
        k_max = max(self.components_for(var) for var in self.variance_grid)
        self._train_proj = self._pca.transform(v)[:, :k_max]

    def param_grid(self) -> list[dict[str, Any]]:
        return grid_product(variance=self.variance_grid, C=self.c_grid)

    def _fit_candidate(self, params: dict[str, Any], train_x: np.ndarray, train_y: np.ndarray) -> None:
        self._n_components = self.components_for(float(params["variance"]))
        self._svm = LinearSVC(C=float(params["C"]), max_iter=self.max_iter, random_state=self.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self._svm.fit(self._train_proj[:, : self._n_components], train_y)
        self.convergence_warnings += sum(issubclass(w.category, ConvergenceWarning) for w in caught)

    def features(self, x: np.ndarray) -> np.ndarray:
        if self._pca is None:
            raise RuntimeError("EigenfaceBaseline is not fitted; call fit(train_x, train_y, val_x, val_y).")
        return self._pca.transform(self._vectors(check_images(x, "images")))[:, : self._n_components]

    def scores(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return decision_columns(self._svm.decision_function(self.features(x)))

    def fit_report(self) -> dict[str, Any]:
        return {**super().fit_report(), "n_components": self._n_components,
                "convergence_warnings": self.convergence_warnings}
