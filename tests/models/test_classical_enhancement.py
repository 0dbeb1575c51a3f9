"""Classical enhancement baselines: Chambolle's TV against scikit-image and its own optimality, the
filters' defining properties, bicubic on smooth signals, and the piecewise-linear intensity map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from models.classical_enhancement import (
    PiecewiseLinearMap,
    bicubic_upsample,
    gaussian_denoise,
    median_denoise,
    tv_denoise,
    tv_energy,
)

RNG = np.random.default_rng(2)


def _noisy_square(n=2, size=32, sigma=0.2):
    clean = np.zeros((n, 1, size, size))
    clean[..., 8:24, 8:24] = 1.0
    return clean, clean + sigma * RNG.standard_normal(clean.shape)


def test_tv_matches_scikit_image_and_is_a_minimiser():
    skimage_restoration = pytest.importorskip("skimage.restoration")
    clean, noisy = _noisy_square(n=1)
    f = noisy[0, 0]
    u = tv_denoise(f, 0.1, n_iter=3000, tol=1e-9).astype(np.float64)
    reference = skimage_restoration.denoise_tv_chambolle(f, weight=0.1, max_num_iter=3000, eps=1e-12)
    np.testing.assert_allclose(u, reference, atol=1e-3)
    # optimality: small perturbations do not lower the ROF energy
    e = tv_energy(u, f, 0.1)
    for _ in range(5):
        assert tv_energy(u + 1e-3 * RNG.standard_normal(u.shape), f, 0.1) > e - 1e-6


def test_tv_denoises_batches_independently_and_in_3d():
    clean, noisy = _noisy_square(n=3)
    out = tv_denoise(noisy, 0.15)
    assert out.shape == noisy.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[1], tv_denoise(noisy[1], 0.15), atol=1e-6)
    assert np.mean((out - clean) ** 2) < 0.25 * np.mean((noisy - clean) ** 2)
    vol = np.zeros((12, 12, 12))
    vol[3:9, 3:9, 3:9] = 1
    noisy3 = vol + 0.2 * RNG.standard_normal(vol.shape)
    assert np.mean((tv_denoise(noisy3, 0.15, spatial_dims=3) - vol) ** 2) < 0.3 * np.mean((noisy3 - vol) ** 2)
    with pytest.raises(ValueError, match="tau must lie in"):
        tv_denoise(noisy, 0.1, tau=0.2)
    with pytest.raises(ValueError, match="weight must be > 0"):
        tv_denoise(noisy, 0.0)


def test_median_removes_salt_and_gaussian_acts_per_image():
    x = np.zeros((2, 1, 9, 9), np.float32)
    x[0, 0, 4, 4] = 10.0  # an isolated outlier
    assert median_denoise(x, 3).max() == 0.0
    g = gaussian_denoise(x, 1.0)
    assert g[1].max() == 0.0  # the outlier does not leak into the other image
    np.testing.assert_allclose(g[0, 0], ndimage.gaussian_filter(x[0, 0], 1.0, mode="reflect"), atol=1e-6)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        median_denoise(x, 0)


def test_bicubic_reproduces_a_smooth_signal_and_scales_one_axis():
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    high = np.sin(2 * np.pi * xx) * np.cos(2 * np.pi * yy)
    low = high.reshape(32, 2, 32, 2).mean(axis=(1, 3))  # block averages: pixel areas aligned
    up = bicubic_upsample(low[None], 2)[0]
    assert up.shape == (64, 64)
    inner = (slice(4, -4),) * 2
    assert np.abs(up - high)[inner].max() < 0.01
    nearest = np.repeat(np.repeat(low, 2, 0), 2, 1)
    assert np.abs(up - high)[inner].mean() < 0.2 * np.abs(nearest - high)[inner].mean()
    assert bicubic_upsample(np.zeros((2, 8, 5)), (4, 1)).shape == (2, 32, 5)
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        bicubic_upsample(low, 1.5)


def test_piecewise_linear_map_recovers_a_curve_and_respects_the_mask():
    x = RNG.uniform(0, 1, 20_000)
    y = np.where(x < 0.5, 2 * x, 1 + 4 * (x - 0.5)) + 0.01 * RNG.standard_normal(x.size)
    m = PiecewiseLinearMap(n_knots=9).fit(x, y)
    grid = np.linspace(0.05, 0.95, 50)
    np.testing.assert_allclose(m.predict(grid), np.where(grid < 0.5, 2 * grid, 1 + 4 * (grid - 0.5)), atol=0.05)
    # masked-out pixels (garbage targets) do not move the fit
    garbage = np.where(RNG.uniform(size=x.size) < 0.3, 100.0, y)
    masked = PiecewiseLinearMap(9).fit(x, garbage, mask=garbage < 50)
    np.testing.assert_allclose(masked.predict(grid), m.predict(grid), atol=0.05)
    # one source intensity, two targets (bone and air in T1): the map can only give their mean
    both = PiecewiseLinearMap(4).fit(np.zeros(100), np.r_[np.full(50, -1000.0), np.full(50, 700.0)])
    assert both.predict([0.0])[0] == pytest.approx(-150.0)
    with pytest.raises(ValueError, match="must have one shape"):
        PiecewiseLinearMap().fit(np.zeros(3), np.zeros(4))
    with pytest.raises(RuntimeError, match="call fit first"):
        PiecewiseLinearMap().predict([0.0])
