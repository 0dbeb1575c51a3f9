"""pixel_shuffle / pixel_unshuffle and their layers: PyTorch's layout, gradients of both orders, errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F

RNG = np.random.default_rng(11)

# (input shape, factor): leading batch axes of any number, as in PyTorch
SHUFFLE_CASES = [((2, 8, 3, 5), 2), ((1, 9, 2, 3), 3), ((3, 4, 2, 2), 1), ((4, 3, 2), 1), ((2, 2, 18, 4, 3), 3)]
UNSHUFFLE_CASES = [((2, 2, 6, 10), 2), ((1, 1, 6, 9), 3), ((2, 3, 2, 4, 4), 2)]


def test_a_two_by_two_block_reads_the_channels_row_by_row():
    # four channels of one pixel become one 2x2 block: channel k -> position (k // 2, k % 2)
    x = engine.tensor(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1))
    np.testing.assert_array_equal(F.pixel_shuffle(x, 2).numpy()[0, 0], [[0, 1], [2, 3]])


def test_the_layout_matches_the_index_formula():
    r, c, h, w = 3, 2, 4, 5
    x = RNG.normal(size=(2, c * r * r, h, w)).astype(np.float32)
    y = F.pixel_shuffle(engine.tensor(x), r).numpy()
    n_, c_, i_, j_, h_, w_ = np.meshgrid(*(np.arange(s) for s in (2, c, r, r, h, w)), indexing="ij")
    np.testing.assert_array_equal(y[n_, c_, h_ * r + i_, w_ * r + j_], x[n_, c_ * r * r + i_ * r + j_, h_, w_])


@pytest.mark.parametrize("shape, r", SHUFFLE_CASES)
def test_unshuffle_inverts_shuffle(shape, r, device):
    x = engine.tensor(RNG.normal(size=shape).astype(np.float32), device=device)
    y = F.pixel_shuffle(x, r)
    assert y.shape == shape[:-3] + (shape[-3] // r**2, shape[-2] * r, shape[-1] * r)
    assert y.dtype == np.float32 and y.device == x.device
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).numpy(), x.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("shape, r", SHUFFLE_CASES)
def test_shuffle_matches_pytorch(shape, r, device, torch):
    x = RNG.normal(size=shape).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), engine.tensor(x, device=device, requires_grad=True)
    yt, ye = torch.nn.functional.pixel_shuffle(xt, r), F.pixel_shuffle(xe, r)
    g = RNG.normal(size=tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("shape, r", UNSHUFFLE_CASES)
def test_unshuffle_matches_pytorch(shape, r, device, torch):
    x = RNG.normal(size=shape).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), engine.tensor(x, device=device, requires_grad=True)
    yt, ye = torch.nn.functional.pixel_unshuffle(xt, r), F.pixel_unshuffle(xe, r)
    g = RNG.normal(size=tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("fn, shape, r", [(F.pixel_shuffle, (2, 8, 2, 3), 2), (F.pixel_unshuffle, (1, 2, 4, 6), 2),
                                          (F.pixel_shuffle, (2, 1, 9, 2, 2), 3)])
def test_gradients_of_first_and_second_order(fn, shape, r, device):
    # the function is multiplied by a fixed weight map so that the second derivative is not trivially 0
    x = engine.tensor(RNG.normal(size=shape), device=device, requires_grad=True)
    w = engine.tensor(RNG.normal(size=fn(x, r).shape), device=device)
    engine.gradcheck(lambda v: fn(v * v, r) * w, [x])
    engine.gradgradcheck(lambda v: fn(v * v, r) * w, [x])


def test_the_array_fast_path_agrees_with_the_differentiable_backward(device):
    x = engine.tensor(RNG.normal(size=(2, 8, 3, 3)), device=device, requires_grad=True)
    g = engine.tensor(RNG.normal(size=(2, 2, 6, 6)), device=device)
    (fast,) = engine.autograd.grad([F.pixel_shuffle(x, 2)], [x], grad_outputs=[g])
    (slow,) = engine.autograd.grad([F.pixel_shuffle(x, 2)], [x], grad_outputs=[g], create_graph=True)
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())


def test_modules():
    shuffle, unshuffle = nn.PixelShuffle(2), nn.PixelUnshuffle(2)
    assert repr(shuffle) == "PixelShuffle(upscale_factor=2)"
    assert repr(unshuffle) == "PixelUnshuffle(downscale_factor=2)"
    assert list(shuffle.parameters()) == []
    x = engine.randn(1, 4, 3, 3)
    np.testing.assert_array_equal(shuffle(x).numpy(), F.pixel_shuffle(x, 2).numpy())
    np.testing.assert_array_equal(unshuffle(shuffle(x)).numpy(), x.numpy())


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"pixel_shuffle: the channels \(6, input shape \(1, 6, 2, 2\)\) must be "
                                         r"divisible by upscale_factor\^2 = 4"):
        F.pixel_shuffle(engine.randn(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: the height and width \(4, 5\)"):
        F.pixel_unshuffle(engine.randn(1, 1, 4, 5), 2)
    with pytest.raises(ValueError, match="at least 3 dimensions, got \\(4, 4\\)"):
        F.pixel_shuffle(engine.randn(4, 4), 1)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        F.pixel_unshuffle(engine.randn(4, 4), 1)
    for bad in (0, 2.0, True, -1):
        with pytest.raises(ValueError, match="must be a positive integer"):
            F.pixel_shuffle(engine.randn(1, 4, 2, 2), bad)
