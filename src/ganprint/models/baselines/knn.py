"""kNN on raw pixels (Yu et al. 2019, Table 1): the weakest baseline, it sees only image content.

k is chosen on the validation split from Frank et al.'s grid (1, 3, 5, 9, 17, 33, ..., 1025), truncated to
the training-set size; ties go to the larger k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from ganprint.errors import ConfigError
from ganprint.models.baselines.base import Baseline, check_images, flatten, to_unit

# Frank et al. (GANDCTAnalysis baselines/knn.py): 1 and 2^i + 1.
DEFAULT_K_GRID = (1, 3, 5, 9, 17, 33, 65, 129, 257, 513, 1025)


def usable_k(k_grid: Sequence[int], n_train: int) -> list[int]:
    """The grid's k values that fit the training set (at least the smallest one, clipped to ``n_train``)."""
    ks = sorted({int(k) for k in k_grid})
    if not ks or ks[0] < 1:
        raise ConfigError(f"k_grid {list(k_grid)} must hold positive integers; fix `model.k_grid`.")
    return [k for k in ks if k <= n_train] or [n_train]


class KNNBaseline(Baseline):
    """Euclidean kNN on flattened pixels scaled to [0, 1] (brute force; uniform vote)."""

    name = "knn"

    def __init__(self, k_grid: Sequence[int] = DEFAULT_K_GRID, seed: int = 0, progress: bool = True) -> None:
        super().__init__(seed=seed, progress=progress)
        self.k_grid = [int(k) for k in k_grid]
        self._n_train = 0
        self._knn: KNeighborsClassifier | None = None

    def _vectors(self, x: np.ndarray) -> np.ndarray:
        return flatten(to_unit(x))

    def _prepare(self, train_x: np.ndarray, train_y: np.ndarray) -> None:
        self._n_train = len(train_x)

    def param_grid(self) -> list[dict[str, Any]]:
        # Largest (smoothest) k first, so a tie in validation accuracy goes to the simpler model.
        return [{"k": k} for k in reversed(usable_k(self.k_grid, self._n_train or max(self.k_grid)))]

    def _fit_candidate(self, params: dict[str, Any], train_x: np.ndarray, train_y: np.ndarray) -> None:
        self._knn = KNeighborsClassifier(n_neighbors=int(params["k"]), algorithm="brute")
        self._knn.fit(self._vectors(train_x), train_y)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._knn.predict_proba(self._vectors(check_images(x, "images to score")))

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self._vectors(check_images(x, "images"))
