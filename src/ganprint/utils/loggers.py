"""Experiment loggers: wandb offline unless the user is logged in, images sent to it from any layer, and making
sure every run is finished. May be imported by anything in ganprint."""

from __future__ import annotations

import netrc
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import WandbLogger


def wandb_logged_in() -> bool:
    """True when a wandb API key is set or stored (``wandb login`` writes it to ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_logger(offline: bool | str = "auto", save_dir: str = ".", **kwargs) -> WandbLogger:
    """A WandbLogger that runs offline unless the user is logged in (``offline=auto``)."""
    if offline == "auto":
        offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_logged_in()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(offline=bool(offline), save_dir=save_dir, **kwargs)



def log_images(loggers: Iterable[Any] | None, images: Mapping[str, Any], caption: str | None = None) -> int:
    """Send each image (a file path or an HWC array) under its key to every wandb logger among ``loggers`` (a
    trainer's or module's ``loggers``); other loggers keep their figures on disk. Returns how many were sent."""
    sent = 0
    for lg in loggers or []:
        if isinstance(lg, WandbLogger):
            for key, image in images.items():
                lg.log_image(key=key, images=[str(image) if isinstance(image, Path) else image],
                             **({"caption": [caption]} if caption is not None else {}))
                sent += 1
    return sent

def finish_wandb() -> None:
    """Close the current wandb run so the next job of a multirun gets its own (ashleve/lightning-hydra-template #289)."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()
