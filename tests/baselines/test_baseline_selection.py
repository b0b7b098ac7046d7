"""Hyperparameter selection sees the validation split only; the interface and its errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from ganprint.errors import ConfigError
from ganprint.models.baselines import BASELINES, Baseline, KNNBaseline, build_baseline

SMALL_GRIDS = {
    "knn": {"k_grid": [1, 3, 9]},
    "eigenface": {"variance_grid": [0.5, 0.95], "c_grid": [1e-3, 0.1]},
    "prnu": {"levels_grid": [1, 2], "sigma_grid": [0.02, 0.1]},
    "content_knn": {"k_grid": [1, 3, 9]},
    "dct_ridge": {"alpha_grid": [0.1, 10.0, 1000.0]},
}


def test_fit_takes_train_and_val_only():
    # Structural guarantee: no baseline's fit has a parameter through which test images could arrive.
    for cls in BASELINES.values():
        params = list(inspect.signature(cls.fit).parameters)
        assert params == ["self", "train_x", "train_y", "val_x", "val_y"], cls


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_grid_is_scored_on_validation_images_only(name, upsampling_splits, content_model, monkeypatch):
    (tx, ty), (vx, vy), (sx, sy) = upsampling_splits
    kw = {"content_model": content_model} if name == "content_knn" else {}
    model = build_baseline(name, progress=False, **SMALL_GRIDS[name], **kw)
    scored: list[np.ndarray] = []
    searched: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    real_predict, real_grid_scores = model.predict, model._grid_val_accuracies

    def spy(x):
        scored.append(x)
        return real_predict(x)

    def grid_spy(grid, train_x, train_y, val_x, val_y):
        searched.append((train_x, val_x, val_y))
        return real_grid_scores(grid, train_x, train_y, val_x, val_y)

    monkeypatch.setattr(model, "predict", spy)
    monkeypatch.setattr(model, "_grid_val_accuracies", grid_spy)
    model.fit(tx, ty, vx, vy)
    report = model.fit_report()
    assert len(searched) == 1 and all(a is b for a, b in zip(searched[0], (tx, vx, vy), strict=True))
    assert len(report["grid"]) == len(model.param_grid())
    if type(model)._grid_val_accuracies is Baseline._grid_val_accuracies:
        assert len(scored) == len(report["grid"])  # one predict per candidate
    else:
        assert not scored  # kNN: one neighbour search of val_x for the whole grid, no per-candidate predict
    assert all(x is vx for x in scored), "a grid candidate was scored on something other than the val split"
    assert not any(np.shares_memory(x, sx) for x in scored)
    # The reported scores are validation accuracies of the candidates (spot-check the selected one).
    assert report["val_acc"] == pytest.approx(float(np.mean(real_predict(vx) == vy)))


def test_knn_val_scores_match_independent_refits(upsampling_splits):
    (tx, ty), (vx, vy), _ = upsampling_splits
    report = KNNBaseline(k_grid=[1, 5, 33], progress=False).fit(tx, ty, vx, vy).fit_report()
    for row in report["grid"]:
        single = KNNBaseline(k_grid=[row["params"]["k"]], progress=False).fit(tx, ty, vx, vy)
        assert row["val_acc"] == pytest.approx(float(np.mean(single.predict(vx) == vy)))
    best = max(report["grid"], key=lambda r: r["val_acc"])
    assert report["val_acc"] == best["val_acc"]


def test_k_grid_is_truncated_to_train_size(upsampling_splits):
    (tx, ty), (vx, vy), _ = upsampling_splits
    model = KNNBaseline(k_grid=[1, 3, 100_000], progress=False).fit(tx[:50], ty[:50], vx, vy)
    assert [r["params"]["k"] for r in model.fit_report()["grid"]] == [3, 1]  # largest first


def test_unknown_baseline_lists_the_choices():
    with pytest.raises(ConfigError, match="dct_ridge, eigenface, knn, prnu"):
        build_baseline("inception")


def test_user_errors_name_the_fix(upsampling_splits):
    (tx, ty), (vx, vy), _ = upsampling_splits
    with pytest.raises(ConfigError, match="validation split is empty"):
        KNNBaseline(progress=False).fit(tx, ty, vx[:0], vy[:0])
    with pytest.raises(ConfigError, match="uint8"):
        KNNBaseline(progress=False).fit(tx.astype(np.float32), ty, vx, vy)
    with pytest.raises(ConfigError, match="no training images"):
        KNNBaseline(progress=False).fit(tx[ty < 2], ty[ty < 2], vx, vy)
    with pytest.raises(RuntimeError, match="not fitted"):
        KNNBaseline(progress=False).predict(vx)
    with pytest.raises(NotImplementedError):
        build_baseline("prnu", progress=False).predict_proba(vx)


def test_progress_bars_do_not_clash(upsampling_splits, monkeypatch):
    # Nested bars (grid search > residual extraction) share one rich display; predicting outside fit opens its own.
    import ganprint.models.baselines.base as base

    displays, open_now, most_open = [], [0], [0]

    class Recording(base.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.added: list[tuple[str, int]] = []  # (bar, how many bars this display already showed)
            displays.append(self)

        def __enter__(self):
            open_now[0] += 1
            most_open[0] = max(most_open[0], open_now[0])
            return super().__enter__()

        def __exit__(self, *exc):
            open_now[0] -= 1
            return super().__exit__(*exc)

        def add_task(self, description, *args, **kwargs):
            self.added.append((description, len(self.tasks)))
            return super().add_task(description, *args, **kwargs)

    monkeypatch.setattr(base, "Progress", Recording)
    (tx, ty), (vx, vy), (sx, _) = upsampling_splits
    model = build_baseline("prnu", levels_grid=[1], sigma_grid=[0.05], progress=True).fit(tx, ty, vx, vy)
    assert len(displays) == 1 and most_open[0] == 1  # the whole fit: one display, never two live at once
    assert any(shown >= 1 for _, shown in displays[0].added), displays[0].added  # a bar nested under another
    assert open_now[0] == 0 and model._live is None
    assert model.predict(sx).shape == (len(sx),)
    assert len(displays) == 2 and displays[1].added and most_open[0] == 1 and open_now[0] == 0
    assert isinstance(model, Baseline)


def test_evaluate_gives_run_record_keys(upsampling_splits):
    (tx, ty), (vx, vy), (sx, sy) = upsampling_splits
    model = build_baseline("dct_ridge", progress=False).fit(tx, ty, vx, vy)
    metrics = model.evaluate(sx, sy, ["real", "gan_a", "gan_b"])
    assert set(metrics) == {"test/acc", "test/acc_real", "test/acc_gan_a", "test/acc_gan_b"}
    assert metrics["test/acc"] == pytest.approx(float(np.mean(model.predict(sx) == sy)))
    per_source = [metrics[f"test/acc_{n}"] * np.sum(sy == i) for i, n in enumerate(["real", "gan_a", "gan_b"])]
    assert metrics["test/acc"] == pytest.approx(sum(per_source) / len(sy))
