"""Stores the training files' input profile (formats, sizes, modes; ``data/audit/profile.py``) in every checkpoint.

It goes under its own key, ``ganprint_inputs``, because the module writes the ``ganprint`` key after the
callbacks have run. ``ganprint-attribute`` reads it to warn about inputs unlike anything trained on.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

CHECKPOINT_KEY = "ganprint_inputs"


class InputProfile(pl.Callback):
    def __init__(self, profile: dict[str, Any]) -> None:
        self.profile = dict(profile)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.profile
