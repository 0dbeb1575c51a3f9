"""U-Net and FCN: shapes, parameter counts, equality with the same network in PyTorch, gradients, fitting."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from models.unet import FCN, UNet, receptive_field


@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("up", ["transpose", "upsample"])
def test_unet_2d_shapes(norm, up):
    model = UNet(in_channels=3, out_channels=4, dims=2, depth=3, width=4, norm=norm, up=up, dropout=0.1)
    assert model(engine.randn(2, 3, 16, 24)).shape == (2, 4, 16, 24)


@pytest.mark.parametrize("model", [UNet(1, 3, dims=3, depth=3, width=4), UNet(2, 2, dims=3, depth=2, width=4,
                                                                               up="upsample", norm="group"),
                                   FCN(1, 3, dims=3, depth=3, width=4)])
def test_3d_shapes(model):
    c = model.in_channels
    assert model(engine.randn(1, c, 8, 12, 16)).shape == (1, model.out_channels, 8, 12, 16)


def test_fcn_shapes_and_depth_one():
    assert FCN(1, 2, depth=4, width=4)(engine.randn(2, 1, 32, 16)).shape == (2, 2, 32, 16)
    assert FCN(1, 2, depth=1, width=4)(engine.randn(2, 1, 5, 7)).shape == (2, 2, 5, 7)


def test_parameter_counts_in_the_docstring():
    assert UNet(1, 2, depth=4, width=16).num_parameters() == 482_466
    assert UNet(1, 2, depth=5, width=64).num_parameters() == 31_036_546
    assert FCN(1, 2, depth=4, width=16).num_parameters() == 293_970
    assert UNet(1, 2, dims=3, depth=3, width=8).num_parameters() == 85_186
    # the skips double the decoder blocks' input channels: removing them would change these counts
    assert UNet(1, 2, depth=2, width=4, norm="none").num_parameters() == (
        (1 * 9 * 4 + 4) + (4 * 9 * 4 + 4)  # level-0 block
        + (4 * 9 * 8 + 8) + (8 * 9 * 8 + 8)  # bottleneck
        + (8 * 4 * 4 + 4)  # 2x2 transposed convolution 8 -> 4
        + (8 * 9 * 4 + 4) + (4 * 9 * 4 + 4)  # decoder block on the concatenation (4 + 4 channels)
        + (4 * 2 + 2))  # 1x1 head


def test_receptive_field_of_the_encoder():
    # level 0: 1 + 2 + 2 = 5; pool +1, two convs at stride 2: +8 -> 14; pool +2, convs at stride 4: +16 -> 32
    assert [receptive_field(d) for d in (1, 2, 3)] == [5, 14, 32]


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="divisible by 2\\^\\(depth-1\\) = 8"):
        UNet(1, 2, depth=4, width=4)(engine.randn(1, 1, 20, 16))
    with pytest.raises(ValueError, match=r"expected input \(N, 1, S, S\)"):
        UNet(1, 2, depth=2, width=4)(engine.randn(1, 1, 8, 8, 8))
    with pytest.raises(ValueError, match="norm must be one of"):
        UNet(norm="layer")
    with pytest.raises(ValueError, match="up must be one of"):
        UNet(up="pixelshuffle")
    with pytest.raises(ValueError, match="dims must be 2"):
        FCN(dims=1)


@pytest.mark.parametrize("dims,norm", [(2, "batch"), (3, "group")])
def test_gradient_check_inputs_and_parameters(dims, norm):
    engine.manual_seed(0)
    model = UNet(1, 2, dims=dims, depth=2, width=2, norm=norm).double()
    model.eval()  # batch norm with running statistics: a fixed function of its input
    shape = (1, 1) + (4,) * dims
    x = engine.tensor(np.random.default_rng(0).normal(size=shape))
    engine.gradcheck_module(model, x, mode="directional", n_directions=3, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------------- the same network in PyTorch
def _torch_unet(torch, dims, depth, width, c_in, c_out, norm, up):
    """The architecture of models/unet.py written with torch.nn, parameters in the same order."""
    tnn = torch.nn
    Conv = tnn.Conv2d if dims == 2 else tnn.Conv3d
    ConvT = tnn.ConvTranspose2d if dims == 2 else tnn.ConvTranspose3d
    Pool = tnn.MaxPool2d if dims == 2 else tnn.MaxPool3d

    def norm_layer(c):
        if norm == "batch":
            return (tnn.BatchNorm2d if dims == 2 else tnn.BatchNorm3d)(c)
        return tnn.GroupNorm(next(g for g in (8, 4, 2, 1) if c % g == 0), c)

    def block(a, b):
        return tnn.Sequential(Conv(a, b, 3, padding=1, bias=False), norm_layer(b), tnn.ReLU(),
                              Conv(b, b, 3, padding=1, bias=False), norm_layer(b), tnn.ReLU())

    chans = [width * 2**i for i in range(depth)]

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.enc = tnn.ModuleList([block(c_in if i == 0 else chans[i - 1], c) for i, c in enumerate(chans)])
            self.ups = tnn.ModuleList([
                ConvT(chans[i], chans[i - 1], 2, stride=2) if up == "transpose" else tnn.Sequential(
                    tnn.Upsample(scale_factor=2, mode="bilinear" if dims == 2 else "trilinear"),
                    Conv(chans[i], chans[i - 1], 3, padding=1))
                for i in range(depth - 1, 0, -1)])
            self.dec = tnn.ModuleList([block(2 * chans[i - 1], chans[i - 1]) for i in range(depth - 1, 0, -1)])
            self.head = Conv(chans[0], c_out, 1)
            self.pool = Pool(2)

        def forward(self, x):
            feats = []
            for i, b in enumerate(self.enc):
                x = b(x if i == 0 else self.pool(x))
                feats.append(x)
            y = feats[-1]
            for u, b, s in zip(self.ups, self.dec, reversed(feats[:-1])):
                y = b(torch.cat([u(y), s], 1))
            return self.head(y)

    return Net()


@pytest.mark.torch
@pytest.mark.parametrize("dims,norm,up", [(2, "batch", "transpose"), (2, "group", "upsample"),
                                          (3, "batch", "transpose")])
def test_matches_the_same_network_in_torch(torch, dims, norm, up):
    engine.manual_seed(0)
    ours = UNet(2, 3, dims=dims, depth=3, width=4, norm=norm, up=up).double()
    theirs = _torch_unet(torch, dims, 3, 4, 2, 3, norm, up).double()
    mine = list(ours.parameters())
    assert [tuple(p.shape) for p in mine] == [tuple(p.shape) for p in theirs.parameters()]
    with torch.no_grad():
        for p, q in zip(mine, theirs.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    x = np.random.default_rng(1).normal(size=(2, 2) + (8,) * dims)
    ours.train()
    theirs.train()  # batch statistics: the training-mode forward
    xo = engine.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    u = np.random.default_rng(2).normal(size=yo.shape)
    (yo * engine.tensor(u)).sum().backward()
    (yt * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mine[0].grad.numpy(), next(theirs.parameters()).grad.numpy(), rtol=1e-8, atol=1e-10)


def test_unet_learns_to_segment_discs():
    """A small U-Net trained with Dice + CE on 8 noisy discs segments new ones (Dice > 0.9)."""
    rng = np.random.default_rng(0)

    def discs(n):
        yy, xx = np.mgrid[:16, :16]
        c = rng.uniform(5, 11, (n, 2, 1, 1))
        r = rng.uniform(2.5, 4.5, (n, 1, 1))
        masks = ((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2 <= r**2).astype(np.int64)
        return (masks + 0.4 * rng.normal(size=masks.shape)).astype(np.float32)[:, None], masks

    x, y = discs(8)
    xt, yt = discs(8)
    engine.manual_seed(0)
    model = UNet(1, 2, depth=2, width=8)
    opt = engine.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = F.dice_ce_loss(model(engine.tensor(x)), engine.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with engine.no_grad():
        pred = model(engine.tensor(xt)).numpy().argmax(1)
    dice = 2 * (pred * yt).sum() / (pred.sum() + yt.sum())
    assert dice > 0.9, dice
