"""Perturbations of Table 7 (noise, blur, JPEG, crop, relight, combo), their configs, and the PGD attack."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from ganprint.transforms.adversarial import PGDAttack, pgd_attack
from ganprint.transforms.perturbations import (
    PAPER_ORDER,
    Combination,
    CropResize,
    GaussianBlur,
    GaussianNoise,
    JpegCompression,
    NoPerturbation,
    Perturbation,
    SmoothIllumination,
    build_perturbation,
    derive_seed,
    opencv_sigma,
    perturb_batch,
    perturbation_names,
)
from ganprint.utils.config import CONFIG_DIR

CONF_DIR = CONFIG_DIR / "perturb"
FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
# Configs that are named selections of a registered perturbation rather than a perturbation of their own:
# conf/perturb/seen.yaml is a combo of noise, blur and JPEG (the "seen" side of the seen/unseen split).
SELECTIONS = {"seen": "combo"}

# IJG (JPEG standard Annex K) base tables, natural (row-major) order.
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
IJG_CHROMA = np.full(64, 99)
IJG_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table (baseline clamp to 1..255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


def synthetic(channels: int = 1, n: int = 64) -> np.ndarray:
    """A smooth image with sharp edges: gradient + sinusoid + a disk + a dark bar (three different channels)."""
    v, u = np.mgrid[0:n, 0:n] / n
    img = 60 + 100 * u + 40 * np.sin(6 * v)
    img[(u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.07] += 60
    img[n // 6:n // 3, n // 2:7 * n // 8] -= 50
    chans = [img, img[::-1], img.T][:channels]
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def highpass_energy(a: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior (the image's high-frequency content)."""
    a = a.astype(float)
    lap = a[1:-1, 1:-1] * 4 - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(lap.var())


# -- seeds, batches, registry -----------------------------------------------------------------------------


def test_derive_seed_is_pinned_and_distinct():
    # These values fix every stored perturbed test set: changing the derivation changes them all.
    assert derive_seed(0, 0) == 15793235383387715774
    assert derive_seed(123, 7) == 11002349382382457685
    assert len({derive_seed(s, i) for s in range(20) for i in range(50)}) == 1000
    assert derive_seed(-1, 5) == derive_seed((1 << 64) - 1, 5)  # Python hash() values may be negative


@pytest.mark.parametrize("name", [n for n in perturbation_names() if n != "none"])
def test_same_seed_same_output_different_seed_different(name):
    p = build_perturbation(name)
    img = synthetic(3, 32)
    first = p(img, 11)
    assert np.array_equal(first, p(img, 11)) and np.array_equal(first, build_perturbation(name)(img, 11))
    distinct = {p(img, s).tobytes() for s in range(8)}
    if name == "blur":  # only five kernel sizes: outputs differ exactly when the drawn sizes do
        assert len(distinct) == len({p.params_for(s, img.shape)["kernel_size"] for s in range(8)}) >= 3
    else:  # a combo that fires nothing may repeat; the rest must all differ
        assert len(distinct) >= 6


def test_perturb_batch_per_image_seeds_chunking_and_batch_call():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    p = GaussianNoise()
    out = perturb_batch(images, p, seed=5)
    for i in range(6):
        assert np.array_equal(out[i], p(images[i], derive_seed(5, i)))
    chunks = np.concatenate([perturb_batch(images[:2], p, 5), perturb_batch(images[2:], p, 5, indices=range(2, 6))])
    assert np.array_equal(out, chunks)
    assert np.array_equal(out, p(images, 5))  # the data module's Perturb contract: (uint8 [N,H,W,C], seed)
    assert np.array_equal(out, perturb_batch(images, p, seed=5))  # a test set perturbed twice is the same set
    assert not np.array_equal(out[0], out[1] - images[1] + images[0])  # images get different noise
    assert out.dtype == np.uint8 and out.shape == images.shape


def test_registry_names_match_configs_and_reject_unknown():
    assert perturbation_names() == ["none", "noise", "blur", "crop", "jpeg", "relight", "combo"]
    assert sorted(perturbation_names()) == sorted(p.stem for p in CONF_DIR.glob("*.yaml") if p.stem not in SELECTIONS)
    assert set(SELECTIONS.values()) <= set(perturbation_names())
    with pytest.raises(ValueError, match="valid names are none, noise, blur"):
        build_perturbation("gaussian")
    assert build_perturbation("jpeg", quality=30).params_for(0, (8, 8, 1)) == {"quality": 30}


@pytest.mark.parametrize(("factory", "where"), [
    (lambda: GaussianNoise(std=[20, 5]), "conf/perturb/noise.yaml"),
    (lambda: GaussianNoise(std="high"), "conf/perturb/noise.yaml"),
    (lambda: GaussianBlur(kernel_size=[3, 4]), "conf/perturb/blur.yaml"),
    (lambda: JpegCompression(quality=10.5), "conf/perturb/jpeg.yaml"),
    (lambda: JpegCompression(quality=[0, 50]), "conf/perturb/jpeg.yaml"),
    (lambda: CropResize(fraction=1.5), "conf/perturb/crop.yaml"),
    (lambda: SmoothIllumination(degree=-1), "conf/perturb/relight.yaml"),
    (lambda: Combination(p=1.5), "conf/perturb/combo.yaml"),
    (lambda: Combination(p={"jpg": 0.5}), "conf/perturb/combo.yaml"),
])
def test_bad_parameters_name_the_config_to_fix(factory, where):
    with pytest.raises(ValueError, match=where):
        factory()


def test_rejects_images_outside_the_contract():
    for bad in (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8)):
        with pytest.raises(ValueError, match="uint8"):
            GaussianNoise()(bad, 0)


# -- JPEG ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [10, 30, 50, 75, 95])
def test_jpeg_uses_the_ijg_tables_of_the_requested_quality(quality):
    grey = JpegCompression.encode(synthetic(1, 32), quality)
    with Image.open(io.BytesIO(grey)) as im:
        assert np.array_equal(np.array(im.quantization[0]), ijg_table(IJG_LUMA, quality))
    rgb = JpegCompression.encode(synthetic(3, 32), quality)
    with Image.open(io.BytesIO(rgb)) as im:
        assert np.array_equal(np.array(im.quantization[0]), ijg_table(IJG_LUMA, quality))
        assert np.array_equal(np.array(im.quantization[1]), ijg_table(IJG_CHROMA, quality))


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_psnr_rises_with_quality(channels):
    img = synthetic(channels)
    scores = [psnr(img, JpegCompression(quality=q)(img, 0)) for q in (10, 40, 75, 95)]
    assert all(a + 1.0 < b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert not np.array_equal(JpegCompression(quality=10)(img, 0), JpegCompression(quality=95)(img, 0))


@pytest.mark.skipif(not FASHION_TEST.exists(), reason="Fashion-MNIST IDX files not installed")
def test_jpeg_psnr_rises_with_quality_on_fashion_mnist():
    with gzip.open(FASHION_TEST) as f:
        images = np.frombuffer(f.read(16 + 4 * 784), np.uint8, offset=16).reshape(4, 28, 28)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None]
    scores = [np.mean([psnr(im, JpegCompression(quality=q)(im, 0)) for im in images]) for q in (10, 40, 75, 95)]
    assert all(a + 1.0 < b for a, b in zip(scores, scores[1:], strict=False)), scores


def test_jpeg_draws_an_integer_quality_per_image_and_applies_it():
    p = JpegCompression()  # paper default: U[10, 75]
    qualities = [p.params_for(s, (32, 32, 1))["quality"] for s in range(400)]
    assert min(qualities) == 10 and max(qualities) == 75 and len(set(qualities)) > 50
    img = synthetic(3, 32)
    q = p.params_for(3, img.shape)["quality"]
    assert np.array_equal(p(img, 3), JpegCompression.decode(JpegCompression.encode(img, q), 3))


# -- blur ------------------------------------------------------------------------------------------------


def test_blur_removes_more_high_frequency_as_the_kernel_grows_and_k1_is_identity():
    img = synthetic(1)
    assert np.array_equal(GaussianBlur(kernel_size=1)(img, 0), img)
    energies = [highpass_energy(GaussianBlur(kernel_size=k)(img, 0)) for k in (1, 3, 5, 7, 9)]
    assert all(a > 1.3 * b for a, b in zip(energies, energies[1:], strict=False)), energies


def test_blur_sigma_follows_the_kernel_size_not_a_constant():
    impulse = np.zeros((33, 33, 1), np.uint8)
    impulse[16, 16] = 255
    r = np.arange(33) - 16

    def spread(p):
        w = p(impulse, 0)[..., 0].astype(float).sum(0)
        return float(np.sqrt((w / w.sum() * r**2).sum()))

    spreads = [spread(GaussianBlur(kernel_size=k)) for k in (3, 5, 7, 9)]
    assert all(a < b for a, b in zip(spreads, spreads[1:], strict=False)), spreads
    for k, s in zip((3, 5, 7, 9), spreads, strict=True):  # the k-tap truncation narrows it a little
        assert 0.85 * opencv_sigma(k) < s <= opencv_sigma(k) + 0.02, (k, s)
    assert [round(opencv_sigma(k), 6) for k in (1, 3, 5, 7, 9)] == [0.5, 0.8, 1.1, 1.4, 1.7]
    assert abs(spread(GaussianBlur(kernel_size=9, sigma=1.0)) - 1.0) < 0.05  # an explicit σ overrides the rule
    drawn = {GaussianBlur().params_for(s, (8, 8, 1))["kernel_size"] for s in range(100)}
    assert drawn == {1, 3, 5, 7, 9}


# -- noise -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("std", [5.0, 12.5, 20.0])
@pytest.mark.parametrize("channels", [1, 3])
def test_noise_has_the_requested_std_in_pixel_units(std, channels):
    grey = np.full((96, 96, channels), 128, np.uint8)
    diff = GaussianNoise(std=std)(grey, 1).astype(float) - 128
    # 3 %, tighter than the 10 % asked: truncating instead of rounding (albumentations' GaussNoise) gives -7.6 % at 5
    assert abs(diff.std() - std) < 0.03 * std
    assert abs(diff.mean()) < 0.1 * std / 4  # no truncation bias


def test_noise_range_and_shared_channel_option():
    stds = [GaussianNoise().params_for(s, (8, 8, 1))["std"] for s in range(500)]
    assert 5.0 <= min(stds) < 5.5 and 19.5 < max(stds) <= 20.0
    out = GaussianNoise(std=10, per_channel=False)(np.full((16, 16, 3), 128, np.uint8), 0)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])


# -- crop ------------------------------------------------------------------------------------------------


def test_crop_keeps_the_size_and_shows_the_drawn_window():
    n = 40
    v, u = np.mgrid[0:n, 0:n]
    ramps = np.stack([u * 6, v * 6, np.full((n, n), 50)], -1).astype(np.uint8)  # column / row index x 6
    p = CropResize(fraction=0.2)
    lefts = set()
    for seed in range(12):
        prm = p.params_for(seed, ramps.shape)
        out = p(ramps, seed)
        assert out.shape == ramps.shape and out.dtype == np.uint8
        assert prm["height"] == prm["width"] == 32
        assert not np.array_equal(out, ramps)
        # bilinear resize maps the first/last output pixels onto the window's first/last pixels
        assert abs(int(out[0, 0, 0]) - 6 * prm["left"]) <= 1 and abs(int(out[0, -1, 0]) - 6 * (prm["left"] + 31)) <= 1
        assert abs(int(out[0, 0, 1]) - 6 * prm["top"]) <= 1 and abs(int(out[-1, 0, 1]) - 6 * (prm["top"] + 31)) <= 1
        lefts.add(prm["left"])
    assert len(lefts) >= 4 and lefts <= set(range(9))
    assert np.array_equal(CropResize(fraction=0.0)(ramps, 0), ramps)
    frs = [CropResize().params_for(s, (32, 32, 1))["fraction"] for s in range(300)]
    assert 0.05 <= min(frs) < 0.06 and 0.19 < max(frs) <= 0.20


# -- relight ---------------------------------------------------------------------------------------------


def test_relight_is_a_smooth_multiplicative_field():
    p = SmoothIllumination(strength=0.4, gamma=1.0, color_shift=0.0)
    grey = np.full((32, 32, 1), 128, np.uint8)
    rng = np.random.default_rng(0)
    white = rng.random((32, 32))
    for seed in range(5):
        prm = p.params_for(seed, grey.shape)
        field = p.illumination_field(prm, 32, 32)
        out = p(grey, seed)
        assert out.shape == grey.shape and out.dtype == np.uint8
        assert np.abs(out[..., 0].astype(float) - np.rint(128 * field)).max() <= 1  # out = in x field
        log_field = np.log(field)
        assert np.abs(log_field).max() == pytest.approx(0.4) and np.exp(-0.4) - 1e-9 <= field.min()
        ratio = out[..., 0] / 128.0  # measured from the image, not the internals
        assert highpass_energy(ratio) < 0.01 * highpass_energy(white) * ratio.var() / white.var()
        assert ratio.std() > 0.02  # and it does change the lighting


def test_relight_gamma_and_colour_shift():
    img = synthetic(3, 32)
    out = SmoothIllumination(strength=0.0, gamma=2.0, color_shift=0.0)(img, 0)
    assert np.abs(out.astype(float) - np.rint(255 * (img / 255.0) ** 2)).max() <= 1
    grey = np.full((16, 16, 3), 128, np.uint8)
    p = SmoothIllumination(strength=0.0, gamma=1.0, color_shift=0.1)
    gains = p.params_for(0, grey.shape)["gains"]
    assert gains.mean() == pytest.approx(1.0) and np.ptp(gains) > 0.01
    assert np.abs(p(grey, 0)[0, 0].astype(float) - 128 * gains).max() <= 1
    # paper-default severities relight mid-grey without clipping: the field stays within [e^-0.5, e^0.5]
    outs = SmoothIllumination()(np.full((10, 32, 32, 1), 128, np.uint8), 0)
    assert outs.min() > 40 and outs.max() < 235 and outs.std() > 5


# -- combo -----------------------------------------------------------------------------------------------


def test_combo_applies_each_part_with_probability_half():
    combo = Combination()
    assert tuple(combo.parts) == PAPER_ORDER == ("relight", "crop", "blur", "jpeg", "noise")
    fired = np.array([[n in combo.applied_parts(s) for n in PAPER_ORDER] for s in range(2000)])
    assert np.all(np.abs(fired.mean(0) - 0.5) < 0.05), fired.mean(0)
    assert abs(np.corrcoef(fired.T)[np.triu_indices(5, 1)]).max() < 0.1  # independent coins


def test_combo_applies_the_drawn_parts_in_order():
    combo = Combination()
    img = synthetic(3, 32)
    seed = next(s for s in range(100) if combo.applied_parts(s) == PAPER_ORDER)
    seeds = combo.params_for(seed, img.shape)["seeds"]
    manual = img
    for n in PAPER_ORDER:
        manual = combo.parts[n](manual, seeds[n])
    assert np.array_equal(combo(img, seed), manual)
    reverse = img
    for n in reversed(PAPER_ORDER):
        reverse = combo.parts[n](reverse, seeds[n])
    assert not np.array_equal(combo(img, seed), reverse)
    none_seed = next(s for s in range(100) if combo.applied_parts(s) == ())
    assert np.array_equal(combo(img, none_seed), img)


def test_combo_probabilities_and_parts_are_configurable():
    assert all(Combination(p=0.0).applied_parts(s) == () for s in range(50))
    assert all(Combination(p=1.0).applied_parts(s) == PAPER_ORDER for s in range(50))
    c = Combination(parts={"jpeg": {"quality": 30}, "noise": GaussianNoise(std=5)}, p={"jpeg": 1.0, "noise": 0.0})
    img = synthetic(1, 32)
    assert np.array_equal(c(img, 4), JpegCompression(quality=30)(img, 0))


# -- Hydra configs ---------------------------------------------------------------------------------------

PAPER_DEFAULTS = {
    "none": {"name": "none"},
    "noise": {"name": "noise", "std": [5.0, 20.0], "per_channel": True},
    "blur": {"name": "blur", "kernel_size": [1, 3, 5, 7, 9], "sigma": None},
    "crop": {"name": "crop", "fraction": [0.05, 0.2], "interpolation": "bilinear"},
    "jpeg": {"name": "jpeg", "quality": [10, 75]},
}


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_perturb_config_instantiates_and_perturbs(path):
    p = instantiate(OmegaConf.load(path))
    assert isinstance(p, Perturbation) and p.name == SELECTIONS.get(path.stem, path.stem)
    if path.stem in PAPER_DEFAULTS:
        assert p.describe() == PAPER_DEFAULTS[path.stem]
    if path.stem not in SELECTIONS:
        assert p.describe() == build_perturbation(path.stem).describe()  # config = the class's paper defaults
    for channels in (1, 3):
        img = synthetic(channels, 32)
        outs = [p(img, s) for s in range(4)]
        assert all(o.shape == (32, 32, channels) and o.dtype == np.uint8 for o in outs)
        changed = sum(not np.array_equal(o, img) for o in outs)
        assert changed == 0 if isinstance(p, NoPerturbation) else changed >= 2


def test_seen_config_is_noise_blur_jpeg_at_paper_severities_and_never_crops_or_relights():
    seen = instantiate(OmegaConf.load(CONF_DIR / "seen.yaml"))
    assert list(seen.parts) == ["blur", "jpeg", "noise"] and seen.p == {"blur": 0.5, "jpeg": 0.5, "noise": 0.5}
    for name, part in seen.parts.items():
        assert part.describe() == PAPER_DEFAULTS[name]
    drawn = [seen.applied_parts(s) for s in range(2000)]
    assert not {n for d in drawn for n in d} & {"crop", "relight"}
    for name in seen.parts:  # each part fires on about half of the images (binomial sd 1.1 %)
        assert abs(np.mean([name in d for d in drawn]) - 0.5) < 0.04


def test_fixed_severity_overrides_of_ranged_configs_are_fixed():
    """Robustness curves set one severity per job (perturb.std=10 over the config's [5, 20])."""
    for stem, key, value in [("noise", "std", 10.0), ("blur", "kernel_size", 5), ("crop", "fraction", 0.1),
                             ("jpeg", "quality", 30), ("relight", "strength", 0.3)]:
        cfg = OmegaConf.load(CONF_DIR / f"{stem}.yaml")
        cfg[key] = value
        p = instantiate(cfg)
        draws = {float(p.params_for(s, (32, 32, 1))[key]) for s in range(20)}
        assert draws == {float(value)}, (stem, draws)


def test_combo_config_accepts_part_overrides():
    cfg = OmegaConf.load(CONF_DIR / "combo.yaml")
    cfg.parts.jpeg.quality = 30
    cfg.p = 1.0
    combo = instantiate(cfg)
    assert combo.parts["jpeg"].describe()["quality"] == 30 and combo.applied_parts(0) == PAPER_ORDER


# -- PGD -------------------------------------------------------------------------------------------------


def _linear_problem():
    torch.manual_seed(0)
    direction = torch.sign(torch.randn(1, 4, 4))
    y = torch.arange(64) % 2
    x = (0.04 * (2 * y.float() - 1)).view(-1, 1, 1, 1) * direction + 0.01 * torch.randn(64, 1, 4, 4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([-direction.flatten(), direction.flatten()]))
        model[1].bias.zero_()
    return model, x.clamp(-1, 1), y


def test_pgd_drops_accuracy_within_the_linf_budget():
    model, x, y = _linear_problem()
    acc = lambda inp: (model(inp).argmax(1) == y).float().mean().item()  # noqa: E731
    assert acc(x) == 1.0
    eps = 8.0
    x_adv = pgd_attack(model, x, y, eps=eps, alpha=2.0, steps=10, seed=0)
    assert acc(x_adv) < 0.1
    assert (x_adv - x).abs().max().item() <= eps * 2 / 255 + 1e-6
    assert x_adv.min() >= -1 and x_adv.max() <= 1
    assert acc(pgd_attack(model, x, y, eps=2.0, alpha=0.5, steps=10, seed=0)) > 0.9  # a small budget does not
    assert torch.equal(x_adv, pgd_attack(model, x, y, eps=eps, alpha=2.0, steps=10, seed=0))
    assert torch.equal(pgd_attack(model, x, y, eps=0.0, alpha=2.0, steps=5), x)
    assert all(p.grad is None for p in model.parameters())


def test_pgd_works_under_inference_mode_and_restores_train_mode():
    model, x, y = _linear_problem()
    model.train()
    with torch.inference_mode():
        x_inf = x.clone()
        x_adv = PGDAttack(eps=8.0, alpha=2.0, steps=5)(model, x_inf, y, seed=1)
    assert model.training
    assert (model(x_adv).argmax(1) == y).float().mean().item() < 0.1
