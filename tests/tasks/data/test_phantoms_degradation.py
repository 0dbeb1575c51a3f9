"""tasks.data.phantoms.degradation: Radon transform, FBP, low-dose CT, resolution and noise pairs."""

import numpy as np
import pytest
from scipy import ndimage

from tasks.data.phantoms import degradation
from tasks.data.phantoms.anatomy import shepp_logan
from tasks.data.phantoms.degradation import (
    add_noise,
    blur,
    downsample,
    fbp,
    low_dose_sinogram,
    make_low_dose_ct_pairs,
    make_resolution_pairs,
    make_restoration_pairs,
    radon,
    ramp_filter,
)


def _blob(size, x0, y0, sigma):
    """Gaussian exp(-r^2 / 2 sigma^2) centred at physical (x0, y0) pixels from the image centre (y up)."""
    c = (size - 1) / 2.0
    y = c - np.arange(size)[:, None]
    x = np.arange(size)[None, :] - c
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))


def test_radon_of_a_gaussian_matches_the_analytic_projection():
    # p(theta, s) = sqrt(2 pi) sigma exp(-(s - x0 cos - y0 sin)^2 / 2 sigma^2): geometry, orientation, scale
    size, x0, y0, sigma = 64, 10.0, -6.0, 4.0
    angles = np.array([0.0, 30.0, 90.0, 135.0])
    sino = radon(_blob(size, x0, y0, sigma), angles)
    n_det = sino.shape[1]
    s = np.arange(n_det) - (n_det - 1) / 2.0
    th = np.deg2rad(angles)[:, None]
    expected = (
        np.sqrt(2 * np.pi) * sigma * np.exp(-((s - x0 * np.cos(th) - y0 * np.sin(th)) ** 2) / (2 * sigma**2))
    )
    assert sino.shape[0] == 4 and sino.shape[1] >= np.hypot(size, size) and sino.dtype == np.float32
    assert np.linalg.norm(sino - expected) / np.linalg.norm(expected) < 0.01


def test_every_projection_conserves_the_total_mass():
    image = ndimage.gaussian_filter(shepp_logan(48), 1.0)  # smooth: resampling preserves its integral
    sino = radon(image, 30)
    assert np.allclose(sino.sum(axis=1), image.sum(), rtol=1e-3)


def test_batched_and_single_image_paths_agree():
    rng = np.random.default_rng(0)
    batch = ndimage.gaussian_filter(rng.random((5, 24, 24)), (0, 1, 1))
    together = radon(batch, 20)  # the sparse-matrix path
    alone = np.stack([radon(im, 20) for im in batch])  # per-angle affine resampling
    assert np.allclose(together, alone, atol=1e-4)
    recon_batch = fbp(together, 20, (24, 24))
    recon_single = np.stack([fbp(s, 20, (24, 24)) for s in together])
    assert np.allclose(recon_batch, recon_single, atol=1e-4)


def test_fbp_reconstructs_shepp_logan():
    image = shepp_logan(128)
    recon = fbp(radon(image), None, image.shape)
    assert recon.shape == image.shape and recon.dtype == np.float32
    rel = np.linalg.norm(recon - image) / np.linalg.norm(image)
    assert rel < 0.25  # sharp edges keep some Gibbs ringing and interpolation error
    assert recon.mean() == pytest.approx(image.mean(), rel=0.02)
    smooth = ndimage.gaussian_filter(shepp_logan(64), 1.5)
    rel_smooth = np.linalg.norm(fbp(radon(smooth), None, smooth.shape) - smooth) / np.linalg.norm(smooth)
    assert rel_smooth < 0.06  # band-limited images are reconstructed accurately


def test_fbp_is_on_par_with_scikit_image():
    transform = pytest.importorskip("skimage.transform")
    image = shepp_logan(64)
    angles = np.arange(0.0, 180.0, 1.0)
    mine = fbp(radon(image, angles), angles, image.shape)
    theirs = transform.iradon(transform.radon(image, angles, circle=False), angles, output_size=64)
    err_mine = np.linalg.norm(mine - image) / np.linalg.norm(image)
    err_theirs = np.linalg.norm(theirs - image) / np.linalg.norm(image)
    assert err_mine < err_theirs + 0.005


def test_ramp_filter_shape():
    h = ramp_filter(100)
    f = np.fft.fftfreq(h.size)
    assert h.size >= 200 and h[0] > 0  # non-zero DC: the discrete ramp corrects the sampled |f|
    assert np.allclose(h[1:20], np.abs(f[1:20]), atol=0.01)
    assert np.all(ramp_filter(100, "hann") <= h + 1e-12)
    with pytest.raises(ValueError, match="window"):
        ramp_filter(100, "gauss")


def test_low_dose_noise_grows_as_dose_falls():
    p = np.full((50, 200), 2.0)
    noisy = {i0: low_dose_sinogram(p, i0, seed=0) for i0 in (1e3, 1e4, 1e5)}
    stds = [noisy[i0].std() for i0 in (1e3, 1e4, 1e5)]
    assert stds[0] > stds[1] > stds[2]
    # Poisson: var(-log(N / I0)) ~ 1 / (I0 e^-p)
    assert stds[1] == pytest.approx(1 / np.sqrt(1e4 * np.exp(-2.0)), rel=0.1)
    assert noisy[1e5].mean() == pytest.approx(2.0, abs=0.01)
    assert np.array_equal(noisy[1e3], low_dose_sinogram(p, 1e3, seed=0))


def test_low_dose_ct_pairs_lower_dose_higher_error():
    errors = []
    for i0 in (2e3, 2e4, 2e5):
        d = make_low_dose_ct_pairs(2, 48, n_angles=72, i0_low=i0, i0_full=None, seed=3)
        errors.append(np.sqrt(np.mean((d["low_dose_hu"] - d["full_dose_hu"]) ** 2)))
    assert errors[0] > errors[1] > errors[2]
    assert d["full_dose"].shape == (2, 1, 48, 48) and d["sinogram"].shape[:2] == (2, 72)
    assert 0.0 <= d["low_dose"].min() and d["low_dose"].max() <= 1.0
    # the noise-free reconstruction is close to the phantom in HU (soft tissue 40 HU vs air -1000 HU)
    inside = d["labels"] == 2
    assert np.median(d["full_dose_hu"][:, 0][inside]) == pytest.approx(40.0, abs=30.0)


def test_blur_downsample_and_resolution_pairs():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    assert np.allclose(downsample(x, 2)[0], [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ValueError, match="downsample"):
        downsample(np.zeros((1, 5, 4)), 2)
    d = make_resolution_pairs(3, 32, factor=2, noise_low=0.0, noise_high=0.0, seed=1)
    assert d["high"].shape == (3, 1, 32, 32) and d["low"].shape == (3, 1, 16, 16)
    assert d["low_upsampled"].shape == (3, 1, 32, 32)
    assert np.allclose(d["high"], d["clean"])
    assert np.allclose(d["low"][:, 0], downsample(blur(d["clean"][:, 0], 1.0), 2), atol=1e-6)
    d3 = make_resolution_pairs(2, 16, ndim=3, factor=2, seed=0)
    assert d3["low"].shape == (2, 1, 8, 8, 8)


def test_noise_models():
    x = np.full((200, 200), 0.5)
    assert add_noise(x, 0.1, "gaussian", seed=0).std() == pytest.approx(0.1, rel=0.05)
    rician = add_noise(np.zeros((200, 200)), 0.1, "rician", seed=0)
    assert rician.min() >= 0 and rician.mean() == pytest.approx(0.1 * np.sqrt(np.pi / 2), rel=0.05)
    poisson = add_noise(x, 0.1, "poisson", seed=0)
    assert poisson.mean() == pytest.approx(0.5, rel=0.02)
    assert poisson.std() == pytest.approx(0.1 * np.sqrt(0.5), rel=0.1)  # std = sigma sqrt(x)
    with pytest.raises(ValueError, match="model"):
        add_noise(x, 0.1, "speckle")


def test_restoration_pairs_determinism():
    a = make_restoration_pairs(2, 32, blur_sigma=1.0, noise_sigma=0.05, seed=4)
    b = make_restoration_pairs(2, 32, blur_sigma=1.0, noise_sigma=0.05, seed=4)
    c = make_restoration_pairs(2, 32, blur_sigma=1.0, noise_sigma=0.05, seed=5)
    assert a["clean"].shape == a["degraded"].shape == (2, 1, 32, 32)
    assert np.array_equal(a["degraded"], b["degraded"]) and not np.array_equal(a["degraded"], c["degraded"])
    assert np.abs(a["degraded"] - a["clean"]).mean() > 0.02


def test_large_geometry_uses_the_direct_path(monkeypatch):
    monkeypatch.setattr(degradation, "_MATRIX_LIMIT", 0)
    batch = np.stack([ndimage.gaussian_filter(shepp_logan(32), 1.0)] * 4)
    sino = radon(batch, 30)
    assert np.allclose(sino.sum(axis=2), batch[0].sum(), rtol=1e-3)
    assert fbp(sino, 30, (32, 32)).shape == (4, 32, 32)
