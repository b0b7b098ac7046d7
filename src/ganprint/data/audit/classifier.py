"""The metadata-only classifier: can a file's container properties alone tell its source?

Features are the file properties that say how an image was stored, not what it shows: container format, JPEG
quality and chroma subsampling, width, height, colour mode, bit depth, EXIF and ICC presence. Bytes per pixel
is measured and reported but left out by default: for lossless files it is a function of the pixels (a noisy
generator's PNGs are larger), i.e. of the fingerprint the models are meant to learn.

A decision tree (scikit-learn) is tuned like the baselines: each source's files are split 60/20/20 by a
permutation seeded by the source's name, every depth of the grid is fitted on train and scored on val, the
best (the shallowest on a tie) is refitted on train and scored on test. The same is done for each property
alone, which names the property that separates the sources. May be imported by anything under ``ganprint.data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from ganprint.data.splits import stable_seed

CATEGORICAL = ("format", "subsampling", "mode")
NUMERIC = ("jpeg_quality", "width", "height", "bit_depth", "exif", "icc", "bytes_per_pixel")
DEFAULT_FEATURES = ("format", "jpeg_quality", "subsampling", "width", "height", "mode", "bit_depth", "exif", "icc")
DEPTHS = (1, 2, 3, 4, 6, 8, None)   # searched in this order: on a tie in validation accuracy the shallower wins
MIN_FILES = 5                        # per source, for a 60/20/20 split with a file in each part


@dataclass
class Encoded:
    x: np.ndarray                       # [N, D] float
    columns: dict[str, list[int]]       # property -> its columns


def encode(rows: Sequence[dict[str, Any]], features: Sequence[str]) -> Encoded:
    """Properties as numbers: categorical ones one-hot over the values seen, missing numbers as -1."""
    cols: list[np.ndarray] = []
    columns: dict[str, list[int]] = {}
    for prop in features:
        start = len(cols)
        if prop in CATEGORICAL:
            values = sorted({str(r.get(prop)) for r in rows})
            for v in values:
                cols.append(np.array([str(r.get(prop)) == v for r in rows], dtype=np.float64))
        elif prop in NUMERIC:
            cols.append(np.array([-1.0 if r.get(prop) is None else float(r[prop]) for r in rows]))
        else:
            raise ValueError(f"unknown audit feature {prop!r}; choose from {CATEGORICAL + NUMERIC}.")
        columns[prop] = list(range(start, len(cols)))
    return Encoded(np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0)), columns)


def split_indices(labels: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """60/20/20 per source, each source's files permuted by a seed of its name alone."""
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label, name in enumerate(names):
        idx = np.flatnonzero(labels == label)
        idx = idx[np.random.default_rng(stable_seed("audit", name)).permutation(len(idx))]
        n_val = n_test = max(1, round(0.2 * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    return {k: np.concatenate(v) for k, v in parts.items()}


def tuned_tree_accuracy(x: np.ndarray, y: np.ndarray, split: dict[str, np.ndarray]) -> tuple[float, dict[str, Any]]:
    """Test accuracy of the tree whose depth was chosen on val (refitted on train); and the grid."""
    grid = []
    for depth in DEPTHS:
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x[split["train"]], y[split["train"]])
        grid.append({"max_depth": depth, "val_acc": float(np.mean(tree.predict(x[split["val"]]) == y[split["val"]]))})
    best = max(range(len(grid)), key=lambda i: (grid[i]["val_acc"], -i))
    tree = DecisionTreeClassifier(max_depth=DEPTHS[best], random_state=0).fit(x[split["train"]], y[split["train"]])
    pred = tree.predict(x[split["test"]])
    acc = float(np.mean(pred == y[split["test"]]))
    return acc, {"selected": {"max_depth": DEPTHS[best]}, "grid": grid, "test_pred": pred}


def metadata_classifier(rows: Sequence[dict[str, Any]], labels: np.ndarray, names: Sequence[str],
                        features: Sequence[str] = DEFAULT_FEATURES) -> dict[str, Any]:
    """Test accuracy of the metadata-only classifier, of each property alone, and the majority-class rate; and,
    per source, the balanced accuracy of telling its files from all others' (``per_source``, 0.5 = chance)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=len(names))
    if len(names) < 2 or counts.min() < MIN_FILES:
        few = [n for n, c in zip(names, counts, strict=True) if c < MIN_FILES]
        return {"skipped": f"needs at least {MIN_FILES} readable files in each of two or more sources "
                           f"({', '.join(few) or 'only one source'} short)"}
    enc = encode(rows, features)
    split = split_indices(labels, names)
    y_test = labels[split["test"]]
    majority = float(np.bincount(y_test, minlength=len(names)).max() / len(y_test))
    acc, fit = tuned_tree_accuracy(enc.x, labels, split)
    fit.pop("test_pred")
    # One source against the rest, as balanced accuracy (50 % = indistinguishable): which sources stand out.
    recall = {}
    for i, n in enumerate(names):
        _, one = tuned_tree_accuracy(enc.x, (labels == i).astype(int), split)
        hit = one["test_pred"] == (y_test == i)
        recall[n] = float((hit[y_test == i].mean() + hit[y_test != i].mean()) / 2)
    per_property = {p: tuned_tree_accuracy(enc.x[:, cols], labels, split)[0] for p, cols in enc.columns.items()}
    return {"test_acc": acc, "majority": majority, "n_train": len(split["train"]), "n_val": len(split["val"]),
            "n_test": len(split["test"]), "features": list(features), "per_source": recall, **fit,
            "per_property": dict(sorted(per_property.items(), key=lambda kv: -kv[1]))}
