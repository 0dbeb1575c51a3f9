"""Data consistency (hard and soft) and the DC-CNN cascade."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.fft import fft2c
from models.dccnn import DCCNN, DataConsistency, pack_inputs, unpack_inputs
from tasks.data.undersampling import sampling_mask


def _complex(a):
    return a[..., 0] + 1j * a[..., 1]


def _problem(n=2, size=12, seed=0, device="cpu", dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, size, size, 2)).astype(dtype)
    target = rng.standard_normal((n, size, size, 2)).astype(dtype)
    mask = sampling_mask((size, size), "random", 3, 0.2, seed=seed, n_frames=n).astype(dtype)
    k0 = fft2c(engine.tensor(target)).numpy() * mask[..., None]
    t = [engine.tensor(a, device=device) for a in (x, k0, mask)]
    return t[0], t[1], t[2], target


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_dc_keeps_measured_kspace_and_network_elsewhere(mode, device):
    x, k0, mask, _ = _problem(device=device)
    dc = (DataConsistency(mode, lam=4.0) if mode == "soft" else DataConsistency()).to(device)
    y = dc(x, k0, mask)
    assert y.device == device
    k_in = _complex(fft2c(x).numpy())
    k_out, k_meas, m = _complex(fft2c(y.detach()).numpy()), _complex(k0.numpy()), mask.numpy().astype(bool)
    np.testing.assert_allclose(k_out[~m], k_in[~m], atol=1e-10)
    expected = k_meas[m] if mode == "hard" else (k_in[m] + 4.0 * k_meas[m]) / 5.0
    np.testing.assert_allclose(k_out[m], expected, rtol=1e-5, atol=1e-6)  # soft weight lives in float32


def test_hard_dc_is_a_projection():
    x, k0, mask, _ = _problem()
    dc = DataConsistency()
    once = dc(x, k0, mask)
    np.testing.assert_allclose(dc(once, k0, mask).numpy(), once.numpy(), atol=1e-12)


def test_dc_gradcheck_and_gradgradcheck(device):
    x, k0, mask, _ = _problem(n=1, size=6, device=device)
    x.requires_grad = True
    assert engine.gradcheck(lambda a: DataConsistency()(a, k0, mask), [x]).passed
    assert engine.gradgradcheck(lambda a: DataConsistency()(a, k0, mask), [x]).passed
    soft = DataConsistency("soft", lam=2.0).to(device)
    report = engine.gradcheck_module(soft, x, k0, mask)
    assert report.passed


@pytest.mark.torch
def test_soft_dc_matches_torch(torch):
    x, k0, mask, _ = _problem(n=2, size=8)
    u = np.random.default_rng(9).standard_normal(x.shape)
    dc = DataConsistency("soft", lam=3.0).to(dtype=engine.float64)
    xe = engine.tensor(x.numpy(), requires_grad=True)
    ye = dc(xe, k0, mask)
    (ye * engine.tensor(u)).sum().backward()

    tx = torch.tensor(x.numpy(), requires_grad=True)
    logit = torch.tensor(float(dc.logit.data[0]), dtype=torch.float64, requires_grad=True)
    dims = (-2, -1)

    def f(z, inv=False):
        fn = torch.fft.ifft2 if inv else torch.fft.fft2
        return torch.fft.fftshift(fn(torch.fft.ifftshift(z, dim=dims), dim=dims, norm="ortho"), dim=dims)

    k = f(torch.view_as_complex(tx))
    kd = k + torch.sigmoid(logit) * torch.tensor(mask.numpy()) * (torch.view_as_complex(torch.tensor(k0.numpy())) - k)
    ty = torch.view_as_real(f(kd, inv=True))
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(ye.detach().numpy(), ty.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xe.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dc.logit.grad.numpy()[0], logit.grad.item(), rtol=1e-8)


def test_dccnn_with_full_sampling_returns_the_measured_image():
    x, _, _, target = _problem(n=2, size=16, dtype=np.float32)
    full = engine.tensor(np.ones((2, 16, 16), np.float32))
    k_full = fft2c(engine.tensor(target))
    y = DCCNN(n_cascades=2, nf=4, n_convs=3)(x, k_full, full)
    np.testing.assert_allclose(y.detach().numpy(), target, atol=1e-4)


def test_shared_weights_and_packed_inputs():
    assert len(list(DCCNN(4, 8, 3, shared=True).parameters())) == len(list(DCCNN(1, 8, 3).parameters()))
    rng = np.random.default_rng(0)
    img = rng.standard_normal((2, 8, 8)) + 1j * rng.standard_normal((2, 8, 8))
    k = rng.standard_normal((2, 8, 8)) + 1j * rng.standard_normal((2, 8, 8))
    mask = rng.random((2, 1, 8)) < 0.5
    x, k0, m = unpack_inputs(engine.tensor(pack_inputs(img, k, mask)))
    np.testing.assert_allclose(_complex(x.numpy()), img, atol=1e-6)
    np.testing.assert_allclose(_complex(k0.numpy()), k, atol=1e-6)
    np.testing.assert_array_equal(m.numpy(), np.broadcast_to(mask, (2, 8, 8)))
    net = DCCNN(2, 4, 3)
    a = net(engine.tensor(pack_inputs(img, k, mask)))
    b = net(x, k0, m)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6)


def test_dccnn_learns_to_beat_zero_filled():
    """A few Adam steps on piecewise-constant images: the cascade's error drops well below zero-filled's."""
    rng = np.random.default_rng(0)
    n, s = 8, 24
    imgs = np.zeros((n, s, s))
    for i in range(n):
        y0, x0 = rng.integers(2, 10, 2)
        imgs[i, y0:y0 + 10, x0:x0 + 12] = 1.0
    mask = sampling_mask((s, s), "random", 4, 0.16, seed=0, n_frames=n)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(imgs, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)) * mask
    zf = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    packed = engine.tensor(pack_inputs(zf, k, mask))
    target = engine.tensor(np.stack([imgs, np.zeros_like(imgs)], -1).astype(np.float32))
    engine.manual_seed(0)
    net = DCCNN(n_cascades=2, nf=16, n_convs=3)
    opt = engine.optim.Adam(net.parameters(), lr=3e-3)
    zf_err = float(((np.abs(zf) - imgs) ** 2).mean())
    for _ in range(60):
        opt.zero_grad()
        loss = ((net(packed) - target) ** 2).mean()
        loss.backward()
        opt.step()
    with engine.no_grad():
        out = net(packed).numpy()
    err = float(((np.abs(_complex(out)) - imgs) ** 2).mean())
    assert err < 0.5 * zf_err
