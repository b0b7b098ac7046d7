"""Fréchet distance between Gaussian fits of feature sets, and the FD ratio of Yu et al. (2019, Table 1).

Works for any feature extractor (pixels, eigenfaces, content features, attNet fingerprints): callers pass
``[N, D]`` arrays. Pure numpy/scipy; may be imported by anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.decomposition import PCA

Stats = tuple[np.ndarray, np.ndarray]


def gaussian_stats(feats: np.ndarray) -> Stats:
    """Mean ``[D]`` and covariance ``[D, D]`` (unbiased, rows are samples) of features ``[N, D]``."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors as an [N, D] array, got shape {f.shape}.")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _as_stats(a: np.ndarray | Stats) -> Stats:
    return (np.asarray(a[0], np.float64), np.asarray(a[1], np.float64)) if isinstance(a, tuple) else gaussian_stats(a)


def frechet_distance(a: np.ndarray | Stats, b: np.ndarray | Stats, eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.

    ``a`` and ``b`` are features ``[N, D]`` or ``(mu, sigma)`` tuples from ``gaussian_stats``. As in the FID
    reference code, a non-finite matrix square root is retried with ``eps * I`` added to both covariances, and
    the imaginary part that round-off gives ``sqrtm`` is dropped. The result is clipped at 0.
    """
    mu1, s1 = _as_stats(a)
    mu2, s2 = _as_stats(b)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}.")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)


def fd_ratio(features: np.ndarray, labels: np.ndarray, seed: int = 0,
             names: Sequence[str] | None = None, pca_dim: int | None = None) -> dict[str, Any]:
    """FD ratio = mean inter-source FD / mean intra-source FD; larger means sources are more separable.

    Exact averaging (the README quotes this):

    0. Only if ``pca_dim`` is given and the features have more dimensions: all features are first projected on
       their ``pca_dim`` leading principal components (one PCA over every row, all sources together), which
       keeps the D x D matrix square roots affordable for pixel-sized features.
    1. Each source's features (rows of ``features`` whose label is that source) are shuffled with
       ``numpy.random.default_rng(seed)`` and split into two halves A and B of equal size (an odd last row is
       dropped).
    2. intra(s) = FD(A_s, B_s) for every source s; the denominator is the mean over sources.
    3. inter(i, j) = FD(A_i, B_j) for every unordered pair of sources i < j; the numerator is the mean over
       pairs.

    Every FD therefore compares two disjoint half-sets of the same size, so FD's finite-sample bias (which grows
    as samples shrink and as D grows) is the same above and below the line: features that do not differ
    between sources give a ratio near 1. Sources are the sorted distinct labels; ``names`` (one per source, in
    that order) label the per-pair and per-source entries, which default to the label values.

    Returns ``{"fd_ratio", "fd_inter_mean", "fd_intra_mean", "fd_inter": {"a|b": fd}, "fd_intra": {"a": fd},
    "n_per_half": {"a": n}, "dim": D}``.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2 or len(f) != len(y):
        raise ValueError(f"features must be [N, D] with one label per row; got {f.shape} and {y.shape}.")
    sources = np.unique(y)
    if len(sources) < 2:
        raise ValueError("the FD ratio needs features of at least two sources.")
    if names is not None and len(names) != len(sources):
        raise ValueError(f"got {len(names)} names for {len(sources)} sources.")
    keys = [str(n) for n in names] if names is not None else [str(s) for s in sources]
    if pca_dim is not None and f.shape[1] > pca_dim:
        f = PCA(n_components=int(pca_dim), random_state=seed).fit_transform(f)
    rng = np.random.default_rng(seed)
    halves: list[tuple[Stats, Stats]] = []
    n_half: dict[str, int] = {}
    for key, s in zip(keys, sources, strict=True):
        idx = rng.permutation(np.flatnonzero(y == s))
        h = len(idx) // 2
        if h < 2:
            raise ValueError(f"source {key!r} has {len(idx)} feature vectors; the FD ratio needs at least 4.")
        halves.append((gaussian_stats(f[idx[:h]]), gaussian_stats(f[idx[h : 2 * h]])))
        n_half[key] = h
    intra = {keys[i]: frechet_distance(a, b) for i, (a, b) in enumerate(halves)}
    inter = {f"{keys[i]}|{keys[j]}": frechet_distance(halves[i][0], halves[j][1])
             for i in range(len(keys)) for j in range(i + 1, len(keys))}
    inter_mean = float(np.mean(list(inter.values())))
    intra_mean = float(np.mean(list(intra.values())))
    ratio = inter_mean / intra_mean if intra_mean > 0 else float("inf")
    return {"fd_ratio": ratio, "fd_inter_mean": inter_mean, "fd_intra_mean": intra_mean,
            "fd_inter": inter, "fd_intra": intra, "n_per_half": n_half, "dim": int(f.shape[1])}
