"""Silencing what Lightning prints on every run that asks nothing of the user.

Each filter names one message, never a whole category: a new warning still shows. May be imported by anything.
"""

from __future__ import annotations

import logging
import warnings

# Messages that are expected here, with why.
NOISE_WARNINGS = (
    # every resumed or re-run job writes into its own checkpoint folder again (tasks/train.py: resume_path)
    r".*Checkpoint directory .* exists and is not empty.*",
    # the data are in-memory tensors: worker processes would only copy them (scale.num_workers says so)
    r".*does not have many workers.*",
    # raised inside Lightning's own code under torch 2.13; nothing a user can change
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                     "lightning_fabric.utilities.rank_zero")


class _DropTips(logging.Filter):
    """Lightning's advertisements ("💡 Tip: ... install litlogger")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


_TIPS = _DropTips()


def silence_lightning_noise() -> None:
    """Install the filters; safe to call again."""
    for pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if _TIPS not in logger.filters:
            logger.addFilter(_TIPS)
