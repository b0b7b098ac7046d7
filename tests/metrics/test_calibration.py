"""Temperature scaling, ECE and the reliability diagram, on logits whose calibration is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganprint.metrics.calibration import (
    calibrated_probs,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    reliability_diagram,
    temperature_scaling_figure,
    temperature_scaling_report,
)


def calibrated_problem(n: int = 4000, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits with labels drawn from their own softmax: perfectly calibrated by construction."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 1.5
    labels = torch.multinomial(logits.softmax(-1), 1, generator=g).squeeze(1)
    return logits, labels


def test_temperature_scaling_fixes_an_over_confident_model():
    val_logits, val_labels = calibrated_problem(seed=0)
    test_logits, test_labels = calibrated_problem(seed=1)
    # Logits multiplied by 10: the same ranking, far too confident.
    t = fit_temperature(10 * val_logits, val_labels)
    assert 8.0 < t < 12.5
    before = expected_calibration_error(calibrated_probs(10 * test_logits), test_labels)
    after = expected_calibration_error(calibrated_probs(10 * test_logits, t), test_labels)
    assert before > 0.15
    assert after < 0.03 and after < before / 5
    # Temperature scaling never changes the predicted source.
    assert torch.equal(calibrated_probs(10 * test_logits, t).argmax(-1), test_logits.argmax(-1))


def test_a_calibrated_model_keeps_a_temperature_near_one():
    logits, labels = calibrated_problem(seed=2)
    assert 0.9 < fit_temperature(logits, labels) < 1.1
    # An under-confident model gets a temperature below one.
    assert fit_temperature(logits / 4, labels) < 0.35


def test_ece_matches_a_hand_computed_value():
    # 10 images, all at confidence 0.9, 5 right: every image sits in one bin with a gap of 0.4.
    probs = torch.tensor([[0.9, 0.1]] * 10)
    labels = torch.tensor([0] * 5 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4, abs=1e-6)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert bins["count"].sum() == 10 and bins["count"][8] == 10
    assert bins["accuracy"][8] == pytest.approx(0.5) and bins["confidence"][8] == pytest.approx(0.9)


def test_fit_temperature_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        fit_temperature(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long))


def test_reliability_diagram_is_a_png_with_one_panel_per_entry(tmp_path):
    logits, labels = calibrated_problem(n=500, seed=3)
    path = reliability_diagram({"before": (calibrated_probs(10 * logits), labels),
                                "after": (calibrated_probs(logits), labels)}, tmp_path / "fig" / "rel.png")
    with Image.open(path) as img:
        w, h = img.size
        arr = np.asarray(img.convert("L"))
    assert img.format == "PNG" and w > 1.5 * h  # two panels side by side
    assert arr.std() > 10  # something was drawn


def test_temperature_scaling_report_on_hand_computed_values():
    # 10 images at confidence 0.9 (logits ln 9, 0), 5 right: ECE 0.4, NLL the mean of -ln 0.9 and -ln 0.1.
    logits = torch.tensor([[math.log(9.0), 0.0]] * 10)
    labels = torch.tensor([0] * 5 + [1] * 5)
    nll = (-math.log(0.9) - math.log(0.1)) / 2
    assert temperature_scaling_report(logits, labels, 1.0) == pytest.approx(
        {"temperature": 1.0, "ece_before": 0.4, "ece_after": 0.4, "nll_before": nll, "nll_after": nll}, abs=1e-6)
    # A huge temperature flattens every image to 0.5 confidence, which is exactly its accuracy.
    flat = temperature_scaling_report(logits, labels, 1e6, n_bins=10)
    assert flat["ece_before"] == pytest.approx(0.4, abs=1e-6) and flat["ece_after"] == pytest.approx(0.0, abs=1e-5)
    assert flat["nll_after"] == pytest.approx(math.log(2), abs=1e-5) and flat["temperature"] == 1e6


def test_temperature_scaling_figure_draws_before_and_after(tmp_path):
    logits, labels = calibrated_problem(n=500, seed=4)
    path = temperature_scaling_figure(10 * logits, labels, 10.0, tmp_path / "figures" / "reliability.png")
    with Image.open(path) as img:
        w, h = img.size
    assert path.name == "reliability.png" and img.format == "PNG" and w > 1.5 * h
