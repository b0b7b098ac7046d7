"""How source-specific visNet's model fingerprints are: the diagonal dominance of the source x source matrix of
mean responses (rows: image source, columns: model fingerprint). Takes arrays only."""

from __future__ import annotations

import numpy as np


def diagonal_dominance(matrix: np.ndarray, axis: int = 0) -> float:
    """Share of model fingerprints (``axis=0``: columns) that respond most to their own source's images, or of
    sources (``axis=1``: rows) whose images respond most to their own model fingerprint. 1.0 = dominant."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"the response matrix must be square, got shape {m.shape}.")
    return float(np.mean(m.argmax(axis=axis) == np.arange(len(m))))
