"""Projected gradient descent (PGD) in pixel space with an L-infinity budget, against a given classifier.

Beyond the paper: a worst-case perturbation (Madry et al. 2018) to set beside Table 7's random ones, and the
inner loop of adversarial fine-tuning. Works on the networks' input tensors (float ``[N, C, H, W]`` in [-1, 1]),
so budgets are stated in 0-255 pixel units and converted here. Takes any ``torch.nn.Module`` that maps such
tensors to logits. Configured by ``conf/attack/`` (``attack=pgd``), which hands a :class:`PGDAttack` to the
attribution module (``models/module.py`` calls it: it only sees a callable, it never imports this file): every
test batch is attacked, and with ``attack.train=true`` a fraction of every training batch too (adversarial
fine-tuning, an immunization option).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["PGDAttack", "pgd_attack"]

_UNITS_PER_LEVEL = 2.0 / 255.0  # one 0-255 grey level in the [-1, 1] input range


def pgd_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
               seed: int = 0, random_start: bool = True) -> torch.Tensor:
    """Untargeted L∞ PGD that raises the cross-entropy of ``model(x_adv)`` against the true labels ``y``.

    ``eps``: the budget, ``alpha``: the step size, both in 0-255 grey levels (eps = 8 allows ±8 levels per
    pixel); ``steps``: sign-gradient ascent steps; ``random_start``: begin at a uniform point of the eps-ball
    drawn from ``seed`` (so the same (x, seed) gives the same result). Every iterate is projected onto
    ``{|x_adv - x|∞ <= eps} ∩ [-1, 1]``. The model runs in eval mode (restored afterwards), its parameter
    gradients are left untouched, and the attack works inside ``torch.no_grad`` / ``torch.inference_mode``
    (e.g. a Lightning test step). Returns a detached tensor like ``x``; it is not rounded to the 8-bit grid.
    """
    if eps < 0 or alpha < 0 or steps < 0:
        raise ValueError(f"PGD needs eps, alpha, steps >= 0, got eps={eps}, alpha={alpha}, steps={steps}; fix "
                         "`attack.eps`, `attack.alpha` or `attack.steps`.")
    eps_u, alpha_u = eps * _UNITS_PER_LEVEL, alpha * _UNITS_PER_LEVEL
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x0 = x.detach().clone()  # a clone made outside inference mode is a normal tensor autograd accepts
            y0 = y.detach().clone()
            lo, hi = (x0 - eps_u).clamp(-1.0, 1.0), (x0 + eps_u).clamp(-1.0, 1.0)
            if random_start and eps_u > 0:
                gen = torch.Generator(device=x0.device).manual_seed(int(seed) & ((1 << 63) - 1))
                noise = torch.rand(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
                x_adv = torch.max(torch.min(x0 + (2.0 * noise - 1.0) * eps_u, hi), lo)
            else:
                x_adv = x0.clone()
            for _ in range(steps):
                x_adv.requires_grad_(True)
                # sum, not mean: the step uses only the gradient's sign, and a sum keeps it from underflowing
                loss = F.cross_entropy(model(x_adv), y0, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = torch.max(torch.min(x_adv.detach() + alpha_u * grad.sign(), hi), lo)
            return x_adv.detach()
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class PGDAttack:
    """A configured PGD attack (Hydra ``_target_``): ``attack(model, x, y, seed)`` calls :func:`pgd_attack`.

    ``eps`` and ``alpha`` in 0-255 grey levels; defaults are the common CIFAR-style budget (8/255, 10 steps,
    random start). ``alpha=None`` takes Madry et al.'s step 2.5 * eps / steps (2 levels at eps = 8, 10 steps),
    so a sweep over ``eps`` scales the step with the budget.

    ``train`` and ``fraction`` are read by the attribution module, not by the attack: with ``train=True`` the
    first ``fraction`` of every training batch is replaced by attack examples against the current network
    (adversarial training; fine-tuning when the run starts from ``init_ckpt``). Test batches are always attacked.
    """

    eps: float = 8.0
    alpha: float | None = None
    steps: int = 10
    random_start: bool = True
    train: bool = False
    fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.fraction) <= 1.0:
            raise ValueError(f"the adversarial share of a training batch must lie in [0, 1], got {self.fraction}; "
                             "fix `attack.fraction`.")
        if self.alpha is None and int(self.steps) <= 0 < float(self.eps):
            raise ValueError(f"PGD with eps={self.eps} needs steps >= 1 to derive its step size; fix `attack.steps`.")

    @property
    def step_size(self) -> float:
        """The step in grey levels: ``alpha``, or 2.5 * eps / steps when ``alpha`` is None."""
        if self.alpha is not None:
            return float(self.alpha)
        return 2.5 * float(self.eps) / int(self.steps) if int(self.steps) > 0 else 0.0

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
        return pgd_attack(model, x, y, eps=float(self.eps), alpha=self.step_size, steps=int(self.steps), seed=seed,
                          random_start=self.random_start)
