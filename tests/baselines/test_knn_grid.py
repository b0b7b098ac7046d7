"""The kNN baselines score their whole k grid from one neighbour search, with the per-k procedure's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from ganprint.models.baselines import ContentKNNBaseline, KNNBaseline
from ganprint.models.baselines import knn as knn_mod
from ganprint.models.baselines.base import Baseline, flatten, to_unit
from ganprint.models.baselines.content import ContentClassifier
from ganprint.models.baselines.knn import knn_votes_per_k


def noisy_classes(n: int, labels=(0, 1, 2), side: int = 8, seed: int = 0):
    """uint8 images [n, side, side, 1]: a class-specific mean image plus strong noise (classes overlap)."""
    rng = np.random.default_rng(seed)
    means = 128 + 25 * np.random.default_rng(99).choice([-1.0, 1.0], size=(len(labels), side, side, 1))
    which = rng.integers(0, len(labels), n)
    x = np.clip(np.round(means[which] + rng.normal(0, 70, (n, side, side, 1))), 0, 255).astype(np.uint8)
    return x, np.asarray(labels, dtype=np.int64)[which]


def splits(labels=(0, 1, 2), side: int = 8):
    return (noisy_classes(300, labels, side, seed=1), noisy_classes(150, labels, side, seed=2),
            noisy_classes(100, labels, side, seed=3))


def per_k_procedure(train_vecs, ty, val_vecs, vy, test_vecs, ks_largest_first):
    """The old grid search: a fresh brute-force classifier per k; first best (largest k) wins; refit, predict."""
    accs = [float(np.mean(KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_vecs, ty)
                          .predict(val_vecs) == vy)) for k in ks_largest_first]
    best = ks_largest_first[int(np.argmax(accs))]  # argmax: the first of equal maxima
    pred = KNeighborsClassifier(n_neighbors=best, algorithm="brute").fit(train_vecs, ty).predict(test_vecs)
    return accs, best, pred


@pytest.fixture
def count_fallbacks(monkeypatch):
    """How many per-k searches knn_grid_predictions fell back to (it does only on exactly tied distances)."""
    calls = []

    class Counting(KNeighborsClassifier):
        def predict(self, x):
            calls.append(self.n_neighbors)
            return super().predict(x)

    monkeypatch.setattr(knn_mod, "KNeighborsClassifier", Counting)
    return calls


def test_votes_per_k_take_the_first_k_neighbours_and_break_ties_to_the_smallest_class():
    nearest_first = np.array([[2, 1, 1, 2, 0, 0, 0],
                              [1, 0, 2, 2, 0, 1, 1]])
    votes = knn_votes_per_k(nearest_first, [7, 1, 3, 4, 5], n_classes=3)
    assert sorted(votes) == [1, 3, 4, 5, 7]
    assert votes[1].tolist() == [2, 1]
    assert votes[3].tolist() == [1, 0]  # second row: one vote each, so the smallest class
    assert votes[4].tolist() == [1, 2]  # first row: two votes each for 1 and 2
    assert votes[5].tolist() == [1, 0]  # second row: two votes each for 0 and 2
    assert votes[7].tolist() == [0, 1]


@pytest.mark.parametrize("labels", [(0, 1, 2), (3, 7, 11)])  # also labels that are not 0..K-1
def test_knn_grid_matches_a_classifier_per_k(labels, count_fallbacks):
    (tx, ty), (vx, vy), (sx, _) = splits(labels)
    model = KNNBaseline(progress=False).fit(tx, ty, vx, vy)
    report = model.fit_report()
    ks = [row["params"]["k"] for row in report["grid"]]
    assert ks == [257, 129, 65, 33, 17, 9, 5, 3, 1]  # the default grid up to the 300 training images

    vec = lambda x: flatten(to_unit(x))  # noqa: E731
    accs, best, pred = per_k_procedure(vec(tx), ty, vec(vx), vy, vec(sx), ks)
    assert [row["val_acc"] for row in report["grid"]] == accs  # exactly, not approximately
    assert len(set(accs)) >= 4, accs  # the data make k matter, so a wrong k would show
    assert model.selected_params == {"k": best} and report["val_acc"] == max(accs)
    np.testing.assert_array_equal(model.predict(sx), pred)
    assert count_fallbacks == []  # no exact ties here: every k was read from the one search
    # The base class's per-candidate loop, run on the same model, gives the same numbers.
    assert Baseline._grid_val_accuracies(model, model.param_grid(), tx, ty, vx, vy) == accs


def test_exactly_tied_neighbours_fall_back_to_a_search_at_that_k(count_fallbacks):
    # Few distinct images, each in every class: neighbours are tied in droves, so which of them make the
    # first k is sklearn's heap's choice, and only a search at that k knows it.
    (px, _), _, _ = splits()
    protos = px[:12]
    rng = np.random.default_rng(5)
    tx, ty = protos[rng.integers(0, 12, 240)], rng.integers(0, 3, 240)
    vx, vy = protos[rng.integers(0, 12, 60)], rng.integers(0, 3, 60)
    model = KNNBaseline(k_grid=[1, 3, 5, 9, 17, 33, 65], progress=False).fit(tx, ty, vx, vy)
    report = model.fit_report()
    ks = [row["params"]["k"] for row in report["grid"]]
    vec = lambda x: flatten(to_unit(x))  # noqa: E731
    accs, best, pred = per_k_procedure(vec(tx), ty, vec(vx), vy, vec(vx), ks)
    assert [row["val_acc"] for row in report["grid"]] == accs
    assert model.selected_params == {"k": best}
    assert count_fallbacks, "the tie fallback was not exercised"


def test_content_knn_grid_matches_a_classifier_per_k(count_fallbacks):
    (tx, ty), (vx, vy), (sx, _) = splits(side=16)
    torch.manual_seed(0)
    net = ContentClassifier(in_channels=1, num_classes=3, width=2, feature_dim=8).eval()  # untrained is enough
    model = ContentKNNBaseline(content_model=net, progress=False).fit(tx, ty, vx, vy)
    report = model.fit_report()
    ks = [row["params"]["k"] for row in report["grid"]]
    assert ks[0] == 257 and ks[-1] == 1
    accs, best, pred = per_k_procedure(model.features(tx), ty, model.features(vx), vy, model.features(sx), ks)
    assert [row["val_acc"] for row in report["grid"]] == accs
    assert len(set(accs)) >= 3, accs
    assert model.selected_params == {"k": best}
    np.testing.assert_array_equal(model.predict(sx), pred)
    assert count_fallbacks == []
    assert Baseline._grid_val_accuracies(model, model.param_grid(), tx, ty, vx, vy) == accs
