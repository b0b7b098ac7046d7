"""``utils.pixels``: the one uint8 <-> [-1, 1] conversion gives exactly what the inline formulas it replaced gave."""

from __future__ import annotations

import numpy as np
import torch

from ganprint.utils.pixels import to_pixels, to_signed


def test_same_values_and_layout_as_the_inline_formula():
    x = torch.arange(256, dtype=torch.uint8).repeat(3).reshape(1, 16, 16, 3).permute(0, 3, 1, 2)
    y = to_signed(x)
    assert torch.equal(y, x.float() / 127.5 - 1.0) and y.stride() == x.float().stride()
    assert (y.min(), y.max()) == (-1.0, 1.0)
    a = x.numpy()
    assert np.array_equal(to_signed(a), a.astype(np.float32) / 127.5 - 1.0) and to_signed(a).dtype == np.float32


def test_never_in_place_unless_given_out():
    f = torch.full((2, 2), 255.0)
    to_signed(f)
    assert torch.all(f == 255.0)
    out = torch.empty(2, 2)
    assert to_signed(torch.zeros(2, 2, dtype=torch.uint8), out=out) is out and torch.all(out == -1.0)


def test_round_trip():
    x = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_pixels(to_signed(x)), x)
    assert torch.equal(to_pixels(torch.tensor([-3.0, 3.0])), torch.tensor([0, 255], dtype=torch.uint8))
