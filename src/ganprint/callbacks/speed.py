"""Training throughput: images per second over the training batches only (validation excluded)."""

from __future__ import annotations

import time

import pytorch_lightning as pl


class TrainingSpeed(pl.Callback):
    """Counts images and the wall time spent inside training batches (forward, backward, step, loading).

    ``images_per_s`` is logged as ``train/images_per_s`` at each epoch end and kept for the run record.
    The first ``skip_batches`` batches are left out: they include one-off warm-up costs.
    """

    def __init__(self, skip_batches: int = 2) -> None:
        self.skip_batches = skip_batches
        self.images = 0
        self.seconds = 0.0
        self._seen = 0
        self._last_end: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last_end = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        self._seen += 1
        if self._last_end is not None and self._seen > self.skip_batches:
            # Time since the previous batch ended includes data loading of this batch, as it should.
            self.seconds += now - self._last_end
            self.images += int(batch[0].shape[0]) * trainer.world_size
        self._last_end = now

    def on_validation_start(self, trainer, pl_module) -> None:
        self._last_end = None

    def on_validation_end(self, trainer, pl_module) -> None:
        self._last_end = time.perf_counter()

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.seconds > 0:
            pl_module.log("train/images_per_s", self.images_per_s, sync_dist=False, rank_zero_only=True)

    def state_dict(self) -> dict:
        return {"images": self.images, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict) -> None:
        self.images = state_dict.get("images", 0)
        self.seconds = state_dict.get("seconds", 0.0)
