"""CRNN-MRI: shapes, data consistency of every frame, information flow across time, learning."""

from __future__ import annotations

import numpy as np

import engine
from engine.fft import fft2c
from models.crnn_mri import CRNNMRI
from models.dccnn import pack_inputs
from tasks.data.undersampling import sampling_mask


def _complex(a):
    return a[..., 0] + 1j * a[..., 1]


def _cine(n=1, t=4, s=12, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.standard_normal((n, t, s, s, 2)).astype(np.float32)
    mask = np.stack([sampling_mask((s, s), "random", 3, 0.2, seed=seed + i, n_frames=t) for i in range(n)])
    k0 = fft2c(engine.tensor(frames)).numpy() * mask[..., None]
    return frames, k0.astype(np.float32), mask.astype(np.float32)


def test_output_is_consistent_with_each_frames_measurements():
    frames, k0, mask = _cine()
    zf = engine.fft.ifft2c(engine.tensor(k0))
    net = CRNNMRI(n_iter=2, nf=4, n_layers=1)
    y = net(zf, engine.tensor(k0), engine.tensor(mask))
    assert y.shape == frames.shape
    k_out = _complex(fft2c(y).detach().numpy())
    m = mask.astype(bool)
    np.testing.assert_allclose(k_out[m], _complex(k0)[m], atol=1e-5)


def test_bidirectional_recurrence_carries_information_across_frames():
    """Changing the first frame changes the reconstruction of the last one (and vice versa)."""
    frames, k0, mask = _cine(t=5)
    net = CRNNMRI(n_iter=1, nf=4, n_layers=0)
    zf = engine.fft.ifft2c(engine.tensor(k0)).numpy()
    base = net(engine.tensor(zf), engine.tensor(k0), engine.tensor(mask)).detach().numpy()
    for changed, watched in ((0, -1), (-1, 0)):
        z2 = zf.copy()
        z2[:, changed] += 1.0
        out = net(engine.tensor(z2), engine.tensor(k0), engine.tensor(mask)).detach().numpy()
        assert np.abs(out[:, watched] - base[:, watched]).max() > 1e-4


def test_every_parameter_gets_a_gradient_and_packed_inputs_work():
    frames, k0, mask = _cine(n=2, t=3, s=8)
    zf = engine.fft.ifft2c(engine.tensor(k0)).numpy()
    net = CRNNMRI(n_iter=2, nf=4, n_layers=2)
    packed = pack_inputs(_complex(zf), _complex(k0), mask)
    y = net(engine.tensor(packed))
    y_direct = net(engine.tensor(zf), engine.tensor(k0), engine.tensor(mask))
    np.testing.assert_allclose(y.detach().numpy(), y_direct.detach().numpy(), atol=1e-6)
    ((y - engine.tensor(frames)) ** 2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and float(np.abs(p.grad.numpy()).sum()) > 0, name


def test_crnn_learns_a_moving_square_better_than_zero_filled():
    rng = np.random.default_rng(0)
    n, t, s = 4, 4, 16
    imgs = np.zeros((n, t, s, s))
    for i in range(n):
        y0, x0 = rng.integers(2, 6, 2)
        for f in range(t):
            imgs[i, f, y0 + f:y0 + f + 7, x0:x0 + 8] = 1.0
    mask = np.stack([sampling_mask((s, s), "random", 4, 0.125, seed=i, n_frames=t) for i in range(n)])
    ax = (-2, -1)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(imgs, axes=ax), norm="ortho"), axes=ax) * mask
    zf = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)
    packed = engine.tensor(pack_inputs(zf, k, mask))
    target = engine.tensor(np.stack([imgs, np.zeros_like(imgs)], -1).astype(np.float32))
    engine.manual_seed(0)
    net = CRNNMRI(n_iter=2, nf=8, n_layers=1)
    opt = engine.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(30):
        opt.zero_grad()
        loss = ((net(packed) - target) ** 2).mean()
        loss.backward()
        opt.step()
    with engine.no_grad():
        out = _complex(net(packed).numpy())
    assert ((np.abs(out) - imgs) ** 2).mean() < 0.6 * ((np.abs(zf) - imgs) ** 2).mean()
