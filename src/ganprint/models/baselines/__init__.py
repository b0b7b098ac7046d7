"""Classical attribution baselines on numpy arrays: kNN on pixels, Eigenface, PRNU, content features + kNN,
log-DCT ridge. All share ``Baseline`` (fit on train, hyperparameters chosen on val only). Imported by the entry
points; imports nothing from data/ or gans/."""

from ganprint.models.baselines.base import Baseline
from ganprint.models.baselines.content import ContentClassifier, ContentKNNBaseline, train_content_classifier
from ganprint.models.baselines.dct import DCTRidgeBaseline
from ganprint.models.baselines.eigenface import EigenfaceBaseline
from ganprint.models.baselines.knn import KNNBaseline
from ganprint.models.baselines.prnu import PRNUBaseline
from ganprint.models.baselines.registry import BASELINES, build_baseline

__all__ = [
    "BASELINES",
    "Baseline",
    "ContentClassifier",
    "ContentKNNBaseline",
    "DCTRidgeBaseline",
    "EigenfaceBaseline",
    "KNNBaseline",
    "PRNUBaseline",
    "build_baseline",
    "train_content_classifier",
]
