"""nn.resample: the fast 2x pool and nearest upsampling equal PyTorch's kernels, and their gradients (first and
second order, which the WGAN-GP penalty needs) are right."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganprint.nn.resample import AvgPool2, Up2, avg_pool2, up_nearest


@pytest.mark.parametrize("fn", [avg_pool2, lambda t: up_nearest(t, 2), lambda t: up_nearest(t, 4)],
                         ids=["avg_pool2", "up2", "up4"])
def test_gradients_first_and_second_order(fn):
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_values_equal_torch_kernels():
    x = torch.randn(5, 4, 16, 16)
    assert torch.allclose(avg_pool2(x), F.avg_pool2d(x, 2), atol=1e-6)
    assert torch.allclose(AvgPool2()(x), torch.nn.AvgPool2d(2)(x), atol=1e-6)
    for f in (2, 4):
        assert torch.equal(up_nearest(x, f), F.interpolate(x, scale_factor=f, mode="nearest"))
    assert torch.equal(Up2()(x), torch.nn.Upsample(scale_factor=2, mode="nearest")(x))
    assert up_nearest(x, 1) is x


def test_odd_sides_fall_back_to_avg_pool_floor():
    x = torch.randn(2, 1, 7, 9)
    assert avg_pool2(x).shape == (2, 1, 3, 4)
    assert torch.allclose(avg_pool2(x), F.avg_pool2d(x, 2))


def test_gradient_penalty_through_the_pool_matches_torch():
    # The WGAN-GP penalty differentiates a gradient: the loss's gradient must equal the one through avg_pool2d.
    torch.manual_seed(0)
    w = torch.randn(3, 1, 3, 3)

    def penalty(pool, x, w):
        x = x.clone().requires_grad_(True)
        out = pool(torch.tanh(F.conv2d(x, w, padding=1))).pow(2).sum()
        (g,) = torch.autograd.grad(out, x, create_graph=True)
        return g.pow(2).sum()

    x = torch.randn(4, 1, 8, 8)
    grads = []
    for pool in (avg_pool2, lambda t: F.avg_pool2d(t, 2)):
        wp = w.clone().requires_grad_(True)
        penalty(pool, x, wp).backward()
        grads.append(wp.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)
