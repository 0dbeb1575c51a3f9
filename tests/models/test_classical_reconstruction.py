"""Zero-filled and compressed-sensing (TV, FISTA) reconstructions."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical_reconstruction import (
    _div,
    _grad,
    cs_tv_fista,
    fft2c_np,
    ifft2c_np,
    total_variation,
    tv_prox,
    zero_filled,
)
from tasks.data.undersampling import sampling_mask


def _blocks(n=2, size=48, seed=0):
    """Piecewise-constant complex images (TV's ideal case) with a smooth phase."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size), np.complex128)
    yy, xx = np.mgrid[:size, :size] / size
    for i in range(n):
        img = np.zeros((size, size))
        for _ in range(5):
            y0, x0 = rng.integers(2, size - 16, 2)
            img[y0:y0 + rng.integers(6, 14), x0:x0 + rng.integers(6, 14)] += rng.uniform(0.3, 1.0)
        out[i] = img * np.exp(1j * (0.8 * yy + 0.5 * xx))
    return out


def test_gradient_and_divergence_are_adjoint():
    rng = np.random.default_rng(0)
    x, p = rng.standard_normal((3, 7, 9)), rng.standard_normal((2, 3, 7, 9))
    assert np.vdot(_grad(x), p) == pytest.approx(-np.vdot(x, _div(p)), rel=1e-12)


def test_tv_prox_matches_scikit_image():
    skimage = pytest.importorskip("skimage.restoration")
    rng = np.random.default_rng(1)
    b = np.zeros((32, 32))
    b[8:20, 10:25] = 1
    b += 0.2 * rng.standard_normal(b.shape)
    x, _ = tv_prox(b, 0.15, n_iter=3000)
    ref = skimage.denoise_tv_chambolle(b, weight=0.15, eps=1e-12, max_num_iter=3000)
    np.testing.assert_allclose(x, ref, atol=5e-3)

    def objective(u):
        return 0.5 * ((u - b) ** 2).sum() + 0.15 * total_variation(u)

    assert objective(x) < objective(b) * 0.5
    assert objective(x) == pytest.approx(objective(ref), rel=1e-4)


def test_zero_filled_is_the_adjoint_of_masked_fft():
    img = _blocks(1)[0]
    mask = sampling_mask(img.shape, "random", 4, 0.08, seed=0)
    k = fft2c_np(img) * mask
    np.testing.assert_allclose(zero_filled(k), ifft2c_np(k))
    np.testing.assert_allclose(zero_filled(fft2c_np(img), np.ones_like(mask)), img, atol=1e-12)


def test_cs_beats_zero_filled_and_lam_zero_is_zero_filled():
    imgs = _blocks(2, seed=3)
    mask = sampling_mask(imgs.shape[1:], "random", 4, 0.08, seed=1, n_frames=2)
    k = fft2c_np(imgs) * mask
    zf = zero_filled(k)
    cs = cs_tv_fista(k, mask, lam=0.01, n_iter=60)

    def err(x):
        return np.linalg.norm(np.abs(x) - np.abs(imgs)) / np.linalg.norm(imgs)

    assert err(cs) < 0.6 * err(zf)  # TV removes most of the incoherent aliasing of piecewise-constant images
    np.testing.assert_allclose(cs_tv_fista(k, mask, lam=0.0, n_iter=5), zf, atol=1e-12)
    # small lam: the reconstruction agrees with the measurements where they exist
    k_cs = fft2c_np(cs)
    assert np.abs(k_cs - k)[mask.astype(bool)].max() < 0.05 * np.abs(k).max()
