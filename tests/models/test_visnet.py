"""visNet: official sizes, both correlation forms, the three-step training update, the EMA evaluation copy,
recovery of planted fingerprints, figures and response matrix, and a short run through the train pipeline."""

from __future__ import annotations

import copy
import json
from functools import partial

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist
from tests.helpers.nets import conv_widths, n_params
from torch.utils.data import DataLoader, TensorDataset

from ganprint.callbacks.visnet_figures import FIGURES, VisNetFigures
from ganprint.errors import ConfigError
from ganprint.metrics.responses import diagonal_dominance
from ganprint.models.attnet import AttNet
from ganprint.models.checkpoint import load_attribution_module
from ganprint.models.visnet import ReconstructionCritic, VisNet
from ganprint.models.visnet_module import VisNetModule
from ganprint.nn.equalized import EqualizedConv2d
from ganprint.reporting import fingerprint_figures as ff

TINY = {"fmap_base": 32, "fmap_max": 16}
ADAM = partial(torch.optim.Adam, lr=1e-3, betas=(0.0, 0.99), eps=1e-8)


def quiet_trainer(root, **kw):
    return pl.Trainer(default_root_dir=str(root), accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, **kw)


# -- the network --------------------------------------------------------------------------------------
def test_paper_widths_match_the_official_parameter_counts():
    net = VisNet(5)
    assert net.parameter_groups() == {"encoder": 7_076_224, "decoder": 7_078_035, "fingerprints": 5 * 49_152}
    assert n_params(net) == 14_400_019
    assert n_params(ReconstructionCritic.matching(net)) == 8_916_353
    # The encoder is the attNet trunk, then two 3x3 convs at the 4x4 latent.
    trunk = conv_widths(AttNet(5).local)
    assert conv_widths(net.encoder) == trunk + [(512, 512), (512, 512)]
    assert conv_widths(net.decoder) == [(512, 512), (512, 512), (512, 256), (256, 256), (256, 128), (128, 128),
                                        (128, 64), (64, 64), (64, 32), (32, 32), (32, 16), (16, 16), (16, 3)]


@pytest.mark.parametrize("channels,resolution", [(1, 32), (3, 16), (1, 8)])
def test_shapes_and_fingerprint_definition(channels, resolution):
    net = VisNet(4, channels, resolution, fmap_base=64, fmap_max=32)
    x = torch.rand(6, channels, resolution, resolution) * 2 - 1
    rec = net.reconstruct(x)
    assert rec.shape == x.shape and rec.abs().max() <= 1
    assert torch.allclose(net.image_fingerprint(x), x - rec)
    assert net(x).shape == (6, 4)
    assert net.features(x).shape == (6, channels * resolution * resolution)
    assert net.model_fingerprints.shape == (4, channels, resolution, resolution)
    assert ReconstructionCritic.matching(net)(x).shape == (6,)
    with pytest.raises(ValueError, match="scale.resolution"):
        net(torch.zeros(2, channels, 2 * resolution, 2 * resolution))
    with pytest.raises(ValueError, match="model.net.correlation"):
        VisNet(3, correlation="cosine")


def test_normalized_correlation_is_pearson_and_invariant_to_scale_and_shift():
    net = VisNet(3, 1, 16, correlation="normalized", fingerprint_init="normal", **TINY)
    f = torch.randn(5, 1, 16, 16)
    logits = net.correlate(f)
    w = net.model_fingerprints.flatten(1).numpy()
    pearson = np.array([[np.corrcoef(fi, wj)[0, 1] for wj in w] for fi in f.flatten(1).numpy()])
    assert np.allclose(logits.detach().numpy(), pearson, atol=1e-5)
    assert torch.allclose(net.correlate(3.7 * f - 0.25), logits, atol=1e-5)
    with torch.no_grad():
        net.fingerprints.mul_(0.01).add_(5.0)
    assert torch.allclose(net.correlate(f), logits, atol=1e-4)


def test_inner_correlation_is_the_scaled_inner_product():
    net = VisNet(3, 1, 16, correlation="inner", fingerprint_init="normal", **TINY)
    f = torch.randn(5, 1, 16, 16)
    want = f.flatten(1) @ net.model_fingerprints.flatten(1).T / 16.0  # 1/sqrt(C*H*W)
    assert torch.allclose(net.correlate(f), want, atol=1e-5)
    assert torch.allclose(net.correlate(2 * f), 2 * want, atol=1e-5)  # not scale invariant
    assert not torch.allclose(net.correlate(f + 1.0), want, atol=1e-2)


def test_zero_initial_fingerprints_train_without_nans():
    for corr in ("normalized", "inner"):
        net = VisNet(3, 1, 16, correlation=corr, **TINY)
        assert net.model_fingerprints.abs().sum() == 0
        loss = F.cross_entropy(net(torch.rand(4, 1, 16, 16)), torch.tensor([0, 1, 2, 0]))
        loss.backward()
        assert torch.isfinite(net.fingerprints.grad).all() and net.fingerprints.grad.abs().sum() > 0


# -- the module: one step, EMA, planted fingerprints ----------------------------------------------------
def make_module(num_sources=3, resolution=16, correlation="normalized", **kw):
    net = VisNet(num_sources, 1, resolution, correlation=correlation, **TINY)
    names = ["real"] + [f"synth{i}" for i in range(num_sources - 1)]
    return VisNetModule(net, names, optimizer=ADAM, **kw)


def test_one_step_updates_all_three_groups_and_the_ema_copy(tmp_path):
    module = make_module(hflip=False)
    before = copy.deepcopy(module.state_dict())
    x, y = torch.rand(8, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    # Manual optimization counts both optimizer steps: max_steps=2 is one batch.
    quiet_trainer(tmp_path, max_steps=2, limit_val_batches=0).fit(module, DataLoader(TensorDataset(x, y), batch_size=8))
    after = module.state_dict()

    def changed(prefix):
        keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
        assert keys, prefix
        return all(not torch.equal(before[k], after[k]) for k in keys if k.endswith("weight"))

    for group in ("trained_net.encoder.", "trained_net.decoder.", "trained_net.fingerprints", "critic."):
        assert changed(group), f"{group} did not change"
    assert int(module.ema_updates) == 1
    # EMA with warm-up after one update: beta = min(0.999, 2/11).
    beta = 2.0 / 11.0
    for name, p in module.net.named_parameters():
        want = beta * before[f"net.{name}"] + (1 - beta) * after[f"trained_net.{name}"]
        assert torch.allclose(p, want, atol=1e-6), name
    assert not module.net.fingerprints.requires_grad


def test_without_warmup_the_ema_moves_by_one_minus_beta(tmp_path):
    module = make_module(hflip=False, ema_warmup=False, ema_beta=0.9)
    w0 = module.net.encoder[0].weight.detach().clone()
    x, y = torch.rand(8, 1, 16, 16) * 2 - 1, torch.arange(8) % 3
    quiet_trainer(tmp_path, max_steps=2, limit_val_batches=0).fit(module, DataLoader(TensorDataset(x, y), batch_size=8))
    want = 0.9 * w0 + 0.1 * module.trained_net.encoder[0].weight.detach()
    assert torch.allclose(module.net.encoder[0].weight, want, atol=1e-6)


def test_evaluation_and_prediction_use_the_ema_copy(tmp_path):
    module = make_module(figure_samples=0)
    with torch.no_grad():  # make the two copies disagree
        module.net.fingerprints.normal_()
        module.trained_net.fingerprints.copy_(-module.net.fingerprints)
    x, y = torch.rand(30, 1, 16, 16) * 2 - 1, torch.arange(30) % 3
    module.eval()
    ema_pred, trained_pred = module.net(x).argmax(1), module.trained_net(x).argmax(1)
    assert (ema_pred != trained_pred).any()
    assert torch.equal(module(x), module.net(x))
    trainer = quiet_trainer(tmp_path)
    probs = torch.cat(trainer.predict(module, DataLoader(TensorDataset(x, y), batch_size=16)))
    assert torch.equal(probs.argmax(1), ema_pred)
    res = trainer.test(module, DataLoader(TensorDataset(x, y), batch_size=16), verbose=False)[0]
    assert res["test/acc"] == pytest.approx((ema_pred == y).float().mean().item(), abs=1e-6)


def test_resume_keeps_the_trained_copy_and_both_optimizers(tmp_path):
    x, y = torch.rand(16, 1, 16, 16) * 2 - 1, torch.arange(16) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    module = make_module(figure_samples=0)
    trainer = quiet_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(module, loader)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    assert trainer.global_step == 4  # two batches, two optimizer steps each
    resumed = make_module(figure_samples=0)
    trainer2 = quiet_trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    trainer2.fit(resumed, loader, ckpt_path=tmp_path / "last.ckpt", weights_only=True)
    assert int(resumed.ema_updates) == 4 and trainer2.global_step == 8
    assert len(trainer2.optimizers) == 2 and all(o.state for o in trainer2.optimizers)


def test_fine_tuning_from_net_weights_starts_the_trained_copy_there(tmp_path):
    """A parent checkpoint's `net.*` (EMA) weights loaded alone (train.init_from_parent) seed the trained copy."""
    parent = make_module()
    with torch.no_grad():
        parent.net.fingerprints.normal_()
    child = make_module(hflip=False, figure_samples=0)
    child.load_state_dict({k: v for k, v in parent.state_dict().items() if k.startswith("net.")}, strict=False)
    x, y = torch.rand(8, 1, 16, 16) * 2 - 1, torch.arange(8) % 3
    quiet_trainer(tmp_path, max_steps=2, limit_val_batches=0).fit(child, DataLoader(TensorDataset(x, y), batch_size=8))
    # One Adam step moves each weight by at most ~lr: the trained copy started from the parent's fingerprints.
    assert torch.allclose(child.trained_net.fingerprints, parent.net.fingerprints, atol=2e-3)


@pytest.mark.parametrize("strategy,ok", [("ddp", False), ("ddp_find_unused_parameters_true", True)])
def test_ddp_needs_unused_parameter_search(strategy, ok):
    module = make_module()
    module.trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)
    if ok:
        module.setup("fit")
    else:
        with pytest.raises(ConfigError, match="ddp_find_unused_parameters_true"):
            module.setup("fit")


def planted_sources(n_per_source: int, content_seed: int, resolution: int = 16, strength: float = 0.2):
    """Smooth random content plus each source's own fixed +-strength pixel pattern.

    Every source, "real" included, gets a pattern: a correlation classifier has no bias, so a pattern-free class
    is only recognised once R learns to imprint one, which takes far longer than a test may run."""
    patterns = strength * torch.randn(4, 1, resolution, resolution, generator=torch.Generator().manual_seed(0)).sign()
    g = torch.Generator().manual_seed(content_seed)
    y = torch.arange(4).repeat_interleave(n_per_source)
    content = F.interpolate(torch.randn(len(y), 1, 4, 4, generator=g), size=resolution, mode="bilinear") * 0.4
    return (content + patterns[y]).clamp(-1, 1), y, patterns


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """visNet trained on four sources with planted residual patterns (hflip off: patterns are not mirror-symmetric)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("planted")
    x, y, patterns = planted_sources(256, content_seed=1)
    xt, yt, _ = planted_sources(64, content_seed=2)
    net = VisNet(4, 1, 16, **TINY)
    module = VisNetModule(net, ["real", "a", "b", "c"], optimizer=ADAM, hflip=False, figure_samples=2)
    trainer = quiet_trainer(root, max_epochs=6, limit_val_batches=0, callbacks=[VisNetFigures()])
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
    res = trainer.test(module, DataLoader(TensorDataset(xt, yt), batch_size=64), verbose=False)[0]
    return module, trainer, res, patterns, root


def test_planted_patterns_are_recovered_in_the_model_fingerprints(planted_run):
    module, _trainer, res, patterns, _root = planted_run
    w = module.net.model_fingerprints.flatten(1).numpy()
    for k in range(4):
        r = np.corrcoef(w[k], patterns[k].flatten().numpy())[0, 1]
        assert r > 0.8, f"fingerprint {k} correlates {r:.2f} with its planted pattern"
    assert res["test/acc"] > 0.9  # chance: 0.25
    # R reconstructs the content and leaves the pattern (|pattern| = 0.2) in the image fingerprint.
    assert res["test/rec_l1"] < 0.3
    xt, yt, _ = planted_sources(16, content_seed=3)
    with torch.no_grad():
        fp = module.net.image_fingerprint(xt).flatten(1).numpy()
    r = [np.corrcoef(f, patterns[k].flatten().numpy())[0, 1] for f, k in zip(fp, yt.tolist(), strict=True)]
    assert np.mean(r) > 0.5, np.mean(r)


def test_response_matrix_is_diagonal_dominant_and_figures_are_written(planted_run):
    _module, trainer, res, _patterns, root = planted_run
    matrix = trainer.callback_metrics["test/response_matrix"].numpy()
    assert matrix.shape == (4, 4)
    assert diagonal_dominance(matrix, axis=0) == 1.0  # each fingerprint responds most to its own source
    assert diagonal_dominance(matrix, axis=1) == 1.0  # each source's images respond most to their own
    assert res["test/response_diag_frac"] == 1.0
    for name in FIGURES:
        png = root / "figures" / f"{name}.png"
        assert png.stat().st_size > 5000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- figures on constructed arrays ----------------------------------------------------------------------
def test_figure_helpers_follow_the_official_recipe(tmp_path):
    w = np.stack([np.full((3, 4, 4), -2.0), np.full((3, 4, 4), 6.0)])
    assert ff.joint_minmax(w).min() == 0 and ff.joint_minmax(w).max() == 1
    assert np.allclose(ff.joint_minmax(w)[0], 0) and np.allclose(ff.joint_minmax(w)[1], 1)
    f = np.ones((3, 4, 4))
    f[0, 0, 0] = -1.0  # one channel negative -> the whole pixel is zeroed in the response to w[1]
    maps = ff.response_maps(f, w)
    assert maps.shape == (2, 3, 4, 4)
    assert np.all(maps[1][:, 0, 0] == 0) and np.all(maps[1][:, 1, 1] == 6.0)
    assert np.all(maps[0][:, 1, 1] == 0)  # product -2 everywhere except the flipped pixel's channel
    assert diagonal_dominance(np.array([[3.0, 1.0], [2.0, 4.0]])) == 1.0
    assert diagonal_dominance(np.array([[3.0, 5.0], [2.0, 4.0]]), axis=0) == 0.5  # column 1 peaks off-diagonal
    assert diagonal_dominance(np.array([[3.0, 5.0], [1.0, 4.0]]), axis=1) == 0.5  # row 0 peaks off-diagonal
    with pytest.raises(ValueError, match="square"):
        diagonal_dominance(np.ones((2, 3)))
    path = ff.response_matrix_figure(np.array([[3.0, 1.0], [2.0, 4.0]]), ["real", "g"], tmp_path / "m.png")
    assert path.stat().st_size > 3000


# -- through the train pipeline on Fashion-MNIST ---------------------------------------------------------
@requires_fmnist
def test_short_training_on_fashion_mnist_attributes_and_reloads(smoke_train_cfg, tmp_path):
    from ganprint.tasks.train import train

    cfg = smoke_train_cfg("model=visnet", "sources=synthetic3", "scale.counts.train=300", "scale.counts.test=90",
                          "scale.max_epochs=2", "analysis.fd_ratio=false", "trainer.log_every_n_steps=5")
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.8, metrics  # chance: 1/3
    for key in ("train/loss", "train/rec_l1", "train/d_loss", "test/rec_l1", "val/acc_best", "test/acc_real"):
        assert key in metrics
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 5000
    # Reload the best checkpoint through the common loader: same class, same EMA weights, same accuracy.
    record = json.loads((tmp_path / "metrics.json").read_text())
    module = load_attribution_module(record["ckpt_path"], expected_sources=["real", "synth0", "synth1"])
    assert isinstance(module, VisNetModule)
    assert module.hparams.rec_weight == 20.0 and module.net.correlation == cfg.model.net.correlation
    dm = hydra.utils.instantiate(cfg.data)
    trainer = quiet_trainer(tmp_path / "reload")
    res = trainer.test(module, datamodule=dm, verbose=False)[0]
    assert res["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert res["test/rec_l1"] == pytest.approx(metrics["test/rec_l1"], abs=1e-6)
    # Each model fingerprint responds most to its own source's images (and each source's images to their own
    # fingerprint); here the diagonal leads every row and column by > 0.05.
    matrix = trainer.callback_metrics["test/response_matrix"].numpy()
    assert matrix.shape == (3, 3) and np.isfinite(matrix).all()
    assert diagonal_dominance(matrix, axis=0) == 1.0 and diagonal_dominance(matrix, axis=1) == 1.0
    assert res["test/response_diag_frac"] == metrics["test/response_diag_frac"] == 1.0
    # The reconstruction has been learned: far below an untrained network of the same spec.
    x = dm.data["test"][0][:64].float() / 127.5 - 1
    untrained = VisNet(**{k: v for k, v in module.net.spec().items() if k != "_target_"})
    with torch.no_grad():
        l1_untrained = (untrained.reconstruct(x) - x).abs().mean().item()
    assert metrics["test/rec_l1"] < 0.6 * l1_untrained
    # ganprint-eval on the checkpoint writes the figures into its own run directory (callbacks.visnet_figures).
    from ganprint.tasks.evaluate import evaluate

    eval_dir = tmp_path / "eval"
    evaluate(compose_cfg("eval", eval_dir, ["scale=smoke", "sources=synthetic3", f"ckpt={record['ckpt_path']}",
                                            "scale.counts.train=300", "scale.counts.test=90", "logger=none"]))
    for name in FIGURES:
        assert (eval_dir / "figures" / f"{name}.png").stat().st_size > 5000


def test_batch_norm_follows_every_encoder_decoder_conv_but_not_the_output_or_the_critic():
    plain, normed = VisNet(3, 1, 16, **TINY), VisNet(3, 1, 16, norm="batch", **TINY)
    convs = [n for n, m in plain.named_modules() if isinstance(m, EqualizedConv2d)]
    norms = [n for n, m in normed.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert len(norms) == len(convs) - 1  # all but the decoder's to_image
    assert "decoder.to_image" in convs and not any(n.startswith("decoder.to_image") for n in norms)
    # The official layout keeps its checkpoint keys; the normed one only adds norm keys.
    assert set(plain.state_dict()) <= set(normed.state_dict())
    assert all(".norm" in k for k in set(normed.state_dict()) - set(plain.state_dict()))
    critic = ReconstructionCritic.matching(normed)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    rebuilt = VisNet(**{k: v for k, v in normed.spec().items() if k != "_target_"})
    assert rebuilt.spec() == normed.spec() and rebuilt.state_dict().keys() == normed.state_dict().keys()
    with pytest.raises(ValueError, match="model.net.norm"):
        VisNet(3, 1, 16, norm="layer", **TINY)
