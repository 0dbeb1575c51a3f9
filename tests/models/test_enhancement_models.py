"""DnCNN, RED-CNN, SRCNN, ESPCN and the PatchGAN/pix2pix step: sizes, the papers' parameter counts,
the residual wiring, gradients, and that each adversarial step updates only its own network."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import optim
from models.dncnn import DnCNN
from models.patchgan import PatchGAN, discriminator_step, generator_step, pix2pix_step
from models.redcnn import REDCNN
from models.srcnn import ESPCN, SRCNN

RNG = np.random.default_rng(5)


def n_params(model, weights_only=False):
    return sum(int(np.prod(p.shape)) for name, p in model.named_parameters()
               if not weights_only or name.endswith("weight") and len(p.shape) > 1)


def test_parameter_counts_are_the_papers():
    assert n_params(DnCNN()) == 556_097  # DnCNN-S, 17 layers of width 64: "about 0.56 M"
    assert n_params(REDCNN()) == 1_848_865  # 10 layers of 96 5x5 filters: "about 1.85 M"
    assert n_params(SRCNN(f2=1), weights_only=True) == 8_032  # the 9-1-5 network's 8,032 weights
    assert n_params(SRCNN(f2=5), weights_only=True) == 57_184  # 9-5-5


def test_dncnn_subtracts_the_noise_it_predicts():
    net = DnCNN(depth=4, width=8)
    y = engine.tensor(RNG.normal(size=(2, 1, 12, 12)).astype(np.float32))
    np.testing.assert_allclose(net(y).detach().numpy(), (y - net.residual(y)).detach().numpy(), atol=1e-6)
    assert DnCNN(depth=3, width=4, dims=3)(engine.randn(1, 1, 6, 6, 6)).shape == (1, 1, 6, 6, 6)
    with pytest.raises(ValueError, match="depth must be an integer >= 2"):
        DnCNN(depth=1)


def test_identity_initialisation_starts_from_the_input():
    y = engine.tensor(RNG.normal(size=(2, 1, 9, 9)).astype(np.float32))
    np.testing.assert_array_equal(DnCNN(depth=3, width=4, identity_init=True)(y).detach().numpy(), y.numpy())
    np.testing.assert_array_equal(SRCNN(n1=4, n2=3, residual=True)(y).detach().numpy(), y.numpy())
    assert not np.allclose(DnCNN(depth=3, width=4)(y).detach().numpy(), y.numpy())


def test_dncnn_learns_to_remove_gaussian_noise():
    # smooth random images plus noise of std 0.1: 150 Adam steps must at least halve the error
    from scipy import ndimage

    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    clean = ndimage.gaussian_filter(rng.normal(size=(64, 1, 16, 16)), (0, 0, 2, 2)).astype(np.float32) * 4
    noisy = clean + 0.1 * rng.normal(size=clean.shape).astype(np.float32)
    net = DnCNN(depth=4, width=16, identity_init=True)
    opt = optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(150):
        idx = rng.choice(64, 16, replace=False)
        loss = ((net(engine.tensor(noisy[idx])) - engine.tensor(clean[idx])) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with engine.no_grad():
        mse = float(((net(engine.tensor(noisy)).numpy() - clean) ** 2).mean())
    assert mse < 0.5 * 0.1**2


def test_redcnn_with_a_silent_decoder_returns_relu_of_its_input():
    # zero the last transposed convolution: only the outer shortcut is left, out = ReLU(x)
    net = REDCNN(width=4)
    net.decoder[4].weight.data[...] = 0
    net.decoder[4].bias.data[...] = 0
    x = engine.tensor(RNG.normal(size=(2, 1, 24, 25)).astype(np.float32))
    np.testing.assert_array_equal(net(x).detach().numpy(), np.maximum(x.numpy(), 0))
    with pytest.raises(ValueError, match="H, W >= 21"):
        net(engine.randn(1, 1, 20, 30))


def test_srcnn_residual_and_espcn_shapes():
    x = engine.tensor(RNG.normal(size=(2, 1, 10, 14)).astype(np.float32))
    plain, residual = SRCNN(n1=4, n2=3), SRCNN(n1=4, n2=3, residual=True)
    residual.load_state_dict(plain.state_dict())
    np.testing.assert_allclose(residual(x).detach().numpy(), (plain(x) + x).detach().numpy(), atol=1e-6)
    assert ESPCN(3, n1=4, n2=3)(x).shape == (2, 1, 30, 42)
    with pytest.raises(ValueError, match="kernel sizes must be odd"):
        SRCNN(f1=8)
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        ESPCN(0)


def test_espcn_places_the_last_convolution_channels_as_blocks():
    # with a zero last convolution whose bias is k for channel k, every 2x2 block reads [[0, 1], [2, 3]]
    net = ESPCN(2, n1=2, n2=2)
    net.conv3.weight.data[...] = 0
    net.conv3.bias.data[...] = np.arange(4, dtype=np.float32)
    out = net(engine.randn(1, 1, 3, 3)).detach().numpy()[0, 0]
    np.testing.assert_array_equal(out, np.tile([[0, 1], [2, 3]], (3, 3)))


@pytest.mark.parametrize("build, shape", [
    (lambda: DnCNN(depth=3, width=2), (2, 1, 5, 5)),
    (lambda: ESPCN(2, n1=2, n2=2), (1, 1, 3, 4)),
    (lambda: SRCNN(n1=2, n2=2, f1=3, f2=1, f3=3), (1, 1, 5, 4)),
    (lambda: REDCNN(width=1), (1, 1, 21, 21)),
])
def test_gradients_with_respect_to_inputs_and_parameters(build, shape):
    net = build()
    x = engine.tensor(RNG.normal(size=shape), requires_grad=True)
    engine.gradcheck_module(net, x, mode="directional", n_directions=3)


def test_patchgan_output_size_and_receptive_field():
    d = PatchGAN(in_channels=2, width=2)
    assert d(engine.randn(1, 2, 64, 64)).shape == (1, 1, 6, 6)
    assert d(engine.randn(1, 2, 256, 256)).shape == (1, 1, 30, 30)  # pix2pix's 30 x 30 patches
    # receptive field 70 x 70 (with padding 1 the top-left patch starts outside the image): rows and columns
    # from 70 on cannot reach the top-left logit, but do reach the bottom-right one
    d.eval()
    x = RNG.normal(size=(1, 2, 96, 96)).astype(np.float32)
    moved = x.copy()
    moved[..., 70:, :] += 5.0
    moved[..., :, 70:] += 5.0
    a, b = d(engine.tensor(x)).detach().numpy(), d(engine.tensor(moved)).detach().numpy()
    assert a[0, 0, 0, 0] == pytest.approx(b[0, 0, 0, 0], abs=1e-5)
    assert not np.allclose(a[0, 0, -1, -1], b[0, 0, -1, -1])
    with pytest.raises(ValueError, match="H, W >= 18"):
        d(engine.randn(1, 2, 16, 16))


def _snapshot(model):
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


def _changed(before, model):
    return sorted(name for name, p in model.named_parameters() if not np.array_equal(before[name], p.detach().numpy()))


@pytest.fixture
def gan():
    engine.manual_seed(1)
    g = DnCNN(depth=3, width=4)  # any generator; the experiment uses a U-Net
    d = PatchGAN(in_channels=2, width=4, n_layers=2)
    opt_g, opt_d = optim.Adam(g.parameters(), lr=1e-2), optim.Adam(d.parameters(), lr=1e-2)
    x = engine.tensor(RNG.normal(size=(2, 1, 16, 16)).astype(np.float32))
    y = engine.tensor(RNG.normal(size=(2, 1, 16, 16)).astype(np.float32))
    return g, d, opt_g, opt_d, x, y


def test_the_discriminator_step_changes_only_the_discriminator(gan):
    g, d, opt_g, opt_d, x, y = gan
    g_before, d_before = _snapshot(g), _snapshot(d)
    discriminator_step(g, d, opt_d, x, y)
    assert _changed(g_before, g) == []
    assert all(p.grad is None for p in g.parameters())
    assert len(_changed(d_before, d)) == len(d_before)  # every D parameter moved


def test_the_generator_step_changes_only_the_generator(gan):
    g, d, opt_g, opt_d, x, y = gan
    discriminator_step(g, d, opt_d, x, y)  # give D gradients and optimiser state first
    opt_d.zero_grad()
    g_before, d_before = _snapshot(g), _snapshot(d)
    out = generator_step(g, d, opt_g, x, y)
    assert _changed(d_before, d) == []
    assert all(p.grad is None for p in d.parameters())  # frozen: no gradient was even computed
    assert all(p.requires_grad for p in d.parameters())  # and unfrozen afterwards
    assert len(_changed(g_before, g)) > 0.9 * len(g_before)
    assert out["g_adv"] > 0 and out["g"] == pytest.approx(out["g_adv"] + 100 * out["g_l1"], rel=1e-5)


def test_the_adversarial_term_reaches_the_generator_through_the_discriminator(gan):
    # with l1_weight = 0 the only signal to G is D's judgement: G must still move
    g, d, opt_g, opt_d, x, y = gan
    g_before = _snapshot(g)
    generator_step(g, d, opt_g, x, y, l1_weight=0.0)
    assert len(_changed(g_before, g)) > 0.9 * len(g_before)


def test_pix2pix_steps_train_a_mapping_and_l1_only_leaves_d_alone(gan):
    g, d, opt_g, opt_d, x, y = gan
    target = 2.0 * x  # an easy mapping: the L1 error must fall
    d_before = _snapshot(d)
    first = pix2pix_step(g, d, opt_g, opt_d, x, target, adversarial=False)
    assert first["d"] == 0.0 and _changed(d_before, d) == []
    for _ in range(60):  # the paper's weight: L1 dominates, so the error falls while D learns
        last = pix2pix_step(g, d, opt_g, opt_d, x, target, l1_weight=100.0)
    assert last["g_l1"] < 0.5 * first["g_l1"]
    assert last["d"] < 0.5  # D learned to tell the pair from G's output (chance: ln 2 = 0.69)
