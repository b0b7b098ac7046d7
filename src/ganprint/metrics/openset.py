"""Open-set attribution: scores that say how "known" an image's source looks, thresholds, and their metrics.

Every score is oriented the same way: **higher means more likely a known source** (known sources are the
positive class of AUROC and "TPR" is the fraction of known images kept).

- ``msp``: maximum softmax probability of the (temperature-scaled) logits (Hendrycks & Gimpel 2017), as its log-odds.
- ``energy``: negative free energy ``T * logsumexp(logits / T)`` (Liu et al. 2020).
- ``mahalanobis``: minus the smallest Mahalanobis distance of the image fingerprint to a class mean, with class
  means and one shared (Ledoit-Wolf shrunk) covariance fitted on *training* fingerprints (Lee et al. 2018).
- ``fingerprint``: the largest cosine between the image fingerprint and a model fingerprint (attNet's Dense2
  weight rows, ``net.model_fingerprints``): the paper's fingerprint correlation.

``evaluate_open_set`` measures a fitted detector on test images; ``auroc_per_unknown_source`` splits its AUROC by
unknown source and ``closed_set_accuracy`` reports the known images' plain argmax accuracy beside it.

Fitting is split-aware by construction: ``fit_open_set`` takes :class:`SplitOutputs` tagged with their split
and refuses anything but training data for the Mahalanobis statistics and validation data for the temperature
and thresholds, so the test split can never tune what it then measures. Takes tensors only; may be imported by
tasks and reporting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from ganprint.errors import ConfigError
from ganprint.metrics.calibration import fit_temperature
from ganprint.utils.atomic import atomic_write_json

SCORES = ("msp", "energy", "mahalanobis", "fingerprint")
NEEDS_FEATURES = ("mahalanobis", "fingerprint")
UNKNOWN = "unknown"
MAX_MAHALANOBIS_DIM = 4096
CALIBRATION_FORMAT = 1
log = logging.getLogger("ganprint")


# -- scores -----------------------------------------------------------------------------------------------
def msp_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The maximum softmax probability ``p`` of ``logits / temperature`` as its log-odds ``log(p / (1 - p))``
    ``[N]`` (``p = sigmoid(score)``).

    The log-odds rank images exactly as ``p`` would, but confident images do not round to ``p = 1.0`` and tie,
    which they do in floating point for a well-trained attNet, the more so at a sharpening temperature (T < 1)."""
    z = logits.double() / temperature
    top = z.argmax(-1, keepdim=True)
    others = z.scatter(-1, top, float("-inf"))
    return z.gather(-1, top).squeeze(-1) - torch.logsumexp(others, dim=-1)


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Negative free energy ``T * logsumexp(logits / T)`` ``[N]``."""
    return temperature * torch.logsumexp(logits.double() / temperature, dim=-1)


def fingerprint_correlation(features: torch.Tensor, model_fingerprints: torch.Tensor) -> torch.Tensor:
    """Largest cosine ``[N]`` between each image fingerprint ``[N, D]`` and the model fingerprints ``[K, D]`` (or
    ``[K, C, H, W]``, flattened)."""
    f = F.normalize(features.flatten(1).float(), dim=-1)
    w = F.normalize(model_fingerprints.flatten(1).float(), dim=-1)  # visNet's are image-shaped [K, C, H, W]
    return (f @ w.T).amax(-1)


@dataclass
class Mahalanobis:
    """Class means ``[K, D]`` and the precision ``[D, D]`` of one covariance shared by all classes."""

    means: torch.Tensor
    precision: torch.Tensor

    @classmethod
    def fit(cls, features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> Mahalanobis:
        """Fit on training fingerprints: per-class means, then a Ledoit-Wolf covariance of the class-centred
        features (shrinkage keeps it invertible when fingerprints have fewer effective dimensions than D)."""
        x = features.double()
        y = labels.long()
        k = int(num_classes or int(y.max()) + 1)
        missing = [c for c in range(k) if not bool((y == c).any())]
        if missing:
            raise ValueError(f"no training fingerprints for classes {missing}; every known source needs some.")
        means = torch.stack([x[y == c].mean(0) for c in range(k)])
        centred = (x - means[y]).numpy()
        lw = LedoitWolf(assume_centered=True).fit(centred)
        return cls(means=means.float(), precision=torch.from_numpy(lw.precision_).float())

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distances ``[N, K]`` to every class mean."""
        d = features.float()[:, None, :] - self.means[None]
        return torch.einsum("nkd,de,nke->nk", d, self.precision, d)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Minus the smallest squared distance ``[N]`` (higher = closer to a known source)."""
        return -self.distances(features).amin(-1)

    def to_dict(self) -> dict[str, Any]:
        return {"means": self.means.tolist(), "precision": self.precision.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mahalanobis:
        return cls(means=torch.tensor(d["means"], dtype=torch.float32),
                   precision=torch.tensor(d["precision"], dtype=torch.float32))


# -- thresholds and metrics -------------------------------------------------------------------------------
def fit_threshold(known_scores: torch.Tensor, tpr: float = 0.95) -> float:
    """The largest threshold that keeps at least ``tpr`` of ``known_scores`` (an image is known if its score is
    ``>=`` the threshold). Pass validation scores of known sources only."""
    if not 0.0 < tpr <= 1.0:
        raise ConfigError(f"openset.tpr must be in (0, 1], got {tpr}; e.g. 0.95 keeps 95 % of known images.")
    s = known_scores.detach().double().flatten()
    if s.numel() == 0:
        raise ValueError("no known-source scores to fit a threshold on.")
    # The ceil(tpr * n)-th largest score (tolerant to 0.95 * 100 landing a hair above 95 in floating point).
    keep = max(1, min(s.numel(), int(np.ceil(tpr * s.numel() - 1e-9))))
    return float(torch.sort(s, descending=True).values[keep - 1])


def auroc(known_scores: torch.Tensor, unknown_scores: torch.Tensor) -> float:
    """Area under the ROC curve of known (positive) vs unknown images; 0.5 is chance, 1.0 perfect."""
    # sklearn, not torchmetrics: torchmetrics squashes scores outside [0, 1] through a sigmoid, which turns large
    # Mahalanobis distances and energies into ties.
    scores = torch.cat([known_scores.double(), unknown_scores.double()]).numpy()
    target = np.r_[np.ones(len(known_scores)), np.zeros(len(unknown_scores))]
    return float(roc_auc_score(target, scores))


def fpr_at_tpr(known_scores: torch.Tensor, unknown_scores: torch.Tensor, tpr: float = 0.95) -> float:
    """Fraction of unknown images accepted at the threshold that keeps ``tpr`` of these known images."""
    t = fit_threshold(known_scores, tpr)
    return float((unknown_scores >= t).float().mean())


def open_set_predict(logits: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Closed-set argmax, replaced by ``K`` (= "unknown", one past the known labels) where score < threshold."""
    k = logits.shape[1]
    return torch.where(scores >= threshold, logits.argmax(-1), torch.full_like(scores, k, dtype=torch.long))


def open_set_accuracy(pred: torch.Tensor, labels: torch.Tensor, num_known: int) -> dict[str, float]:
    """Accuracy with "unknown" as class ``num_known`` (labels ``>= num_known`` or ``< 0`` are unknown).

    ``acc``: over all images; ``acc_known``: known images given their right source (not rejected);
    ``acc_unknown``: unknown images rejected; ``acc_balanced``: the mean of the two.
    """
    y = labels.long().clone()
    unknown = (y >= num_known) | (y < 0)
    y[unknown] = num_known
    correct = (pred.long() == y).float()
    known_acc = float(correct[~unknown].mean()) if bool((~unknown).any()) else float("nan")
    unknown_acc = float(correct[unknown].mean()) if bool(unknown.any()) else float("nan")
    return {"acc": float(correct.mean()), "acc_known": known_acc, "acc_unknown": unknown_acc,
            "acc_balanced": float(np.nanmean([known_acc, unknown_acc]))}


def closed_set_accuracy(logits: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Argmax accuracy of known-source images, overall (``acc``) and per source (``acc_<name>``, class ``c`` =
    ``names[c]``)."""
    right = logits.argmax(-1) == labels
    # Hand-written rather than torchmetrics: a source without test images reads NaN here, not a misleading 0.
    return {"acc": float(right.float().mean()),
            **{f"acc_{name}": float(right[labels == c].float().mean()) for c, name in enumerate(names)}}


# -- split-tagged outputs and the fitted detector ----------------------------------------------------------
@dataclass(frozen=True)
class SplitOutputs:
    """A model's outputs on one split: logits ``[N, K]``, fingerprints ``[N, D]`` (or None) and labels ``[N]``
    (known labels ``0..K-1``; unknown sources are ``-1``)."""

    split: str
    logits: torch.Tensor
    labels: torch.Tensor
    features: torch.Tensor | None = None

    def known(self) -> SplitOutputs:
        m = self.labels >= 0
        return SplitOutputs(self.split, self.logits[m], self.labels[m], None if self.features is None else self.features[m])


@dataclass
class OpenSetDetector:
    """Temperature, per-score thresholds and the statistics the scores need; JSON-serialisable.

    ``score`` names the score ``predict`` uses (``ganprint-attribute open_set=true``).
    """

    source_names: list[str]
    temperature: float
    thresholds: dict[str, float]
    score: str = "msp"
    tpr: float = 0.95
    mahalanobis: Mahalanobis | None = None
    model_fingerprints: torch.Tensor | None = None
    fitted_on: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> list[str]:
        return list(self.thresholds)

    def scores(self, logits: torch.Tensor, features: torch.Tensor | None = None,
               names: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Each requested score ``[N]`` (default: every fitted one)."""
        out: dict[str, torch.Tensor] = {}
        for name in names or self.available:
            if name == "msp":
                out[name] = msp_score(logits, self.temperature)
            elif name == "energy":
                out[name] = energy_score(logits, self.temperature)
            elif features is None:
                raise ValueError(f"the {name} score needs image fingerprints (net.features).")
            elif name == "mahalanobis" and self.mahalanobis is not None:
                out[name] = self.mahalanobis.score(features)
            elif name == "fingerprint" and self.model_fingerprints is not None:
                out[name] = fingerprint_correlation(features, self.model_fingerprints)
            else:
                raise ValueError(f"score {name!r} was not fitted; fitted: {self.available}.")
        return out

    def predict(self, logits: torch.Tensor, features: torch.Tensor | None = None,
                score: str | None = None) -> dict[str, torch.Tensor]:
        """``pred`` (``K`` = unknown), ``nearest`` (closed-set argmax), ``score`` and calibrated ``probs``."""
        name = score or self.score
        s = self.scores(logits, features, [name])[name]
        return {"pred": open_set_predict(logits, s, self.thresholds[name]), "nearest": logits.argmax(-1),
                "score": s, "probs": (logits.float() / self.temperature).softmax(-1)}

    def label_names(self, pred: torch.Tensor) -> list[str]:
        names = [*self.source_names, UNKNOWN]
        return [names[int(p)] for p in pred]

    # -- persistence --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": CALIBRATION_FORMAT, "kind": "openset_calibration", "source_names": self.source_names,
                "score": self.score, "temperature": self.temperature, "threshold": self.thresholds[self.score],
                "thresholds": self.thresholds, "tpr": self.tpr, "fitted_on": self.fitted_on, "info": self.info,
                "mahalanobis": None if self.mahalanobis is None else self.mahalanobis.to_dict(),
                "model_fingerprints": None if self.model_fingerprints is None else self.model_fingerprints.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenSetDetector:
        if d.get("kind") != "openset_calibration":
            raise ConfigError("this JSON is not an open-set calibration; point `openset_calibration=` at the "
                              "calibration.json that ganprint-openset wrote.")
        fp = d.get("model_fingerprints")
        return cls(source_names=list(d["source_names"]), temperature=float(d["temperature"]),
                   thresholds={k: float(v) for k, v in d["thresholds"].items()}, score=str(d["score"]),
                   tpr=float(d.get("tpr", 0.95)),
                   mahalanobis=Mahalanobis.from_dict(d["mahalanobis"]) if d.get("mahalanobis") else None,
                   model_fingerprints=None if fp is None else torch.tensor(fp, dtype=torch.float32),
                   fitted_on=dict(d.get("fitted_on") or {}), info=dict(d.get("info") or {}))

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> OpenSetDetector:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"open-set calibration {path} does not exist; run ganprint-openset first and pass "
                              f"its calibration.json as `openset_calibration=`.")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path} is not a readable open-set calibration ({exc}); rerun ganprint-openset and "
                              f"pass its calibration.json as `openset_calibration=`.") from exc


def fit_open_set(train: SplitOutputs | None, val: SplitOutputs, source_names: list[str],
                 scores: list[str] | tuple[str, ...] = SCORES, score: str = "auto", tpr: float = 0.95,
                 model_fingerprints: torch.Tensor | None = None, calibrate: bool = True) -> OpenSetDetector:
    """Fit temperature (on ``val``), Mahalanobis statistics (on ``train``) and a threshold per score keeping
    ``tpr`` of the known ``val`` images. ``score`` is the one ``predict`` uses; ``auto`` picks Mahalanobis when
    fitted, else MSP.

    Only a ``train`` split may feed the class statistics and only a ``val`` split the temperature and
    thresholds; anything else (a test split, unknown sources) is refused here, not trusted to the caller.
    """
    if val.split != "val":
        raise ValueError(f"temperature and thresholds are fitted on the validation split, got {val.split!r}.")
    if bool((val.labels < 0).any()):
        raise ValueError("the validation outputs hold unknown-source images; fit on known sources only.")
    if train is not None and train.split != "train":
        raise ValueError(f"Mahalanobis statistics are fitted on the training split, got {train.split!r}.")
    bad = [s for s in scores if s not in SCORES]
    if bad:
        raise ConfigError(f"unknown open-set scores {bad}; set openset.scores to a subset of {list(SCORES)}.")
    k = len(source_names)
    if val.logits.shape[1] != k:
        raise ValueError(f"logits have {val.logits.shape[1]} classes but there are {k} sources.")
    have_features = val.features is not None
    wanted = [s for s in scores if s not in NEEDS_FEATURES or have_features]
    if "mahalanobis" in wanted and val.features.shape[1] > MAX_MAHALANOBIS_DIM:
        # A D x D covariance of image-sized fingerprints (visNet) is neither estimable nor storable.
        log.warning("skipping the Mahalanobis score: %d-dimensional fingerprints (more than %d)",
                    val.features.shape[1], MAX_MAHALANOBIS_DIM)
        wanted.remove("mahalanobis")
    if score == "auto":
        # Mahalanobis where the network has fingerprints: MSP stays confident on images far from every known
        # source (noise, flat images), while a distance to the known fingerprints does not.
        score = "mahalanobis" if "mahalanobis" in wanted else "msp"
    if score not in wanted:
        raise ConfigError(f"openset.score={score!r} cannot be used with this model (available: {wanted}); pick one "
                          f"of them.")
    temperature = fit_temperature(val.logits, val.labels) if calibrate else 1.0
    maha = None
    if "mahalanobis" in wanted:
        if train is None or train.features is None:
            raise ValueError("the Mahalanobis score needs training fingerprints.")
        maha = Mahalanobis.fit(train.features, train.labels, k)
    fps = model_fingerprints if "fingerprint" in wanted else None
    if "fingerprint" in wanted and fps is None:
        wanted.remove("fingerprint")  # a network without model fingerprints (not attNet)
    det = OpenSetDetector(source_names=list(source_names), temperature=temperature, thresholds={},
                          score=score, tpr=float(tpr), mahalanobis=maha, model_fingerprints=fps,
                          fitted_on={"temperature": val.split, "thresholds": val.split,
                                     "mahalanobis": train.split if maha is not None else "-"},
                          info={"n_val": len(val.labels), "n_train": 0 if train is None else len(train.labels)})
    val_scores = det.scores(val.logits, val.features, wanted)
    det.thresholds = {name: fit_threshold(s, tpr) for name, s in val_scores.items()}
    if score not in det.thresholds:
        raise ConfigError(f"openset.score={score!r} cannot be used with this model (available: "
                          f"{list(det.thresholds)}); pick one of them.")
    return det


def evaluate_open_set(det: OpenSetDetector, test: SplitOutputs) -> dict[str, float]:
    """Per score: AUROC and FPR at the detector's TPR (known test vs unknown test), and open-set accuracy at the
    threshold fitted on validation (plus the known-image TPR that threshold actually gives on test)."""
    known = test.labels >= 0
    if not bool(known.any()) or not bool((~known).any()):
        raise ValueError("open-set evaluation needs both known and unknown test images.")
    k = len(det.source_names)
    out: dict[str, float] = {}
    tag = round(det.tpr * 100)
    for name, s in det.scores(test.logits, test.features).items():
        out[f"auroc_{name}"] = auroc(s[known], s[~known])
        out[f"fpr{tag}_{name}"] = fpr_at_tpr(s[known], s[~known], det.tpr)
        pred = open_set_predict(test.logits, s, det.thresholds[name])
        for key, v in open_set_accuracy(pred, test.labels, k).items():
            out[f"open_{key}_{name}"] = v
        out[f"test_tpr_{name}"] = float((s[known] >= det.thresholds[name]).float().mean())
    return out


def auroc_per_unknown_source(det: OpenSetDetector, test: SplitOutputs, sources: torch.Tensor,
                             unknown_names: list[str]) -> dict[str, float]:
    """Per score and unknown source: AUROC of every known test image against that source's images alone
    (``auroc_<score>_<source>``), so a protocol with several unknown sources shows which is hardest to reject.

    ``sources`` ``[N]`` is each test image's source index: the known ones ``0..K-1``, then the unknown ones in
    ``unknown_names`` order (``K + u``), as the data module numbers them."""
    k = len(det.source_names)
    known = test.labels >= 0
    scores = det.scores(test.logits, test.features)
    return {f"auroc_{name}_{uname}": auroc(s[known], s[sources == k + u])
            for u, uname in enumerate(unknown_names) for name, s in scores.items()}
