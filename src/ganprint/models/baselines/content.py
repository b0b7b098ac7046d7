"""Content features + kNN: the paper's Inception-feature baseline, with a content classifier trained in-project.

Yu et al. attribute with Inception features, which were trained to recognise *content*, not source. Inception
weights cannot be downloaded here, so the same role is played by ``ContentClassifier``, a small CNN trained on
the real data's own class labels (Fashion-MNIST's 10 product classes); its penultimate layer is the feature
space and a kNN attributes in it (k chosen on the validation split from one neighbour search, as in knn.py).
Any other content network (e.g. a locally available Inception) can be used instead by passing
``content_model=``: a ``torch.nn.Module`` whose ``embed(x)`` maps float images ``[N, C, H, W]`` in [-1, 1] to
``[N, D]`` features.

The trained classifier is cached in ``cache_dir`` under a hash of its configuration and of the training
images and labels (state_dict only, written atomically, read back with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track as rich_track
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from ganprint.errors import ConfigError
from ganprint.models.baselines.base import Baseline, check_images, check_labels
from ganprint.models.baselines.knn import DEFAULT_K_GRID, Track, knn_grid_predictions, plain_track, usable_k
from ganprint.models.inference import net_outputs
from ganprint.utils.atomic import atomic_write
from ganprint.utils.pixels import to_signed


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` to float ``[N, C, H, W]`` in [-1, 1] (the data module's convention)."""
    return to_signed(torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2))


class ContentClassifier(nn.Module):
    """Three conv+BN blocks, average pooling to 4x4, a ``feature_dim`` hidden layer (the features), a classifier.

    The adaptive pooling makes it work at any resolution (32x32 at the cpu scale, 128x128 at the paper scale).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, feature_dim: int = 128) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        w = int(width)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(16 * 4 * w, feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``[N, feature_dim]``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def content_cache_key(images: np.ndarray, labels: np.ndarray, config: dict[str, Any]) -> str:
    """Hash of the training images, labels and training configuration (the cache file's name)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels.astype(np.int64)).tobytes())
    return h.hexdigest()[:20]


def train_content_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 2, seed: int = 0,
                             batch_size: int = 64, lr: float = 2e-3, width: int = 16, feature_dim: int = 128,
                             cache_dir: str | Path | None = None, progress: bool = True,
                             track: Track | None = None) -> ContentClassifier:
    """Train a ``ContentClassifier`` on real images (uint8 ``[N, H, W, C]``) and their content labels.

    Plain Adam + cross-entropy loop, seeded (initialisation and batch order). With ``cache_dir`` the result
    is reused when the same images, labels and settings come again. Returns the model in eval mode.
    """
    images = check_images(images, "the content classifier's real images")
    labels = check_labels(labels, len(images), "the content classifier's labels")
    if labels.min() < 0:
        raise ConfigError("content labels must be non-negative class indices (the real source's product classes).")
    config = {"in_channels": int(images.shape[-1]), "num_classes": int(labels.max()) + 1, "width": int(width),
              "feature_dim": int(feature_dim), "epochs": int(epochs), "seed": int(seed),
              "batch_size": int(batch_size), "lr": float(lr), "version": 1}
    arch = {k: config[k] for k in ("in_channels", "num_classes", "width", "feature_dim")}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"content_classifier-{content_cache_key(images, labels, config)}.pt"
        if path.is_file():
            model = ContentClassifier(**arch)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
            return model.eval()

    torch.manual_seed(seed)
    model = ContentClassifier(**arch)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64))
    steps_per_epoch = (len(images) + batch_size - 1) // batch_size
    steps = ((e, s) for e in range(epochs) for s in range(steps_per_epoch))
    track = track or (rich_track_adapter if progress else plain_track)
    model.train()
    order = None
    for _epoch, step in track(steps, "content classifier: training", epochs * steps_per_epoch):
        if step == 0:
            order = torch.randperm(len(images), generator=gen)
        idx = order[step * batch_size : (step + 1) * batch_size]
        xb = to_signed(x_all[idx].permute(0, 3, 1, 2))
        loss = F.cross_entropy(model(xb), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    if path is not None:
        payload = {"state_dict": model.state_dict(), "config": config}
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return model


def rich_track_adapter(items: Iterable[Any], description: str, total: int) -> Iterable[Any]:
    return rich_track(items, description=description, total=total, transient=True)


def embed_images(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """``model.embed`` over uint8 images in batches; float32 ``[N, D]``."""
    return net_outputs(model, x, ["embed"], batch_size)["embed"].numpy()


class ContentKNNBaseline(Baseline):
    """kNN on a content network's features; k is chosen on the validation split.

    The content network is, in order: ``content_model`` if given; else a ``ContentClassifier`` trained on the
    real images given to ``set_content_data`` (cached in ``cache_dir``). Those images must not include the
    attribution test split's images (use the real source's training images).
    """

    name = "content_knn"

    def __init__(self, k_grid: Sequence[int] = DEFAULT_K_GRID, epochs: int = 2, batch_size: int = 64,
                 lr: float = 2e-3, width: int = 16, feature_dim: int = 128, cache_dir: str | Path | None = None,
                 content_model: nn.Module | None = None, seed: int = 0, progress: bool = True) -> None:
        super().__init__(seed=seed, progress=progress)
        self.k_grid = [int(k) for k in k_grid]
        self.train_kwargs = {"epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr),
                             "width": int(width), "feature_dim": int(feature_dim)}
        self.cache_dir = cache_dir
        self.content_model = content_model
        self._content_data: tuple[np.ndarray, np.ndarray] | None = None
        self._train_feats: np.ndarray | None = None
        self._knn: KNeighborsClassifier | None = None

    def set_content_data(self, images: np.ndarray, labels: np.ndarray) -> ContentKNNBaseline:
        """Real images (uint8 ``[N, H, W, C]``) and their content labels, to train the content classifier on."""
        images = check_images(images, "content images")
        self._content_data = (images, check_labels(labels, len(images), "content labels"))
        return self

    def ensure_content_model(self) -> nn.Module:
        if self.content_model is None:
            if self._content_data is None:
                raise ConfigError("content_knn needs real images with content labels to train its content "
                                  "classifier: call `set_content_data(images, labels)` (the train entry point "
                                  "does this from the real source) or pass `content_model=`.")
            images, labels = self._content_data
            self.content_model = train_content_classifier(
                images, labels, seed=self.seed, cache_dir=self.cache_dir, progress=self.progress,
                track=self._track if self.progress else None, **self.train_kwargs)
        return self.content_model

    def _prepare(self, train_x: np.ndarray, train_y: np.ndarray) -> None:
        self.ensure_content_model()
        self._train_feats = self.features(train_x)

    def param_grid(self) -> list[dict[str, Any]]:
        n = len(self._train_feats) if self._train_feats is not None else max(self.k_grid)
        return [{"k": k} for k in reversed(usable_k(self.k_grid, n))]  # ties go to the larger k

    def _fit_candidate(self, params: dict[str, Any], train_x: np.ndarray, train_y: np.ndarray) -> None:
        self._knn = KNeighborsClassifier(n_neighbors=int(params["k"]), algorithm="brute")
        self._knn.fit(self._train_feats, train_y)

    def _grid_val_accuracies(self, grid: list[dict[str, Any]], train_x: np.ndarray, train_y: np.ndarray,
                             val_x: np.ndarray, val_y: np.ndarray) -> list[float]:
        pred = knn_grid_predictions(self._train_feats, train_y, self.features(val_x), [p["k"] for p in grid],
                                    track=self._track, name=self.name)
        return [float(np.mean(pred[int(p["k"])] == val_y)) for p in grid]

    def features(self, x: np.ndarray) -> np.ndarray:
        model = self.ensure_content_model()
        x = check_images(x, "images")
        expected = getattr(model, "in_channels", x.shape[-1])
        if expected != x.shape[-1]:
            raise ConfigError(f"the content network takes {expected}-channel images but got {x.shape[-1]}; give "
                              f"set_content_data real images at the same data.channels as the source set.")
        return embed_images(model, x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._knn.predict_proba(self.features(x))

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x)
