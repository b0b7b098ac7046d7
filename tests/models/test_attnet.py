"""attNet and its Fig. 2 variants: size, shapes, receptive fields, invariances, configs, and learning."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tests.helpers.nets import conv_widths, n_params

from ganprint.models.attnet import MODES, AttNet
from ganprint.models.receptive_field import ReceptiveField
from ganprint.transforms.filters import band_residual, lowpass
from ganprint.utils.config import CONFIG_DIR

CONF = CONFIG_DIR
TINY = {"fmap_base": 64, "fmap_max": 32, "fingerprint_dim": 32}


def test_paper_network_matches_the_official_size_and_widths():
    net = AttNet(5)
    assert n_params(net) == 8_913_797
    assert n_params(AttNet(11)) == 8_916_875
    assert conv_widths(net) == [(3, 16), (16, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128),
                                (128, 256), (256, 256), (256, 512), (512, 512)]
    assert net.dense1.weight.shape == (512, 8192)
    assert net.dense2.weight.shape == (5, 512)
    assert net.receptive_field() == 140


def test_widths_follow_the_absolute_resolution():
    # A 32x32 block has the same width whatever the input resolution (nf(stage) = min(base / 2^stage, max)).
    assert conv_widths(AttNet(3, 1, 32))[:2] == [(1, 64), (64, 128)]
    assert conv_widths(AttNet(3, 1, 32, fmap_base=256, fmap_max=128, fingerprint_dim=128)) == [
        (1, 16), (16, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)]


@pytest.mark.parametrize("resolution,channels", [(32, 1), (32, 3), (128, 1), (128, 3)])
@pytest.mark.parametrize("mode", MODES)
def test_output_shapes(mode, resolution, channels):
    widths = {} if resolution == 32 else {"fmap_base": 256, "fmap_max": 128, "fingerprint_dim": 64}
    for s in (4, 8, 16):
        net = AttNet(7, channels, resolution, mode=mode, switching_res=s, **widths)
        x = torch.rand(2, channels, resolution, resolution) * 2 - 1
        logits, feats = net(x), net.features(x)
        assert logits.shape == (2, 7)
        assert feats.shape == (2, widths.get("fingerprint_dim", 512))
        assert net.model_fingerprints.shape == (7, feats.shape[1])
        # The logits are the image fingerprints projected on the model fingerprints.
        torch.testing.assert_close(logits, feats @ net.model_fingerprints.T + net.dense2.bias, atol=1e-5, rtol=1e-4)


def test_paper_scale_forward_shape():
    net = AttNet(5)
    assert net(torch.zeros(2, 3, 128, 128)).shape == (2, 5)
    assert net.features(torch.zeros(2, 3, 128, 128)).shape == (2, 512)


def test_spec_rebuilds_the_same_network():
    net = AttNet(4, 1, 32, mode="postpool", switching_res=8, **TINY)
    spec = net.spec()
    assert spec["_target_"] == "ganprint.models.attnet.AttNet"
    assert spec == {"_target_": "ganprint.models.attnet.AttNet", "num_classes": 4, "in_channels": 1,
                    "resolution": 32, "mode": "postpool", "switching_res": 8, "norm": "none", **TINY}
    clone = instantiate(spec)
    clone.load_state_dict(net.state_dict())
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(clone(x), net(x))


@pytest.mark.parametrize("kwargs,key", [
    ({"mode": "lowpass"}, "model.net.mode"),
    ({"switching_res": 12}, "model.net.switching_res"),
    ({"switching_res": 64}, "model.net.switching_res"),
    ({"switching_res": 2}, "model.net.switching_res"),
    ({"mode": "residual", "switching_res": 32}, "model.net.switching_res"),
    ({"resolution": 48}, "model.net.resolution"),
    ({"num_classes": 0}, "model.net.num_classes"),
    ({"fmap_base": 8}, "model.net.fmap_base"),
])
def test_invalid_configs_name_their_key(kwargs, key):
    args = {"num_classes": 3, "in_channels": 1, "resolution": 32, **kwargs}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        AttNet(**args)


def test_wrong_input_shape_names_the_keys():
    with pytest.raises(ValueError, match="model.net.in_channels"):
        AttNet(2, 1, 32, **TINY)(torch.zeros(1, 3, 32, 32))


# -- receptive fields ---------------------------------------------------------------------------------
def test_postpool_receptive_fields_match_the_paper_table():
    rf = {s: AttNet(5, mode="postpool", switching_res=s).receptive_field() for s in (128, 64, 32, 16, 8, 4)}
    assert rf == {128: 1, 64: 5, 32: 14, 16: 32, 8: 68, 4: 140}
    at32 = {s: AttNet(2, 1, 32, mode="postpool", switching_res=s, **TINY).receptive_field() for s in (32, 16, 8, 4)}
    assert at32 == {32: 1, 16: 5, 8: 14, 4: 32}


def gradient_support(net, resolution):
    """Bounding-box side of the input pixels one central local feature depends on, with all-positive weights
    (so no gradient cancels), and whether the box stays clear of the image border (no reflection)."""
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = torch.zeros(1, net.in_channels, resolution, resolution, requires_grad=True)
    f = net.local_features(x)
    f[0, :, f.shape[-2] // 2, f.shape[-1] // 2].sum().backward()
    rows = (x.grad[0].abs().sum(0) > 0).any(1).nonzero().flatten()
    cols = (x.grad[0].abs().sum(0) > 0).any(0).nonzero().flatten()
    assert rows.max() - rows.min() == cols.max() - cols.min()
    clear = rows.min() > 0 and rows.max() < resolution - 1
    return int(rows.max() - rows.min() + 1), bool(clear)


@pytest.mark.parametrize("mode,s,expected", [
    ("postpool", 64, 5), ("postpool", 32, 14), ("postpool", 16, 32), ("postpool", 8, 68),
    ("predownsample", 4, 61),
])
def test_receptive_field_equals_the_gradient_support(mode, s, expected):
    res = 64 if mode == "predownsample" else 128
    net = AttNet(2, 1, res, fmap_base=64, fmap_max=8, fingerprint_dim=8, mode=mode, switching_res=s)
    assert net.receptive_field() == expected
    assert gradient_support(net, res) == (expected, True)


@pytest.mark.parametrize("r", [64, 32, 16])
def test_filter_receptive_fields_equal_the_gradient_support(r):
    def support(fn):
        x = torch.zeros(1, 1, 256, 256, requires_grad=True)
        y = fn(x)
        y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
        rows = (x.grad[0, 0] != 0).any(1).nonzero().flatten()
        return int(rows.max() - rows.min() + 1)

    levels = (256 // r).bit_length() - 1
    assert support(lambda x: lowpass(x, r)) == ReceptiveField().pyramid_down(levels).size
    fine = ReceptiveField().pyramid_down(levels - 1)
    assert support(lambda x: band_residual(x, r)) == fine.union(fine.pyramid_down().pyramid_up()).size


def test_postpool_features_ignore_pixels_outside_the_receptive_field():
    net = AttNet(2, 1, 32, mode="postpool", switching_res=8, **TINY)  # 14 px field on a 16x16 local map
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    base = net.local_features(x)[0, :, 8, 8]
    # Position (8, 8) of the 16x16 map sees input rows/cols 10 .. 23 (two 3x3 convs, 2x2 pool, two 3x3 convs).
    cases = [((16, 16), True), ((10, 10), True), ((23, 23), True), ((10, 23), True),
             ((9, 16), False), ((16, 24), False), ((24, 10), False), ((0, 0), False)]
    for (i, j), inside in cases:
        y = x.clone()
        y[0, 0, i, j] += 1.0
        change = (net.local_features(y)[0, :, 8, 8] - base).abs().max().item()
        assert (change > 1e-4) if inside else (change == 0.0), (i, j, change)


def test_predownsample_is_blind_to_a_checkerboard_and_attnet_is_not():
    x = torch.rand(4, 1, 32, 32) * 1.6 - 0.8
    i = torch.arange(32)
    board = 0.2 * (1 - 2 * ((i[:, None] + i[None, :]) % 2)).float()
    low = AttNet(3, 1, 32, mode="predownsample", switching_res=16, **TINY)
    full = AttNet(3, 1, 32, **TINY)
    assert (low(x + board) - low(x)).abs().max().item() < 1e-5
    assert (full(x + board) - full(x)).abs().max().item() > 1e-3


# -- configs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,mode,s", [("none", "full", 4), ("predownsample", "predownsample", 8),
                                            ("residual", "residual", 8), ("postpool", "postpool", 8)])
def test_variant_configs_instantiate(variant, mode, s):
    base = OmegaConf.create({"scale": {"channels": 1, "resolution": 32},
                             "model": {"net": {"_target_": "ganprint.models.attnet.AttNet", "num_classes": 3,
                                               "in_channels": "${scale.channels}",
                                               "resolution": "${scale.resolution}", **TINY,
                                               "mode": "full", "switching_res": 4}}})
    text = (CONF / "variant" / f"{variant}.yaml").read_text()
    assert text.startswith("# @package _global_")
    cfg = OmegaConf.merge(base, OmegaConf.create(text))
    assert cfg.variant_name == variant
    net = instantiate(cfg.model.net)
    assert isinstance(net, AttNet) and (net.mode, net.switching_res) == (mode, s)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    # The sweep parameter composes on top of the variant.
    swept = OmegaConf.merge(cfg, OmegaConf.from_dotlist(["model.net.switching_res=16"]))
    assert instantiate(swept.model.net).switching_res == 16


# -- learning ---------------------------------------------------------------------------------------
def planted_set(n, pattern, seed):
    """Two classes of random smooth images; class 1 carries a planted pattern, a pixel checkerboard
    ("high": only the top band) or a left-to-right ramp ("low": only the lowest band)."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * F.interpolate(torch.rand(n, 1, 4, 4, generator=g) * 2 - 1, size=32, mode="bilinear")
    x = x + 0.2 * (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1)
    y = torch.arange(n) % 2
    if pattern == "high":
        i = torch.arange(32)
        signal = 0.1 * (1 - 2 * ((i[:, None] + i[None, :]) % 2)).float()
    else:
        signal = 0.3 * torch.linspace(-1, 1, 32).expand(32, 32)
    return x + y.view(-1, 1, 1, 1) * signal, y


def train_and_test(mode, s, pattern, steps=200):
    net = AttNet(2, 1, 32, mode=mode, switching_res=s, **TINY)
    (xtr, ytr), (xte, yte) = planted_set(512, pattern, 1), planted_set(256, pattern, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99))
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        idx = torch.randint(0, len(xtr), (32,), generator=g)
        loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (net(xte).argmax(1) == yte).float().mean().item()


@pytest.mark.parametrize("mode,s,pattern", [
    ("full", 4, "high"), ("residual", 16, "high"), ("postpool", 16, "high"), ("predownsample", 4, "low"),
])
def test_each_variant_learns_its_band(mode, s, pattern):
    assert train_and_test(mode, s, pattern) > 0.85


@pytest.mark.parametrize("mode,s", [("predownsample", 8), ("residual", 8)])
def test_variants_stay_at_chance_without_the_planted_band(mode, s):
    # A pixel checkerboard lives only in the band between 32 and 16: neither the 8x8 low-pass nor the
    # 16-to-8 band carries it.
    assert train_and_test(mode, s, "high") < 0.65


def test_batch_norm_option_adds_norm_layers_and_keeps_old_checkpoints_loadable():
    plain = AttNet(3, 1, 32, **TINY)
    normed = AttNet(3, 1, 32, norm="batch", **TINY)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in normed.modules())
    assert n_bn == 2 * 3 + 1  # two per learned block (32, 16, 8 px) and the head conv
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    # the conv and dense weights keep their names: a checkpoint of the plain net loads into a rebuilt plain net
    AttNet(3, 1, 32, **TINY).load_state_dict(plain.state_dict())
    assert instantiate(normed.spec()).norm == "batch"
    with pytest.raises(ValueError, match="model.net.norm"):
        AttNet(3, 1, 32, norm="layer", **TINY)


# -- checkpoint compatibility -------------------------------------------------------------------------
# State-dict keys and shapes recorded from AttNet(3, 1, 32, **TINY) before its constructor was split into a layer
# plan and the layer building: a checkpoint written by either version must load into the other.
_CONV = {32: (4, 1, 8, 4), 16: (8, 8, 16, 8), 8: (16, 16, 32, 16)}  # (out0, in0, out1, in1) per block


def _block(r, batch=False):
    out0, in0, out1, in1 = _CONV[r]

    def norm(name, c):
        return [(f"local.{name}.weight", (c,)), (f"local.{name}.bias", (c,)), (f"local.{name}.running_mean", (c,)),
                (f"local.{name}.running_var", (c,)), (f"local.{name}.num_batches_tracked", ())] if batch else []

    return [(f"local.conv{r}_0.weight", (out0, in0, 3, 3)), (f"local.conv{r}_0.bias", (out0,)), *norm(f"norm{r}_0", out0),
            (f"local.conv{r}_1.weight", (out1, in1, 3, 3)), (f"local.conv{r}_1.bias", (out1,)), *norm(f"norm{r}_1", out1)]


_HEAD_DENSE = [("dense1.weight", (32, 512)), ("dense1.bias", (32,)), ("dense2.weight", (3, 32)), ("dense2.bias", (3,))]
RECORDED_KEYS = {
    ("full", 4, "none"): [
        ("local.conv32_0.weight", (4, 1, 3, 3)), ("local.conv32_0.bias", (4,)),
        ("local.conv32_1.weight", (8, 4, 3, 3)), ("local.conv32_1.bias", (8,)),
        ("local.conv16_0.weight", (8, 8, 3, 3)), ("local.conv16_0.bias", (8,)),
        ("local.conv16_1.weight", (16, 8, 3, 3)), ("local.conv16_1.bias", (16,)),
        ("local.conv8_0.weight", (16, 16, 3, 3)), ("local.conv8_0.bias", (16,)),
        ("local.conv8_1.weight", (32, 16, 3, 3)), ("local.conv8_1.bias", (32,)),
        ("head.0.weight", (32, 32, 3, 3)), ("head.0.bias", (32,)), *_HEAD_DENSE],
    ("postpool", 8, "batch"): [
        *_block(32, batch=True), *_block(16, batch=True),
        ("head.0.weight", (32, 16, 3, 3)), ("head.0.bias", (32,)),
        ("head.1.weight", (32,)), ("head.1.bias", (32,)), ("head.1.running_mean", (32,)),
        ("head.1.running_var", (32,)), ("head.1.num_batches_tracked", ()), *_HEAD_DENSE],
    ("predownsample", 8, "none"): [
        ("local.conv8_0.weight", (16, 1, 3, 3)), ("local.conv8_0.bias", (16,)),
        ("local.conv8_1.weight", (32, 16, 3, 3)), ("local.conv8_1.bias", (32,)),
        ("head.0.weight", (32, 32, 3, 3)), ("head.0.bias", (32,)), *_HEAD_DENSE],
    ("residual", 4, "none"): [
        ("local.conv8_0.weight", (16, 1, 3, 3)), ("local.conv8_0.bias", (16,)),
        ("local.conv8_1.weight", (32, 16, 3, 3)), ("local.conv8_1.bias", (32,)),
        ("head.0.weight", (32, 32, 3, 3)), ("head.0.bias", (32,)), *_HEAD_DENSE],
    ("postpool", 32, "none"): [("head.0.weight", (32, 1, 3, 3)), ("head.0.bias", (32,)), *_HEAD_DENSE],
}


@pytest.mark.parametrize("mode,s,norm", list(RECORDED_KEYS))
def test_state_dict_keys_and_shapes_are_the_recorded_ones(mode, s, norm):
    net = AttNet(3, 1, 32, mode=mode, switching_res=s, norm=norm, **TINY)
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == RECORDED_KEYS[(mode, s, norm)]


def test_recorded_block_helper_matches_the_literal_full_network():
    # The helper that shortens the batch-norm list gives back the plain list written out above.
    assert [*_block(32), *_block(16), *_block(8)] == RECORDED_KEYS[("full", 4, "none")][:12]
