"""attNet's trunk layout on its own: learned resolutions and receptive fields, checked against the built network."""

import pytest

from ganprint.models.attnet import MODES, AttNet
from ganprint.models.attnet_layout import attnet_layout

# Small widths: the layout does not depend on them, and fmap_base = resolution / 2 is the least _validate takes.
NARROW = {"fmap_max": 8, "fingerprint_dim": 8}


def test_full_network_at_128_has_five_blocks_with_the_paper_fields():
    layout = attnet_layout(128)
    assert (layout.preprocess, layout.start, layout.blocks, layout.last) == ("identity", 128, (128, 64, 32, 16, 8), 8)
    # After the block at r, one position sees the patch postpool with s = r / 2 learns on (Table 5).
    assert {r: f.size for r, f in layout.fields.items()} == {128: 5, 64: 14, 32: 32, 16: 68, 8: 140}
    assert {r: f.jump for r, f in layout.fields.items()} == {128: 1, 64: 2, 32: 4, 16: 8, 8: 16}
    assert layout.output_field.size == 140


@pytest.mark.parametrize(("s", "blocks", "size"), [
    (128, (), 1), (64, (128,), 5), (32, (128, 64), 14), (16, (128, 64, 32), 32), (8, (128, 64, 32, 16), 68),
    (4, (128, 64, 32, 16, 8), 140),
])
def test_postpool_learns_only_above_the_switching_resolution(s, blocks, size):
    layout = attnet_layout(128, "postpool", s)
    assert layout.blocks == blocks and layout.output_field.size == size
    assert layout.last == (blocks[-1] if blocks else 128)


def test_predownsample_and_residual_start_below_the_input_with_the_filters_field():
    low = attnet_layout(64, "predownsample", 4)
    # Four binomial 5x5 levels: 1 + 4 (1 + 2 + 4 + 8) = 61 pixels, nothing learned on a 4x4 map.
    assert (low.preprocess, low.lowpass_levels, low.start, low.blocks) == ("lowpass", 4, 4, ())
    assert (low.input_field.size, low.input_field.jump, low.output_field.size) == (61, 16, 61)
    # At s = resolution there is nothing to low-pass: the full network.
    assert attnet_layout(64, "predownsample", 64).blocks == attnet_layout(64).blocks
    res = attnet_layout(32, "residual", 4)
    assert (res.preprocess, res.start, res.blocks) == ("band_residual", 8, (8,))
    assert (res.input_field.size, res.output_field.size) == (45, 45 + 2 * 2 * 4)  # two 3x3 convs at jump 4


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("mode", MODES)
def test_layout_field_is_the_networks_receptive_field(mode, resolution):
    for s in (4, 8, 16, 32):
        if s > resolution or (mode == "residual" and 2 * s > resolution):
            continue
        net = AttNet(2, 1, resolution, fmap_base=resolution // 2, mode=mode, switching_res=s, **NARROW)
        layout = attnet_layout(resolution, mode, s)
        assert net.receptive_field() == layout.output_field.size
        learned = [name[4:-2] for name in net.local._modules if name.startswith("conv") and name.endswith("_0")]
        assert tuple(int(r) for r in learned) == layout.blocks
