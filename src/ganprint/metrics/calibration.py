"""Calibration of an attribution model's probabilities: temperature scaling, expected calibration error and the
reliability diagram.

Temperature scaling (Guo et al., ICML 2017) divides the logits by one scalar ``T`` fitted on *validation* logits
by minimising the negative log-likelihood; it changes confidences, never the predicted source.
``temperature_scaling_report`` and ``temperature_scaling_figure`` measure and draw what it did on held-out logits.
ECE comes from torchmetrics (``MulticlassCalibrationError``). Takes tensors only; may be imported by tasks and
reporting.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torchmetrics.classification import MulticlassCalibrationError

from ganprint.utils.atomic import atomic_write

DEFAULT_BINS = 15


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)`` (LBFGS on ``log T``).

    Pass validation logits: fitting on the split you report would flatter the calibrated ECE.
    """
    logits = logits.detach().double()
    labels = labels.detach().long()
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"need logits [N, K] and N labels, got {tuple(logits.shape)} and {tuple(labels.shape)}.")
    # Optimising log T keeps T positive without constraints; starting at T = 1 is the uncalibrated model.
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    t = float(log_t.detach().exp())
    if not np.isfinite(t) or t <= 0:  # degenerate logits (e.g. all equal): leave them as they are
        return 1.0
    return t


def calibrated_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(logits / temperature)``."""
    return (logits.detach().float() / float(temperature)).softmax(-1)


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = DEFAULT_BINS) -> float:
    """Top-label ECE (L1, equal-width confidence bins) of probabilities ``[N, K]``."""
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=n_bins, norm="l1")
    return float(metric(probs.detach().float(), labels.detach().long()))


def temperature_scaling_report(logits: torch.Tensor, labels: torch.Tensor, temperature: float,
                               n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """What temperature scaling did to held-out ``logits``: the temperature, and the ECE and NLL of
    ``softmax(logits)`` (``*_before``) and of ``softmax(logits / temperature)`` (``*_after``)."""
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(calibrated_probs(logits, 1.0), labels, n_bins),
        "ece_after": expected_calibration_error(calibrated_probs(logits, temperature), labels, n_bins),
        "nll_before": float(F.cross_entropy(logits, labels)),
        "nll_after": float(F.cross_entropy(logits / temperature, labels)),
    }


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = DEFAULT_BINS
                     ) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin: mean confidence, accuracy and count (empty bins have NaN)."""
    conf, pred = probs.detach().float().max(-1)
    correct = (pred == labels.long()).float().numpy()
    conf = conf.numpy()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lo, hi], as torchmetrics bins them; a confidence of exactly 0 cannot occur for a softmax.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "confidence": mean_conf, "accuracy": acc, "count": count}


def reliability_diagram(panels: Mapping[str, tuple[torch.Tensor, torch.Tensor]], path: str | Path,
                        n_bins: int = DEFAULT_BINS) -> Path:
    """One reliability panel per entry of ``panels`` (title → (probs [N, K], labels [N])), saved as a PNG.

    Bars are the accuracy per confidence bin; the diagonal is perfect calibration; each title carries its ECE.
    """
    fig = Figure(figsize=(4.2 * len(panels), 4.2), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, (probs, labels)) in zip(axes, panels.items(), strict=True):
        b = reliability_bins(probs, labels, n_bins)
        centers = (b["edges"][:-1] + b["edges"][1:]) / 2
        width = 1.0 / n_bins
        ok = b["count"] > 0
        ax.bar(centers[ok], b["accuracy"][ok], width=width, edgecolor="black", color="tab:blue", label="accuracy")
        gap = b["confidence"][ok] - b["accuracy"][ok]
        ax.bar(centers[ok], gap, bottom=b["accuracy"][ok], width=width, color="tab:red", alpha=0.3,
               label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}\nECE = {expected_calibration_error(probs, labels, n_bins):.4f}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def temperature_scaling_figure(logits: torch.Tensor, labels: torch.Tensor, temperature: float, path: str | Path,
                               n_bins: int = DEFAULT_BINS) -> Path:
    """The reliability diagram of ``logits`` before and after dividing them by ``temperature``, side by side."""
    return reliability_diagram({"before temperature scaling": (calibrated_probs(logits, 1.0), labels),
                                f"after (T = {temperature:.3f})": (calibrated_probs(logits, temperature), labels)},
                               path, n_bins)
