"""The binomial Gaussian pyramid: constants, checkerboards, frequency response, Laplacian reconstruction."""

import math

import pytest
import torch

from ganprint.transforms.filters import (
    band_full,
    band_residual,
    binomial_kernel,
    highpass,
    lowpass,
    lowpass_full,
    pyramid_down,
    pyramid_up,
)


def checkerboard(n=2, c=3, size=32):
    i = torch.arange(size)
    board = 1.0 - 2.0 * ((i[:, None] + i[None, :]) % 2).float()  # +1/-1, the highest frequency there is
    return board.expand(n, c, size, size).clone()


def test_kernel_is_the_normalised_binomial():
    k = binomial_kernel()
    assert k.shape == (5, 5)
    assert k.sum().item() == pytest.approx(1.0)
    assert k[2, 2].item() == pytest.approx(36 / 256)
    assert k[0, 0].item() == pytest.approx(1 / 256)


@pytest.mark.parametrize("c", [1, 3])
def test_shapes(c):
    x = torch.randn(2, c, 32, 32)
    assert pyramid_down(x).shape == (2, c, 16, 16)
    assert pyramid_down(x, 3).shape == (2, c, 4, 4)
    assert pyramid_up(x, 2).shape == (2, c, 128, 128)
    assert lowpass(x, 8).shape == (2, c, 8, 8)
    assert lowpass(x, 32).shape == x.shape
    assert band_residual(x, 8).shape == (2, c, 16, 16)
    assert band_residual(x, 16).shape == x.shape
    for f in (lowpass_full, highpass, band_full):
        assert f(x, 4).shape == x.shape
    assert lowpass(torch.randn(1, 1, 32, 64), 8).shape == (1, 1, 8, 16)


def test_constant_is_kept_by_down_and_up():
    x = torch.full((1, 3, 32, 32), 0.37)
    torch.testing.assert_close(pyramid_down(x, 2), torch.full((1, 3, 8, 8), 0.37))
    torch.testing.assert_close(pyramid_up(x, 1), torch.full((1, 3, 64, 64), 0.37))


def test_band_residual_of_a_constant_is_zero_and_of_noise_is_not():
    for r in (4, 8, 16):
        assert band_residual(torch.full((2, 3, 32, 32), -0.8), r).abs().max().item() < 1e-6
        assert band_residual(torch.randn(2, 3, 32, 32), r).abs().mean().item() > 0.05


def test_lowpass_of_a_checkerboard_is_zero_and_highpass_keeps_it():
    x = checkerboard()
    for r in (16, 8, 4):
        assert lowpass(x, r).abs().max().item() < 1e-6
        torch.testing.assert_close(highpass(x, r), x, atol=1e-5, rtol=0)
    # ...while a smooth image passes the low-pass nearly unchanged.
    ramp = torch.linspace(-1, 1, 32).expand(1, 1, 32, 32)
    assert (lowpass_full(ramp, 16) - ramp)[..., 4:-4, 4:-4].abs().max().item() < 1e-5


def test_frequency_response_is_cos_to_the_fourth():
    # [1,4,6,4,1]/16 = ((1 + z)/2)^4, so a cosine of f cycles/px keeps cos(pi f)^4 of its amplitude.
    f, n = 1 / 8, 64
    cos = torch.cos(2 * math.pi * f * torch.arange(n, dtype=torch.float64))
    x = cos.expand(1, 1, n, n).clone()
    y = pyramid_down(x)[0, 0, 0, 2:-2]  # away from the reflected border
    expected = math.cos(math.pi * f) ** 4 * cos[::2][2:-2]
    torch.testing.assert_close(y, expected, atol=1e-9, rtol=0)


def test_laplacian_pyramid_reconstructs_the_image():
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    rebuilt = lowpass(x, 4)
    for r in (4, 8, 16):
        rebuilt = pyramid_up(rebuilt) + band_residual(x, r)
    torch.testing.assert_close(rebuilt, x)


@pytest.mark.parametrize("r", [0, 3, 12, 64])
def test_impossible_sizes_raise(r):
    with pytest.raises(ValueError, match="halving"):
        lowpass(torch.zeros(1, 1, 32, 32), r)


def test_non_batch_input_raises():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        pyramid_down(torch.zeros(32, 32))
