"""The attribution LightningModule: one module for every attribution network.

It owns the loss (cross-entropy), the optimizer, torchmetrics (overall and per-source accuracy, confusion
matrix, best validation accuracy) and what a checkpoint must carry (the source names in label order and the
network's spec), so a checkpoint can never be used with a shuffled label map. Networks come in through config
(``model.net._target_``). Takes tensors only.

An optional ``attack`` (a callable ``attack(net, x, y, seed) -> x_adv``, e.g.
``ganprint.transforms.adversarial.PGDAttack`` from ``conf/attack/``) is applied to every test batch, and, when
its ``train`` flag is set, to a fraction of every training batch (adversarial fine-tuning). It is a property of
the run, not of the network: it is neither saved as a hyperparameter nor carried by the checkpoint. Built by
``tasks/train.py`` (through ``cfg.model``), ``tasks/evaluate.py`` sets it on a loaded checkpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

CHECKPOINT_FORMAT = 1


def takes_total_steps(factory: Callable[..., Any]) -> bool:
    """Whether a scheduler partial still needs ``total_steps`` (OneCycleLR), which only the trainer knows."""
    func = getattr(factory, "func", factory)
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "total_steps" in params and "total_steps" not in getattr(factory, "keywords", {})


class AttributionModule(pl.LightningModule):
    """Cross-entropy training of ``net`` over the sources ``source_names`` (their order is the label order).

    ``optimizer`` is a partial (Hydra ``_partial_: true``) that takes the parameters; the paper's attNet uses
    Adam(lr=1e-3, betas=(0, 0.99), eps=1e-8). ``hflip`` mirrors half of each training batch (the paper's only
    augmentation). ``attack``: see the module docstring; validation is attacked only when the attack trains
    (``attack.train``), so adversarial training keeps its most robust checkpoint while every other run (and
    perturbation immunization) keeps the best clean one.

    Logging: the step loss is logged every step as a plain tensor; torchmetrics objects are only updated in the
    steps and logged with ``on_epoch=True``, so Lightning computes them once per epoch (per-step ``forward``
    and ``on_step`` logging of metric objects cost several ms of CPU per step).
    """

    def __init__(
        self,
        net: nn.Module,
        source_names: Sequence[str],
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        hflip: bool = True,
        compile: bool = False,
        attack: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters({"source_names": list(source_names), "hflip": bool(hflip), "compile": bool(compile)})
        self.net = net
        self.source_names = list(source_names)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        n = len(self.source_names)
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.test_acc_per_source = MulticlassAccuracy(num_classes=n, average=None)
        self.test_confusion = MulticlassConfusionMatrix(num_classes=n)
        self.val_acc_best = MaxMetric()
        self.attack = attack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net = torch.compile(self.net)

    # -- steps ---------------------------------------------------------------------------------------
    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        if not self.hparams.hflip:
            return x
        mask = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
        return torch.where(mask, x.flip(-1), x)

    def _attack_seed(self, batch_idx: int) -> int:
        # Deterministic per batch and rank: the same checkpoint and data give the same adversarial test set.
        return (int(batch_idx) << 16) + int(self.global_rank)

    def _adversarial_batch(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Replace the first ``attack.fraction`` of the batch by attack examples against the current network."""
        n = int(round(float(getattr(self.attack, "fraction", 1.0)) * x.shape[0]))
        if n <= 0:
            return x
        # A fresh random start every optimizer step (the seed is the step), reproducible for a given run.
        x_adv = self.attack(self.net, x[:n], y[:n], seed=(int(self.global_step) << 16) + int(self.global_rank))
        return torch.cat([x_adv, x[n:]]) if n < x.shape[0] else x_adv

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        x = self._flip(x)
        if self.attack is not None and getattr(self.attack, "train", False):
            x = self._adversarial_batch(x, y)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc.update(logits.detach(), y)
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_start(self) -> None:
        # Lightning runs a sanity validation before training; it must not count towards the best accuracy.
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        if self.attack is not None and getattr(self.attack, "train", False):
            # Adversarial training selects its best checkpoint by accuracy under the attack: selected by clean
            # accuracy it keeps a less robust epoch (tests/models/test_adversarial.py's run: 0.52 instead of
            # 0.65 under PGD).
            x = self.attack(self.net, x, y, seed=self._attack_seed(batch_idx))
        logits = self(x)
        self.val_loss.update(F.cross_entropy(logits, y))
        self.val_acc.update(logits, y)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        if self.attack is not None:
            x = self.attack(self.net, x, y, seed=self._attack_seed(batch_idx))
        logits = self(x)
        self.test_loss.update(F.cross_entropy(logits, y))
        self.test_acc.update(logits, y)
        self.test_acc_per_source.update(logits, y)
        self.test_confusion.update(logits, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    def on_test_epoch_end(self) -> None:
        per_source = self.test_acc_per_source.compute()
        for name, acc in zip(self.source_names, per_source, strict=True):
            self.log(f"test/acc_{name}", acc, sync_dist=True)
        # Put into callback_metrics (not self.log: it is not a scalar) so it survives ddp_spawn's hand-back.
        self.trainer.callback_metrics["test/confusion_matrix"] = self.test_confusion.compute().cpu()
        self.test_acc_per_source.reset()
        self.test_confusion.reset()

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).softmax(dim=-1)

    # -- optimisation and checkpoints -----------------------------------------------------------------
    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ValueError("no optimizer configured; set `model.optimizer` (see conf/model/attnet.yaml).")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        if takes_total_steps(self.scheduler_factory):
            # A per-step schedule (OneCycleLR): its length is the run's, however the budget was set (epochs or
            # trainer.max_steps), so a scale that changes the budget never leaves the schedule half-run.
            total = int(self.trainer.estimated_stepping_batches)
            scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=max(total, 1))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer),
                                                         "monitor": "val/loss", "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        net = getattr(self.net, "_orig_mod", self.net)
        checkpoint["ganprint"] = {"format": CHECKPOINT_FORMAT, "kind": "attribution",
                                  "module": f"{type(self).__module__}.{type(self).__qualname__}",
                                  "source_names": list(self.source_names), "net": net.spec()}
