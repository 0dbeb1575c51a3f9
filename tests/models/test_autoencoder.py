"""Denoising auto-encoders and the stacked classifier they initialise."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import optim
from engine.gradcheck import gradcheck_module
from models.autoencoder import DenoisingAutoencoder, SDAEClassifier, masking_noise


def test_masking_noise_zeroes_the_requested_fraction_and_keeps_the_rest():
    x = np.arange(1, 20001, dtype=np.float32).reshape(100, 200)
    y = masking_noise(x, 0.3, np.random.default_rng(0))
    zeroed = y == 0
    assert abs(zeroed.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(y[~zeroed], x[~zeroed])
    assert x.min() == 1  # the input is not modified
    with pytest.raises(ValueError, match=r"masking_noise: fraction must be in \[0, 1\), got 1.0"):
        masking_noise(x, 1.0, np.random.default_rng(0))


def test_a_denoising_autoencoder_learns_to_fill_in_masked_pixels():
    # images of bars: a pixel is predictable from its row, so zeroed pixels can be restored
    rng = np.random.default_rng(0)
    rows = rng.random((512, 8, 1)) < 0.4
    x = np.broadcast_to(rows, (512, 8, 8)).reshape(512, 64).astype(np.float32)
    engine.manual_seed(0)
    dae = DenoisingAutoencoder(64, 16)
    opt = optim.Adam(dae.parameters(), lr=1e-2)

    def masked_error():
        noisy = masking_noise(x, 0.25, np.random.default_rng(1))
        with engine.no_grad():
            recon = dae(engine.tensor(noisy)).sigmoid().numpy()
        hidden = (noisy == 0) & (x == 1)
        return np.abs(recon - x)[hidden].mean()

    before = masked_error()
    for _ in range(600):
        noisy = masking_noise(x, 0.25, rng)
        loss = F.binary_cross_entropy_with_logits(dae(engine.tensor(noisy)), engine.tensor(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before > 0.3 and masked_error() < 0.1, (before, masked_error())


def test_load_pretrained_copies_each_encoder_and_checks_shapes():
    engine.manual_seed(0)
    daes = [DenoisingAutoencoder(12, 6), DenoisingAutoencoder(6, 3)]
    model = SDAEClassifier([12, 6, 3], 2)
    model.load_pretrained(daes)
    for layer, dae in zip(model.encoder.layers, daes):
        np.testing.assert_array_equal(layer.weight.detach().numpy(), dae.encoder.weight.detach().numpy())
        np.testing.assert_array_equal(layer.bias.detach().numpy(), dae.encoder.bias.detach().numpy())
    x = engine.tensor(np.random.default_rng(0).random((4, 12)).astype(np.float32))
    with engine.no_grad():
        h = daes[1].encode(daes[0].encode(x))
        np.testing.assert_allclose(model(x).numpy(), model.classifier(h).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"encoder layer \(6, 12\) but auto-encoder \(5, 12\)"):
        model.load_pretrained([DenoisingAutoencoder(12, 5), daes[1]])
    with pytest.raises(ValueError, match="1 auto-encoders for 2 encoder layers"):
        model.load_pretrained(daes[:1])


def test_gradients_in_float64():
    engine.manual_seed(0)
    x = engine.tensor(np.random.default_rng(0).random((3, 1, 2, 3)), requires_grad=True)
    for module in (DenoisingAutoencoder(6, 4).double(), SDAEClassifier([6, 4, 3], 2).double()):
        report = gradcheck_module(module, x, raise_exception=False)
        assert report.passed, report


def test_kl_sparsity_by_its_formula_and_its_gradient():
    from models.autoencoder import kl_sparsity

    h = np.array([[0.1, 0.5, 0.9], [0.3, 0.5, 0.7]])
    rho, rho_hat = 0.2, h.mean(0)
    expected = (rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))).sum()
    x = engine.tensor(h, requires_grad=True)
    value = kl_sparsity(x, rho)
    assert float(value.item()) == pytest.approx(expected)
    value.backward()
    per_unit = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(per_unit / 2, h.shape))
    assert float(kl_sparsity(engine.tensor(np.full((3, 4), 0.2)), 0.2).item()) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"rho must be in \(0, 1\)"):
        kl_sparsity(x, 0.0)


def test_the_sparsity_penalty_makes_units_quiet():
    from models.autoencoder import SparseAutoencoder, kl_sparsity

    x = engine.tensor(np.random.default_rng(0).normal(size=(256, 25)).astype(np.float32))
    mean_activation = {}
    for beta in (0.0, 3.0):
        engine.manual_seed(0)
        sae = SparseAutoencoder(25, 16)
        opt = optim.Adam(sae.parameters(), lr=1e-2)
        for _ in range(200):
            recon, hidden = sae(x)
            loss = F.mse_loss(recon, x) + beta * kl_sparsity(hidden, 0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with engine.no_grad():
            mean_activation[beta] = float(sae(x)[1].numpy().mean())
    # measured: 0.49 without the penalty, 0.19 with beta = 3 (target rho = 0.05, still moving after 200 steps)
    assert mean_activation[3.0] < 0.5 * mean_activation[0.0] and mean_activation[3.0] < 0.25, mean_activation


def test_the_convolutional_autoencoder_codes_and_reconstructs():
    from models.autoencoder import ConvAutoencoder

    engine.manual_seed(0)
    ae = ConvAutoencoder(2, (12, 16), code_size=5, width=3)
    x = engine.tensor(np.random.default_rng(0).random((4, 2, 12, 16)).astype(np.float32))
    assert ae.encode(x).shape == (4, 5) and ae(x).shape == (4, 2, 12, 16)
    with pytest.raises(ValueError, match=r"image sides must be divisible by 4, got \(28, 30\)"):
        ConvAutoencoder(1, (28, 30))
    report = gradcheck_module(ConvAutoencoder(1, (8, 8), code_size=2, width=2).double(),
                              engine.tensor(np.random.default_rng(1).random((1, 1, 8, 8)), requires_grad=True),
                              raise_exception=False, mode="directional")
    assert report.passed, report
