"""Metrics torchmetrics lacks: the Fréchet distance and FD ratio of feature sets (``frechet``), the diagonal
dominance of visNet's response matrix (``responses``)."""

from ganprint.metrics.frechet import fd_ratio, frechet_distance, gaussian_stats
from ganprint.metrics.responses import diagonal_dominance

__all__ = ["diagonal_dominance", "fd_ratio", "frechet_distance", "gaussian_stats"]
