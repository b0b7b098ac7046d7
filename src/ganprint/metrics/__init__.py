"""Metrics torchmetrics lacks: the Fréchet distance and FD ratio of feature sets (``frechet``)."""

from ganprint.metrics.frechet import fd_ratio, frechet_distance, gaussian_stats

__all__ = ["fd_ratio", "frechet_distance", "gaussian_stats"]
