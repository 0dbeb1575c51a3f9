"""Transposed convolution (conv_transpose1d/2d/3d, ConvTranspose1d/2d/3d): the adjoint of a
convolution; gradients, agreement with PyTorch, output sizes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F
from engine.nn.functional import _im2col

RNG = np.random.default_rng(1)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MODULE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}

# (nd, N, C_in, C_out, spatial size, kernel, dict of stride/padding/output_padding/groups/dilation)
CONFIGS = [
    (1, 2, 2, 3, (4,), (3,), dict()),
    (1, 1, 4, 2, (5,), (3,), dict(stride=3, padding=1, output_padding=2, dilation=2, groups=2)),
    (2, 2, 2, 3, (3, 4), (3, 3), dict(stride=2, padding=1, output_padding=1)),
    (2, 1, 2, 2, (3, 3), (2, 2), dict(stride=2)),  # the U-Net upsampling layer
    (2, 1, 4, 2, (3, 2), (3, 2), dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1), groups=2)),
    (2, 2, 3, 2, (2, 3), (1, 1), dict()),  # pointwise
    (3, 1, 2, 2, (2, 3, 2), (2, 2, 3), dict(stride=(2, 1, 2), padding=(0, 0, 1), output_padding=(1, 0, 0))),
]
IDS = [f"{c[0]}d-{c[5]}-{c[6]}" for c in CONFIGS]


def _inputs(nd, n, c_in, c_out, size, kernel, kw, device):
    groups = kw.get("groups", 1)
    x = engine.tensor(RNG.normal(size=(n, c_in) + size), device=device, requires_grad=True)
    w = engine.tensor(RNG.normal(size=(c_in, c_out // groups) + kernel), device=device, requires_grad=True)
    b = engine.tensor(RNG.normal(size=(c_out,)), device=device, requires_grad=True)
    return x, w, b


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradients_of_input_weight_and_bias_match_finite_differences(config, device):
    nd, *shape, kw = config
    x, w, b = _inputs(nd, *shape, kw, device)
    engine.gradcheck(lambda x, w, b: CONV_T[nd](x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_module_matches_pytorch_outputs_and_gradients(config, device, torch):
    nd, n, c_in, c_out, size, kernel, kw = config
    theirs = getattr(torch.nn, f"ConvTranspose{nd}d")(c_in, c_out, kernel, **kw)
    ours = MODULE[nd](c_in, c_out, kernel, **kw)
    ours.load_state_dict(theirs.state_dict())
    ours.to(device)
    x = RNG.normal(size=(n, c_in) + size).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xe = engine.tensor(x, device=device, requires_grad=True)
    yt, ye = theirs(xt), ours(xe)
    assert ye.shape == tuple(yt.shape)
    g = RNG.normal(size=tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_it_is_the_adjoint_of_the_convolution_with_the_same_weight(config):
    """<conv(y, W), x> = <y, conv_transpose(x, W)> for all x and y (no bias)."""
    nd, n, c_in, c_out, size, kernel, kw = config
    x, w, _ = _inputs(nd, n, c_in, c_out, size, kernel, kw, "cpu")
    conv_kw = {k: v for k, v in kw.items() if k != "output_padding"}
    out = CONV_T[nd](x, w, **kw)
    y = engine.tensor(RNG.normal(size=out.shape))
    down = CONV[nd](y, w, **conv_kw)
    assert down.shape == x.shape
    assert float((down * x).sum()) == pytest.approx(float((y * out).sum()), rel=1e-10)


def test_stride_two_kernel_two_doubles_the_size_and_output_size_picks_the_padding():
    up = nn.ConvTranspose2d(4, 2, 2, stride=2)
    assert up(engine.randn(1, 4, 5, 6)).shape == (1, 2, 10, 12)
    # a stride-2 3x3 convolution maps 7 and 8 to 4; output_size says which one to go back to
    up3 = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    x = engine.randn(1, 4, 4, 4)
    assert up3(x).shape == (1, 2, 7, 7)
    assert up3(x, output_size=(8, 7)).shape == (1, 2, 8, 7)
    assert up3(x, output_size=(1, 2, 8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match=r"requested output size \(9, 7\) is not between \(7, 7\) and \(8, 8\)"):
        up3(x, output_size=(9, 7))


def test_chunked_batches_give_the_same_results(device, monkeypatch):
    x, w, b = _inputs(2, 4, 4, 6, (3, 4), (3, 3), dict(groups=2), device)

    def run():
        y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
        y.backward(engine.ones_like(y) * y.detach())
        grads = [t.grad.numpy() for t in (x, w, b)]
        for t in (x, w, b):
            t.grad = None
        return [y.detach().numpy()] + grads

    whole = run()
    monkeypatch.setattr(_im2col, "UNFOLD_BUDGET_BYTES", 500)
    for a, c in zip(whole, run()):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_parameters_have_the_in_out_layout_and_pytorchs_fan_in():
    layer = nn.ConvTranspose2d(6, 4, 3, groups=2)
    assert layer.weight.shape == (6, 2, 3, 3) and layer.bias.shape == (4,)
    bound = 1 / np.sqrt(2 * 9)  # PyTorch's fan_in is weight.shape[1] * kernel
    assert np.abs(layer.weight.detach().numpy()).max() <= bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound


# --- errors ---------------------------------------------------------------------------------------
def test_wrong_rank_and_channel_mismatch_name_the_layer():
    layer = nn.ConvTranspose2d(4, 2, 2, stride=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 2.*expected a 4-D input of shape \(N, C, H, W\)"):
        layer(engine.randn(4, 3, 3))
    with pytest.raises(ValueError, match=r"input has 3 channels.*expects 4"):
        layer(engine.randn(1, 3, 3, 3))


def test_bad_output_padding_groups_and_sizes():
    x = engine.randn(1, 4, 3, 3)
    with pytest.raises(ValueError, match="output_padding .* smaller than either the stride"):
        F.conv_transpose2d(x, engine.randn(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="in_channels=4 is not divisible by groups=3"):
        nn.ConvTranspose2d(4, 3, 3, groups=3)
    with pytest.raises(ValueError, match="in_channels=4 .* not divisible by groups=3"):
        F.conv_transpose2d(x, engine.randn(4, 1, 3, 3), groups=3)
    with pytest.raises(ValueError, match="would not be positive"):
        F.conv_transpose2d(engine.randn(1, 4, 1, 1), engine.randn(4, 2, 1, 1), padding=1)
    with pytest.raises(ValueError, match="padding must be an int or a tuple"):
        nn.ConvTranspose2d(4, 2, 3, padding="same")
