"""PGD through the attribution module: test batches attacked (``attack=pgd``), adversarial fine-tuning
(``attack.train=true``), the attack config group, and a small run where adversarial fine-tuning pays off."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import hydra
import pytest
import pytorch_lightning as pl
import torch
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist
from torch.utils.data import DataLoader, TensorDataset

from ganprint.errors import ConfigError
from ganprint.models.module import AttributionModule
from ganprint.tasks.evaluate import build_attack, evaluate
from ganprint.tasks.train import train
from ganprint.transforms.adversarial import PGDAttack, pgd_attack
from ganprint.utils.run_record import read_run_record


class LinearNet(torch.nn.Module):
    """Two classes told apart by a ±0.04 (about ±5 grey levels) pattern: clean-perfect, PGD-fragile at eps 8."""

    def __init__(self, direction: torch.Tensor) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(direction.numel(), 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.stack([-direction.flatten(), direction.flatten()]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def linear_problem(n: int = 64):
    g = torch.Generator().manual_seed(0)
    direction = torch.sign(torch.randn(1, 4, 4, generator=g))
    y = torch.arange(n) % 2
    x = (0.04 * (2 * y.float() - 1)).view(-1, 1, 1, 1) * direction + 0.01 * torch.randn(n, 1, 4, 4, generator=g)
    return LinearNet(direction), x.clamp(-1, 1), y


@dataclass
class Recording:
    """An attack that records who called it (training or not) and on how many images."""

    inner: PGDAttack
    train: bool = True
    fraction: float = 0.25
    calls: list[tuple[bool, int]] = field(default_factory=list)

    def __call__(self, model, x, y, seed=0):
        self.calls.append((model.training, x.shape[0]))
        return self.inner(model, x, y, seed)


def trainer(**kw) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, **kw)


def test_pgd_attack_step_size_follows_the_budget_and_bad_values_name_the_key():
    assert PGDAttack().step_size == 2.0  # 2.5 * 8 / 10
    assert PGDAttack(eps=4, steps=5).step_size == 2.0 and PGDAttack(eps=4, alpha=0.5).step_size == 0.5
    with pytest.raises(ValueError, match="attack.fraction"):
        PGDAttack(fraction=1.5)
    with pytest.raises(ValueError, match="attack.steps"):
        PGDAttack(eps=8, steps=0)
    model, x, y = linear_problem(4)
    with pytest.raises(ValueError, match="attack.eps"):
        pgd_attack(model, x, y, eps=-1, alpha=1, steps=1)


def test_test_step_attacks_every_batch_and_training_attacks_its_fraction():
    net, x, y = linear_problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    module = AttributionModule(net, ["a", "b"], optimizer=partial(torch.optim.SGD, lr=0.0), hflip=False)
    clean = trainer().test(module, loader, verbose=False)[0]["test/acc"]
    module.attack = PGDAttack(eps=8.0, steps=10)
    attacked = trainer().test(module, loader, verbose=False)[0]["test/acc"]
    again = trainer().test(module, loader, verbose=False)[0]["test/acc"]
    assert clean == 1.0 and attacked < 0.1 and again == attacked  # seeded per batch: the same adversarial set

    rec = Recording(PGDAttack(eps=8.0, steps=2), fraction=0.25)
    module = AttributionModule(LinearNet(torch.ones(1, 4, 4)), ["a", "b"], optimizer=partial(torch.optim.SGD, lr=0.01),
                               hflip=False, attack=rec)
    t = trainer(max_epochs=1)
    t.fit(module, loader, DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16))
    train_calls = [n for training, n in rec.calls if training]
    val_calls = [n for training, n in rec.calls if not training]
    assert train_calls == [2] * 8  # a quarter of each batch of 8, every step
    assert val_calls == [16, 16]  # sanity check + the epoch: adversarial training validates under attack
    for key in ("train/loss_step", "train/loss_epoch", "train/acc", "val/acc", "val/loss", "val/acc_best"):
        assert key in t.callback_metrics, key


def test_attack_group_reaches_the_module_in_train_and_the_evaluator(tmp_path):
    cfg = compose_cfg("train", tmp_path, ["scale=smoke"])
    assert cfg.attack is None and hydra.utils.instantiate(cfg.model, source_names=list("abcde")).attack is None
    cfg = compose_cfg("train", tmp_path, ["scale=smoke", "attack=pgd", "attack.eps=4", "attack.train=true"])
    attack = hydra.utils.instantiate(cfg.model, source_names=list("abcde")).attack
    assert attack == PGDAttack(eps=4, train=True) and attack.step_size == 1.0
    assert build_attack(compose_cfg("eval", tmp_path, ["ckpt=x", "attack=pgd"])) == PGDAttack()
    assert build_attack(compose_cfg("eval", tmp_path, ["ckpt=x"])) is None
    with pytest.raises(ConfigError, match="attack.fraction"):
        build_attack(compose_cfg("eval", tmp_path, ["ckpt=x", "attack=pgd", "attack.fraction=2"]))


@requires_fmnist
def test_adversarial_fine_tuning_raises_accuracy_under_pgd(smoke_train_cfg, tmp_path):
    # Smoke scale, real + 2 synthetic sources with a stronger fingerprint (strength 0.6) so that 3 epochs give a
    # usable attributor (~87 % clean) in seconds. PGD: eps 24 grey levels, 3 steps, in every run's test step.
    data = ["sources=synthetic3", "+sources.members.1.strength=0.6", "+sources.members.2.strength=0.6",
            "scale.counts.train=200", "scale.counts.test=100", "analysis.fd_ratio=false"]
    attack = ["attack=pgd", "attack.eps=24", "attack.steps=3"]

    def run(name: str, *overrides: str) -> float:
        cfg = compose_cfg("train", tmp_path / name, ["scale=smoke", "logger=none", "callbacks.progress_bar=null",
                                                     *data, *attack, *overrides])
        return train(cfg)["test/acc"]

    base = run("base", "scale.max_epochs=3")  # trained clean, tested under PGD
    parent = tmp_path / "base" / "checkpoints" / "best.ckpt"
    clean_ft = run("clean_ft", f"init_ckpt={parent}", "scale.max_epochs=2")
    adv_ft = run("adv_ft", f"init_ckpt={parent}", "scale.max_epochs=2", "attack.train=true")
    # measured: base 0.27, clean fine-tuning 0.34, adversarial fine-tuning 0.65 (3-way chance 0.33)
    assert base < 0.4 and adv_ft > base + 0.2 and adv_ft > clean_ft + 0.15, (base, clean_ft, adv_ft)

    # ganprint-eval under the same attack gives the same number (attack seeded per batch), and its record says so
    ckpt = tmp_path / "adv_ft" / "checkpoints" / "best.ckpt"
    eval_common = ["scale=smoke", *data[:-1], f"ckpt={ckpt}"]
    under_attack = evaluate(compose_cfg("eval", tmp_path / "eval_pgd", [*eval_common, *attack]))["test/acc"]
    assert under_attack == pytest.approx(adv_ft, abs=1e-6)
    record = read_run_record(tmp_path / "eval_pgd")
    assert record["metrics"]["test/acc"] == pytest.approx(adv_ft) and record["config"]["attack"]["eps"] == 24
    clean = evaluate(compose_cfg("eval", tmp_path / "eval_clean", eval_common))["test/acc"]
    assert clean > 0.8  # robustness did not cost the clean attribution
