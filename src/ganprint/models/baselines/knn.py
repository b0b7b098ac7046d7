"""kNN on raw pixels (Yu et al. 2019, Table 1): the weakest baseline, it sees only image content.

k is chosen on the validation split from Frank et al.'s grid (1, 3, 5, 9, 17, 33, ..., 1025), truncated to
the training-set size; ties go to the larger k. The grid is scored from one neighbour search of the validation
split at the largest k (the vote of every smaller k is read off the sorted neighbour lists), with exactly the
accuracies a separate ``KNeighborsClassifier`` per k would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

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


Track = Callable[[Iterable[Any], str, int], Iterable[Any]]  # (items, description, total): Baseline._track


def plain_track(items: Iterable[Any], description: str, total: int) -> Iterable[Any]:
    return items


def knn_votes_per_k(neighbor_labels: np.ndarray, ks: Sequence[int], n_classes: int) -> dict[int, np.ndarray]:
    """Uniform-vote prediction for every k in ``ks`` from neighbour lists sorted nearest first.

    ``neighbor_labels`` is ``[N, >= max(ks)]`` class indices in ``0..n_classes-1``; returns k -> ``[N]`` class
    indices. A tied vote goes to the smallest index, as in ``KNeighborsClassifier.predict``.
    """
    counts = np.zeros((len(neighbor_labels), n_classes), dtype=np.int32)
    out: dict[int, np.ndarray] = {}
    done = 0
    # Counts grow segment by segment between the grid's k values: [N, k_max, n_classes] cumulative counts
    # would take hundreds of MB at the real sizes.
    for k in sorted({int(k) for k in ks}):
        segment = neighbor_labels[:, done:k]
        for c in range(n_classes):
            counts[:, c] += np.count_nonzero(segment == c, axis=1)
        done = k
        out[k] = np.argmax(counts, axis=1)
    return out


def knn_grid_predictions(train_vecs: np.ndarray, train_y: np.ndarray, val_vecs: np.ndarray, ks: Sequence[int],
                         track: Track | None = None, name: str = "knn") -> dict[int, np.ndarray]:
    """For every k in ``ks``, what ``KNeighborsClassifier(k, algorithm="brute")`` fitted on the train vectors
    predicts for the val vectors, from one neighbour search at the largest k.

    ``track(items, description, total)`` shows progress (``Baseline._track``); ``name`` labels its bar.
    """
    classes = np.unique(train_y)
    n_train = len(train_vecs)
    ks = sorted({int(k) for k in ks})
    if ks[0] < 1 or ks[-1] > n_train:
        raise ValueError(f"k values {ks} must lie in 1..{n_train} (the number of training vectors).")
    # One neighbour beyond the largest k shows whether its k-th neighbour is tied with the next one.
    n_neighbors = min(ks[-1] + 1, n_train)
    # "sqeuclidean" runs the very computation KNeighborsClassifier's euclidean search ranks by (same chunked
    # GEMM, same heap) but returns those ranking values, so that ties below are exact, not after a sqrt.
    search = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", metric="sqeuclidean")
    search.fit(train_vecs)
    # One step: the search is a single sklearn call; the bar still shows that it runs and for how long.
    for _ in (track or plain_track)([0], f"{name}: neighbours of {len(val_vecs)} val images", 1):
        dist, idx = search.kneighbors(val_vecs)
    labels = np.searchsorted(classes, train_y)[idx]
    votes = knn_votes_per_k(labels, ks, len(classes))
    out = {}
    for k in ks:
        if k < n_train and np.any(dist[:, k - 1] == dist[:, k]):
            # Which of several equidistant neighbours make the first k depends on sklearn's heap, which
            # differs between searches at different k: ask a search at this k, as the per-k procedure did.
            single = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_vecs, train_y)
            out[k] = single.predict(val_vecs)
        else:
            out[k] = classes[votes[k]]
    return out


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

    def _grid_val_accuracies(self, grid: list[dict[str, Any]], train_x: np.ndarray, train_y: np.ndarray,
                             val_x: np.ndarray, val_y: np.ndarray) -> list[float]:
        pred = knn_grid_predictions(self._vectors(train_x), train_y, self._vectors(val_x),
                                    [p["k"] for p in grid], track=self._track, name=self.name)
        return [float(np.mean(pred[int(p["k"])] == val_y)) for p in grid]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._knn.predict_proba(self._vectors(check_images(x, "images to score")))

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self._vectors(check_images(x, "images"))
