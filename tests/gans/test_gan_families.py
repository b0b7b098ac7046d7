"""GAN families: shapes, registry errors, spec round trips, the losses' defining numbers, ProGAN's growing."""

from __future__ import annotations

import math

import pytest
import torch

from ganprint.errors import ConfigError
from ganprint.gans import FAMILIES, build_family
from ganprint.gans.cramergan import CramerGAN, safer_norm
from ganprint.gans.mmdgan import mix_rq_kernel, mmd2
from ganprint.gans.ops import up_nearest
from ganprint.gans.progan import lod_at, split_level

TINY = {
    "dcgan": {"arch": {"g_ch": 8, "d_ch": 8}, "latent_dim": 16},
    "sngan": {"arch": {"g_ch": 4, "d_ch": 4}, "latent_dim": 16},
    "cramergan": {"arch": {"g_ch": 4, "d_ch": 4, "dof_dim": 8}, "latent_dim": 16},
    "mmdgan": {"arch": {"g_ch": 4, "d_ch": 4}, "latent_dim": 16},
    "progan": {"arch": {"fmap_base": 64, "fmap_max": 16}, "latent_dim": 16},
}



def test_registry_holds_the_five_families():
    assert sorted(FAMILIES) == ["cramergan", "dcgan", "mmdgan", "progan", "sngan"]


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("resolution,channels", [(32, 1), (64, 3), (8, 1)])
def test_generator_and_critic_shapes(name, resolution, channels):
    torch.manual_seed(0)
    fam = build_family(name, resolution=resolution, channels=channels, **TINY[name])
    fam.set_progress(10**12)  # ProGAN: fully grown
    real = torch.rand(4, channels, resolution, resolution) * 2 - 1
    fake = fam.fake(4, torch.device("cpu"))
    assert fake.shape == real.shape
    assert fake.abs().max() < 50  # finite, sane scale (tanh families are within [-1, 1])
    d_loss, _ = fam.critic_loss(real)
    g_loss, _ = fam.generator_loss(real)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    d_loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fam.critic.parameters())


def test_unknown_family_lists_the_valid_names():
    with pytest.raises(ConfigError) as e:
        build_family("stylegan", resolution=32)
    for name in FAMILIES:
        assert name in str(e.value)
    assert "family" in str(e.value)


@pytest.mark.parametrize("resolution", [48, 4, 2048, "32", 31])
def test_unproducible_resolution_names_the_key(resolution):
    with pytest.raises(ConfigError, match="resolution"):
        build_family("dcgan", resolution=resolution)


def test_unknown_arch_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid keys: d_ch, g_ch, max_ch"):
        build_family("dcgan", arch={"width": 3})
    with pytest.raises(ConfigError, match="n_dis"):
        build_family("sngan", n_dis=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_spec_round_trip_rebuilds_the_same_generator(name):
    torch.manual_seed(3)
    fam = build_family(name, resolution=32, channels=1, **TINY[name])
    spec = fam.spec()
    assert spec["family"] == name and spec["resolution"] == 32
    torch.manual_seed(3)
    again = build_family(**spec)
    a, b = fam.generator.state_dict(), again.generator.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_official_defaults_are_kept():
    """Losses and optimizer settings of the official code (docs/paper.md §1) are the defaults."""
    pro, sn, cr, mmd = (build_family(n, resolution=32) for n in ("progan", "sngan", "cramergan", "mmdgan"))
    assert pro.cfg["optim"]["betas"] == [0.0, 0.99] and pro.cfg["optim"]["lr"] == 1e-3
    assert pro.cfg["loss"] == {"gp_weight": 10.0, "drift": 0.001} and pro.ema_beta == 0.999
    assert sn.n_dis == 5 and sn.cfg["optim"]["betas"] == [0.0, 0.9] and sn.cfg["optim"]["lr"] == 2e-4
    assert cr.n_dis == 5 and cr.cfg["arch"]["dof_dim"] == 256 and cr.cfg["loss"]["gp_weight"] == 10.0
    assert cr.cfg["optim"]["lr"] == 1e-4 and cr.cfg["optim"]["betas"][0] == 0.5
    assert mmd.cfg["arch"]["dof_dim"] == 16 and mmd.cfg["loss"]["gp_weight"] == 1.0
    assert mmd.cfg["loss"]["l2_weight"] == 1.0 and mmd.cfg["loss"]["add_dot"] == 1.0
    convs = [m for m in sn.critic.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)


def test_mmd2_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 4, generator=g), torch.randn(256, 4, generator=g)
    alphas = [0.1, 1.0, 10.0]

    def m(a, b):
        return float(mmd2(mix_rq_kernel(a, a, alphas, 0.0), mix_rq_kernel(a, b, alphas, 0.0),
                          mix_rq_kernel(b, b, alphas, 0.0), float(len(alphas))))

    same, shifted = m(x, y), m(x, y + 1.0)
    assert abs(same) < 0.01
    assert shifted > 0.3 and shifted > 30 * abs(same)
    # The RQ kernel is 1 per alpha on the diagonal: K(x, x) = len(alphas).
    assert torch.allclose(mix_rq_kernel(x[:3], x[:3], alphas, 0.0).diagonal(), torch.full((3,), 3.0))


def test_cramer_losses_follow_the_energy_distance():
    g = torch.Generator().manual_seed(1)
    r, a, b = (torch.randn(512, 8, generator=g) for _ in range(3))

    def energy(f1, f2):  # the generator loss with h = identity: E||G-R|| + E||G'-R|| - E||G-G'||
        return float((safer_norm(f1 - r) + safer_norm(f2 - r) - safer_norm(f1 - f2)).mean())

    assert energy(a + 2.0, b + 2.0) > energy(a, b) + 1.0
    x = torch.tensor([[3.0, 4.0]])  # surrogate critic f(x) = ||x - x'|| - ||x||
    assert float(CramerGAN.surrogate(x, x)) == pytest.approx(-5.0, abs=1e-2)
    assert float(CramerGAN.surrogate(x, torch.tensor([[0.0, 8.0]]))) == pytest.approx(0.0, abs=1e-2)


def test_progan_schedule_matches_the_official_arithmetic():
    # 32 px from 4 px: lod 3 while training at 4x4, then a linear fade to 2 over the transition.
    kw = dict(resolution_log2=5, start_log2=2, training_kimg=0.6, transition_kimg=0.6)
    assert lod_at(0.0, **kw) == 3.0 and lod_at(0.6, **kw) == 3.0
    assert lod_at(0.9, **kw) == pytest.approx(2.5)
    assert lod_at(1.2, **kw) == pytest.approx(2.0) and lod_at(1.8, **kw) == pytest.approx(2.0)
    assert lod_at(100.0, **kw) == 0.0


def test_progan_fade_in_alpha_goes_from_zero_to_one_over_a_transition():
    fam = build_family("progan", resolution=32, **TINY["progan"],
                       schedule={"lod_training_kimg": 0.6, "lod_transition_kimg": 0.6})
    logs = [fam.set_progress(n) for n in range(601, 1200, 50)]
    alphas = [entry["alpha"] for entry in logs]
    assert all(entry["resolution"] == 8.0 for entry in logs)
    assert alphas[0] < 0.01 and alphas[-1] > 0.9
    assert all(b > a for a, b in zip(alphas, alphas[1:], strict=False))
    assert fam.set_progress(1200)["alpha"] == 1.0 and fam.set_progress(1200)["resolution"] == 8.0
    assert fam.set_progress(10**9) == {"level": 5.0, "alpha": 1.0, "resolution": 32.0}
    assert split_level(3.25) == (4, 0.25)


def test_progan_fade_in_is_continuous():
    """At alpha ~ 0 the new octave contributes nothing: outputs equal the previous level's, upscaled."""
    torch.manual_seed(0)
    fam = build_family("progan", resolution=32, **TINY["progan"])
    z = fam.sample_latent(4)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    outs, scores = [], []
    for level in (3.0, 3.0 + 1e-6):
        fam.generator.set_level(level)
        fam.critic.set_level(level)
        outs.append(fam.generator(z))
        scores.append(fam.critic(fam.preprocess_real(x)))
    assert torch.allclose(outs[0], outs[1], atol=1e-4)
    assert torch.allclose(scores[0], scores[1], atol=1e-4)
    # At level 3 (8x8) the output is constant over 4x4 pixel blocks.
    assert torch.equal(outs[0], up_nearest(outs[0][:, :, ::4, ::4], 4))
    # Reals at level 3 are the 8x8 images, upscaled.
    r = fam.preprocess_real(x)
    assert torch.allclose(r, up_nearest(torch.nn.functional.avg_pool2d(x, 4), 4), atol=1e-6)


def test_sngan_lr_decays_linearly_over_the_last_fifth():
    fam = build_family("sngan", resolution=8, **TINY["sngan"])
    assert fam.lr_factor(0.5) == 1.0 and fam.lr_factor(0.8) == 1.0
    assert fam.lr_factor(0.9) == pytest.approx(0.5) and fam.lr_factor(1.0) == pytest.approx(0.0)
    assert build_family("dcgan", resolution=8).lr_factor(0.99) == 1.0


def test_uniform_latents_for_the_mmd_gan_code_families():
    fam = build_family("mmdgan", resolution=8, **TINY["mmdgan"])
    z = fam.sample_latent(2000, generator=torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and math.isclose(float(z.std()), 1 / math.sqrt(3), rel_tol=0.05)
