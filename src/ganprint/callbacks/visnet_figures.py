"""visNet's fingerprint figures (the paper's fingerprint visualisation), written when a visNet model is tested.

At test end, into ``<trainer.default_root_dir>/figures/``: the model fingerprints, image fingerprints of a few
test images per source, their responses to each model fingerprint, and the source x source response matrix
that ``VisNetModule`` computes (``test/response_matrix``). The figures come from the EMA network, as everything
visNet evaluates; with a wandb logger they are also logged as ``figures/<name>``. Drawing is
``reporting.fingerprint_figures``; this callback holds the model and hands it arrays. Does nothing for
other models, so the default callback set can carry it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from ganprint.models.visnet_module import VisNetModule
from ganprint.reporting import fingerprint_figures as ff
from ganprint.utils.loggers import log_images

log = logging.getLogger("ganprint")
FIGURES = ("model_fingerprints", "image_fingerprints", "responses", "response_matrix")


class VisNetFigures(pl.Callback):
    """``samples`` test images per source go into the figures (0: no figures); None takes the module's
    ``figure_samples`` (``model.figure_samples``, saved with every visNet checkpoint)."""

    def __init__(self, samples: int | None = None) -> None:
        self.samples = samples
        self._kept: list[list[torch.Tensor]] = []

    def _count(self, pl_module: pl.LightningModule) -> int:
        if not isinstance(pl_module, VisNetModule):
            return 0
        return int(pl_module.hparams.figure_samples if self.samples is None else self.samples)

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._kept = [[] for _ in getattr(pl_module, "source_names", ())]

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        k = self._count(pl_module)
        if k <= 0:
            return
        x, y = batch[0], batch[1]
        for s, kept in enumerate(self._kept):
            need = k - sum(len(t) for t in kept)
            if need > 0:
                kept.append(x[y == s][:need].detach().cpu())

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the module's on_test_epoch_end, which puts the response matrix into callback_metrics.
        if not trainer.is_global_zero or self._count(pl_module) <= 0:
            return
        matrix = trainer.callback_metrics.get("test/response_matrix")
        if matrix is None:
            return
        try:
            paths = write_figures(pl_module, self._kept, Path(trainer.default_root_dir) / "figures",
                                  matrix.cpu().numpy())
        except (OSError, ValueError) as exc:  # a figure must never cost the run its test results
            log.warning("visNet figures were not written: %s", exc)
        else:
            log_images(trainer.loggers, {f"figures/{name}": path for name, path in paths.items()})
        finally:
            self._kept = []


@torch.no_grad()
def write_figures(module: VisNetModule, samples: list[list[torch.Tensor]], out_dir: str | Path,
                  response_matrix: np.ndarray) -> dict[str, Path]:
    """Write the four fingerprint figures of ``module``'s EMA network into ``out_dir``; ``samples[s]`` holds test
    images of source ``s``. Returns name -> path."""
    out_dir = Path(out_dir)
    net = module.net
    names = module.source_names
    xs, ys = [], []
    for s, kept in enumerate(samples):
        if kept:
            imgs = torch.cat(kept)
            xs.append(imgs)
            ys.append(torch.full((len(imgs),), s, dtype=torch.long))
    paths = {"model_fingerprints": ff.model_fingerprints_figure(
        net.model_fingerprints.float().cpu().numpy(), names, out_dir / "model_fingerprints.png")}
    paths["response_matrix"] = ff.response_matrix_figure(response_matrix, names, out_dir / "response_matrix.png")
    if xs:
        x = torch.cat(xs).to(module.device)
        y = torch.cat(ys).numpy()
        fp = net.image_fingerprint(x)
        logits = net.correlate(fp).float().cpu().numpy()
        fp_np, x_np = fp.float().cpu().numpy(), x.float().cpu().numpy()
        paths["image_fingerprints"] = ff.image_fingerprints_figure(x_np, fp_np, y, names,
                                                                   out_dir / "image_fingerprints.png")
        first = np.array([int(np.flatnonzero(y == s)[0]) for s in sorted(set(y.tolist()))])
        paths["responses"] = ff.responses_figure(fp_np[first], y[first],
                                                 net.model_fingerprints.float().cpu().numpy(), names,
                                                 out_dir / "responses.png", scores=logits[first])
    return paths
