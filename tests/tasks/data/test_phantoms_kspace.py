"""tasks.data.phantoms.kspace: orthonormal centred FFTs, undersampling masks, zero-filled and cine k-space."""

import numpy as np
import pytest

from tasks.data.phantoms.kspace import (
    cartesian_mask,
    fft2c,
    fftnc,
    ifft2c,
    ifftnc,
    make_cine_kspace,
    make_kspace_dataset,
    undersample,
    variable_density_mask,
    zero_filled,
)


def test_parseval_and_inverse():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 24)) + 1j * rng.standard_normal((3, 20, 24))
    k = fft2c(x)
    assert np.allclose(np.linalg.norm(k), np.linalg.norm(x))  # unitary: energy is preserved
    assert np.allclose(ifft2c(k), x)
    assert np.allclose(np.vdot(fft2c(x[0]), fft2c(x[1])), np.vdot(x[0], x[1]))  # inner products too
    v = rng.standard_normal((6, 8, 10))
    assert np.allclose(ifftnc(fftnc(v, (0, 1, 2)), (0, 1, 2)), v)


def test_dc_sits_in_the_centre():
    h, w = 16, 20
    k = fft2c(np.ones((h, w)))
    assert k[h // 2, w // 2] == pytest.approx(np.sqrt(h * w))
    k[h // 2, w // 2] = 0
    assert np.abs(k).max() < 1e-9
    rng = np.random.default_rng(1)
    x = rng.standard_normal((h, w))
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x))) / np.sqrt(h * w)
    assert np.allclose(fft2c(x), ref)


def test_cartesian_mask_keeps_the_stated_fraction_and_the_centre():
    mask = cartesian_mask((32, 100), acceleration=4, center_fraction=0.08, seed=0)
    assert mask.shape == (32, 100) and mask.dtype == bool
    assert (mask == mask[0]).all()  # whole phase-encoding lines (columns)
    assert mask[0].sum() == 25  # round(100 / 4)
    assert mask[0, 46:54].all()  # the 8 central lines, DC at column 50
    assert np.array_equal(mask, cartesian_mask((32, 100), 4, 0.08, seed=0))
    assert not np.array_equal(mask, cartesian_mask((32, 100), 4, 0.08, seed=1))
    many = cartesian_mask((8, 64), acceleration=8, center_fraction=0.04, seed=0, n_masks=5)
    assert many.shape == (5, 8, 64) and (many[:, 0].sum(axis=1) == 8).all()
    assert len({m.tobytes() for m in many}) == 5
    with pytest.raises(ValueError, match="centre"):
        cartesian_mask((8, 64), acceleration=8, center_fraction=0.5)


def test_variable_density_mask_is_denser_in_the_centre():
    mask = variable_density_mask((64, 64), acceleration=5, center_radius=0.1, seed=0)
    assert mask.dtype == bool and mask.sum() == round(64 * 64 / 5)
    ky, kx = np.meshgrid(np.arange(64) - 32, np.arange(64) - 32, indexing="ij")
    r = np.hypot(ky, kx) / 32
    assert mask[r <= 0.1].all()
    assert mask[(r > 0.2) & (r < 0.4)].mean() > 2 * mask[r > 0.7].mean()
    stack = variable_density_mask((32, 32), 4, 0.1, seed=3, n_masks=3)
    assert stack.shape == (3, 32, 32) and (stack.sum(axis=(1, 2)) == 256).all()


def test_zero_filled_reconstruction():
    rng = np.random.default_rng(2)
    image = rng.random((16, 16)).astype(np.float32)
    full = np.ones((16, 16), dtype=bool)
    assert np.allclose(zero_filled(undersample(image, full)), image, atol=1e-5)
    mask = cartesian_mask((16, 16), acceleration=2, center_fraction=0.125, seed=0)
    k = undersample(image, mask)
    assert k.dtype == np.complex64 and np.all(k[:, ~mask[0]] == 0)
    zf = zero_filled(k)
    assert not np.allclose(zf, image, atol=1e-3)  # aliasing
    # the zero-filled image is the orthogonal projection onto the sampled lines: it loses energy
    assert np.linalg.norm(zf) < np.linalg.norm(image)


def test_kspace_dataset_contract_and_determinism():
    d = make_kspace_dataset(4, 32, acceleration=4, seed=0)
    assert d["images"].shape == (4, 1, 32, 32) and d["zero_filled"].shape == (4, 1, 32, 32)
    assert d["kspace"].dtype == np.complex64 and d["masks"].shape == (4, 32, 32)
    assert np.array_equal(d["kspace"], make_kspace_dataset(4, 32, acceleration=4, seed=0)["kspace"])
    vd = make_kspace_dataset(2, 32, mask_kind="variable_density", seed=0)
    assert vd["masks"].sum() == 2 * 256
    with pytest.raises(ValueError, match="mask_kind"):
        make_kspace_dataset(2, 32, mask_kind="radial")


def test_cine_kspace():
    d = make_cine_kspace(n_frames=6, image_size=32, acceleration=4, seed=0)
    assert d["kspace"].shape == (6, 32, 32) and d["images"].shape == (6, 32, 32)
    assert np.allclose(ifft2c(d["kspace"]).real, d["images"], atol=1e-5)
    assert np.array_equal(d["undersampled"], d["kspace"] * d["masks"])
    assert len({m.tobytes() for m in d["masks"]}) > 1  # k-t sampling: lines change between frames
    assert np.allclose(d["zero_filled"], ifft2c(d["undersampled"]), atol=1e-5)
    assert 0 < d["ejection_fraction"] < 1
