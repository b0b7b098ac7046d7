"""Batched evaluation of a network over uint8 images: both layouts, batch boundaries, asked outputs only."""

import numpy as np
import pytest
import torch
from torch import nn

from ganprint.models.inference import net_outputs


class Probe(nn.Module):
    """Logits: the sum of a pixel's channels at (0, 0) and a learnable offset; features: that pixel's channels.
    Records each batch size and whether it ran in training mode."""

    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.tensor([10.0]))
        self.seen: list[tuple[int, bool]] = []

    def forward(self, x):
        self.seen.append((len(x), self.training))
        return x[:, :, 0, 0].sum(1, keepdim=True) + self.offset

    def features(self, x):
        return x[:, :, 0, 0]


def images_nhwc():
    """Five 2x2 RGB images; image i has channel values (0, 255, 51 * i) at pixel (0, 0)."""
    x = np.zeros((5, 2, 2, 3), dtype=np.uint8)
    x[:, 0, 0, 1] = 255
    x[:, 0, 0, 2] = 51 * np.arange(5)
    return x


def test_outputs_are_the_networks_on_the_signed_pixels_in_either_layout():
    probe = Probe().train()
    expected_features = torch.tensor([[-1.0, 1.0, -1.0 + 0.4 * i] for i in range(5)])
    for images in (images_nhwc(), torch.from_numpy(images_nhwc()).permute(0, 3, 1, 2).contiguous()):
        out = net_outputs(probe, images, ["logits", "features"], batch_size=2)
        assert list(out) == ["logits", "features"]
        torch.testing.assert_close(out["features"], expected_features)
        torch.testing.assert_close(out["logits"], expected_features.sum(1, keepdim=True) + 10.0)
        assert out["logits"].dtype == torch.float32 and not out["logits"].requires_grad
    # Batches of 2, 2 and 1, in eval mode whatever mode the network was in.
    assert probe.seen == [(2, False), (2, False), (1, False)] * 2


def test_only_the_asked_outputs_are_computed():
    probe = Probe()
    out = net_outputs(probe, images_nhwc(), ["features"], batch_size=512, device="cpu")
    assert list(out) == ["features"] and out["features"].shape == (5, 3) and probe.seen == []


def test_a_missing_output_is_named():
    with pytest.raises(ValueError, match=r"Probe has no \['embed'\]"):
        net_outputs(Probe(), images_nhwc(), ["embed"])
