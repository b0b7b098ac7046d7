"""visNet training: the LightningModule of the fingerprint visualization network (official ``classifier_visNet``).

Per batch (manual optimization, as the official loop): one step of the reconstruction critic (WGAN-GP with drift),
one step of the encoder-decoder and the model fingerprints (cross-entropy on the correlation logits + L1
reconstruction + adversarial term), an optional learning-rate schedule step of the encoder-decoder, then the EMA
update of the evaluation copy. Lightning counts both optimizer steps in ``trainer.global_step``, so a budget of
``trainer.max_steps`` trains ``max_steps / 2`` batches and a per-step schedule is sized to that. visNet has its own
budget, ``max_steps`` (``model.max_steps``), which ``conf/trainer/default.yaml`` hands to the trainer. Validation, test, prediction and
everything that reads ``module.net`` (checkpoint spec, FD ratio, attribution) use the EMA copy, as the official
code evaluates and exports ``EGs``. Metrics, confusion matrix and checkpoint metadata come from
``AttributionModule``; at test end the module also computes the source x source response matrix. The fingerprint
figures are drawn by the ``callbacks.VisNetFigures`` callback (in the default callback set). Takes tensors only.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from ganprint.errors import ConfigError
from ganprint.metrics.responses import diagonal_dominance
from ganprint.models.module import AttributionModule, takes_total_steps
from ganprint.models.visnet import ReconstructionCritic, VisNet, gradient_penalty

log = logging.getLogger("ganprint")

OPTIMIZER_STEPS_PER_BATCH = 2  # the critic's, then the encoder-decoder's


class VisNetModule(AttributionModule):
    """visNet over the sources ``source_names`` (their order is the label order).

    ``net`` is the VisNet that is evaluated: it holds the EMA weights and is what ``module.net`` and the
    checkpoint's ``net.*`` keys are. The trained copy is ``trained_net``; the critic ``critic`` is built to
    match ``net``. ``optimizer``/``critic_optimizer`` are partials taking the parameters (the official code:
    Adam(lr 1e-3, betas (0, 0.99), eps 1e-8) for both; ``critic_optimizer=None`` reuses ``optimizer``).
    ``scheduler`` (None: constant, the official code) schedules the encoder-decoder's learning rate, stepped once
    per batch; a partial that takes ``total_steps`` (OneCycleLR) gets the number of batches the run will train.

    Loss weights are the paper's and the official code's: ``cls_weight`` 1, ``rec_weight`` 20 (mean absolute
    reconstruction error), ``adv_weight`` 0.1; critic ``gp_weight`` 10, ``drift_weight`` 0.001. ``ema_beta``
    0.999 as the official ``EGs``; with ``ema_warmup`` the decay is ``min(ema_beta, (1 + t) / (10 + t))`` after
    t updates (``tf.train.ExponentialMovingAverage``'s ``num_updates``), so a short run's evaluation copy is
    not mostly its random initialisation (a constant 0.999 needs thousands of steps; the official run had 781k).
    ``figure_samples`` images per source go into the test figures (0: no figures); the ``VisNetFigures``
    callback reads it.

    ``hflip`` defaults to off, unlike attNet and the official code: a model fingerprint is a fixed image, and a
    horizontal flip moves a source's periodic artefacts to the other phase (at even widths), so with flips only
    their mirror-symmetric part can be matched. At scale=cpu on synthetic5 (2 epochs) flips cost 0.56 vs 0.997
    test accuracy. ``hflip=True`` restores the official setting.
    """

    def __init__(
        self,
        net: VisNet,
        source_names: Sequence[str],
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        critic_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        hflip: bool = False,
        compile: bool = False,
        cls_weight: float = 1.0,
        rec_weight: float = 20.0,
        adv_weight: float = 0.1,
        gp_weight: float = 10.0,
        drift_weight: float = 0.001,
        ema_beta: float = 0.999,
        ema_warmup: bool = True,
        critic_mbstd_group: int = 4,
        figure_samples: int = 4,
        max_steps: int | None = None,
    ) -> None:
        if not 0.0 <= float(ema_beta) < 1.0:
            raise ConfigError(f"model.ema_beta must be in [0, 1), got {ema_beta}.")
        super().__init__(net, source_names, optimizer=optimizer, scheduler=scheduler, hflip=hflip, compile=compile)
        self.save_hyperparameters({
            "source_names": list(source_names), "hflip": bool(hflip), "compile": bool(compile),
            "cls_weight": float(cls_weight), "rec_weight": float(rec_weight), "adv_weight": float(adv_weight),
            "gp_weight": float(gp_weight), "drift_weight": float(drift_weight), "ema_beta": float(ema_beta),
            "ema_warmup": bool(ema_warmup), "critic_mbstd_group": int(critic_mbstd_group),
            "figure_samples": int(figure_samples),
            "max_steps": None if max_steps is None or int(max_steps) < 0 else int(max_steps),
        })
        self.automatic_optimization = False
        self.critic_optimizer_factory = critic_optimizer
        self.trained_net = copy.deepcopy(net)
        self.net.requires_grad_(False)
        self.critic = ReconstructionCritic.matching(net, int(critic_mbstd_group))
        # EMA updates done so far; 0 means "start training from `net`" (a fresh run, or weights loaded into
        # `net` only, e.g. fine-tuning from a parent checkpoint). Saved with the checkpoint, so a resumed run
        # keeps its trained copy.
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.train_rec, self.val_rec, self.test_rec = MeanMetric(), MeanMetric(), MeanMetric()
        n = len(self.source_names)
        self._response_sum = torch.zeros(n, n)
        self._response_count = torch.zeros(n)

    # -- networks ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the evaluation (EMA) copy."""
        return self.net(x)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            _check_ddp(self.trainer)
            budget = self.hparams.max_steps
            if budget and int(self.trainer.max_steps) != budget:
                # conf/trainer/default.yaml hands model.max_steps to the trainer; a trainer.max_steps override wins.
                log.warning("visNet trains %d optimizer steps (trainer.max_steps), not its budget model.max_steps=%d",
                            int(self.trainer.max_steps), budget)
        self._reconstruct = self.trained_net.reconstruct
        if self.hparams.compile and stage == "fit":
            # The bound method, not the module, so parameter names (checkpoints, EMA) stay as they are; the critic
            # stays eager because its gradient penalty needs a double backward.
            self._reconstruct = torch.compile(self.trained_net.reconstruct)

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_updates += 1
        beta = self.hparams.ema_beta
        if self.hparams.ema_warmup:
            t = float(self.ema_updates)
            beta = min(beta, (1.0 + t) / (10.0 + t))
        for e, p in zip(self.net.parameters(), self.trained_net.parameters(), strict=True):
            e.lerp_(p, 1.0 - beta)
        for e, b in zip(self.net.buffers(), self.trained_net.buffers(), strict=True):
            e.copy_(b)

    @torch.no_grad()
    def _start_from_net(self) -> None:
        self.trained_net.load_state_dict(self.net.state_dict())

    # -- training ------------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        x = self._flip(x)
        if int(self.ema_updates) == 0:
            self._start_from_net()
        hp = self.hparams
        opt_eg, opt_d = self.optimizers()
        net = self.trained_net
        reconstruct = getattr(self, "_reconstruct", net.reconstruct)

        # 1. critic: WGAN-GP on reconstructions vs inputs, with the drift term.
        with torch.no_grad():
            fake = reconstruct(x)
        d_real, d_fake = self.critic(x), self.critic(fake)
        gp = gradient_penalty(self.critic, x, fake)
        d_loss = (d_fake - d_real + hp.gp_weight * gp + hp.drift_weight * d_real.pow(2)).mean()
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()

        # 2. encoder-decoder and model fingerprints.
        self.critic.requires_grad_(False)
        rec = reconstruct(x)
        logits = net.correlate(x - rec)
        ce = F.cross_entropy(logits, y)
        rec_l1 = (rec - x).abs().mean()
        adv = -self.critic(rec).mean()
        loss = hp.cls_weight * ce + hp.rec_weight * rec_l1 + hp.adv_weight * adv
        opt_eg.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt_eg.step()
        self.critic.requires_grad_(True)
        self._step_schedule()

        # 3. evaluation copy.
        self._update_ema()

        self.train_loss(ce.detach())
        self.train_acc(logits.detach(), y)
        self.train_rec(rec_l1.detach())
        self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/rec_l1", self.train_rec, on_step=True, on_epoch=True, prog_bar=True)
        self.log_dict({"train/d_loss": d_loss.detach(), "train/gp": gp.detach().mean(),
                       "train/adv": adv.detach(), "train/eg_loss": loss.detach()}, on_step=True, on_epoch=True)
        return loss.detach()

    # -- evaluation (EMA copy) ---------------------------------------------------------------------------
    def _evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.net.reconstruct(x)
        logits = self.net.correlate(x - rec)
        return logits, (rec - x).abs().flatten(1).mean(1)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits, l1 = self._evaluate(x)
        self.val_loss(F.cross_entropy(logits, y))
        self.val_acc(logits, y)
        self.val_rec(l1)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/rec_l1", self.val_rec, on_step=False, on_epoch=True)

    def on_test_epoch_start(self) -> None:
        n = len(self.source_names)
        self._response_sum = torch.zeros(n, n, device=self.device)
        self._response_count = torch.zeros(n, device=self.device)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits, l1 = self._evaluate(x)
        self.test_loss(F.cross_entropy(logits, y))
        self.test_acc(logits, y)
        self.test_acc_per_source.update(logits, y)
        self.test_confusion.update(logits, y)
        self.test_rec(l1)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
        self.log("test/rec_l1", self.test_rec, on_step=False, on_epoch=True)
        self._response_sum.index_add_(0, y, logits.detach().float())
        self._response_count += torch.bincount(y, minlength=len(self.source_names)).float()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        total = self.trainer.strategy.reduce(self._response_sum, reduce_op="sum")
        count = self.trainer.strategy.reduce(self._response_count, reduce_op="sum")
        matrix = (total / count.clamp_min(1).unsqueeze(1)).cpu()
        # Not a scalar, so into callback_metrics directly (as the confusion matrix).
        self.trainer.callback_metrics["test/response_matrix"] = matrix
        present = count.cpu() > 0
        if bool(present.all()):
            self.log("test/response_diag_frac", diagonal_dominance(matrix.numpy(), axis=0))

    # -- optimisation --------------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ConfigError("no optimizer configured; set `model.optimizer` (see conf/model/visnet.yaml).")
        critic_factory = self.critic_optimizer_factory or self.optimizer_factory
        opt_eg = self.optimizer_factory(params=self.trained_net.parameters())
        optimizers = [opt_eg, critic_factory(params=self.critic.parameters())]
        if self.scheduler_factory is None:
            return optimizers
        if takes_total_steps(self.scheduler_factory):
            scheduler = self.scheduler_factory(optimizer=opt_eg, total_steps=self.batches_to_train())
        else:
            scheduler = self.scheduler_factory(optimizer=opt_eg)
        return optimizers, [scheduler]

    def batches_to_train(self) -> int:
        """Batches this run trains: the epoch budget, or ``trainer.max_steps`` over the two optimizer steps a
        batch takes, whichever ends first (Lightning's estimate counts a batch as one step)."""
        total = int(self.trainer.estimated_stepping_batches)
        if int(self.trainer.max_steps) > 0:
            total = min(total, math.ceil(int(self.trainer.max_steps) / OPTIMIZER_STEPS_PER_BATCH))
        return max(total, 1)

    def _step_schedule(self) -> None:
        scheduler = self.lr_schedulers()
        if scheduler is None:
            return
        # A fixed-length schedule refuses a step past its end; a run that trains a batch more than estimated
        # (a resumed epoch's last partial batch) keeps the final learning rate instead of failing.
        end = getattr(scheduler, "total_steps", None)
        if end is None or scheduler.last_epoch < end:
            scheduler.step()


def _check_ddp(trainer) -> None:
    from pytorch_lightning.strategies import DDPStrategy

    strategy = getattr(trainer, "strategy", None)
    if isinstance(strategy, DDPStrategy) and not getattr(strategy, "_ddp_kwargs", {}).get("find_unused_parameters"):
        raise ConfigError("visNet takes two optimizer steps per batch (critic, then encoder-decoder), each leaving "
                          "the other's parameters without gradients; under DDP set "
                          "trainer.strategy=ddp_find_unused_parameters_true.")
