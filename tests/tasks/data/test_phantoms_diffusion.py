"""tasks.data.phantoms.diffusion: DTI signals from known tensors, FA/MD, Rician noise, tensor fitting."""

import numpy as np
import pytest

from tasks.data.phantoms.diffusion import (
    add_rician_noise,
    dti_phantom_slice,
    dti_signal,
    fit_tensor,
    fractional_anisotropy,
    gradient_table,
    make_diffusion_dataset,
    mean_diffusivity,
    tensors_from_fa_md,
)


def test_gradient_table():
    bvals, bvecs = gradient_table(30, (1000.0, 2000.0), n_b0=2)
    assert bvals.shape == (62,) and bvecs.shape == (62, 3)
    assert np.all(bvals[:2] == 0) and np.sum(bvals == 1000) == 30 and np.sum(bvals == 2000) == 30
    assert np.allclose(np.linalg.norm(bvecs, axis=1), 1.0) and (bvecs[2:, 2] > 0).all()
    with pytest.raises(ValueError, match="gradient_table"):
        gradient_table(3)


def test_fa_and_md_formulas():
    assert fractional_anisotropy(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert fractional_anisotropy(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert mean_diffusivity(np.array([3.0, 2.0, 1.0])) == pytest.approx(2.0)
    fa = np.array([0.0, 0.3, 0.6, 0.9])
    md = np.array([1e-3, 0.8e-3, 0.7e-3, 2e-3])
    tensors, evals, evecs = tensors_from_fa_md(fa, md, np.eye(3)[[0, 1, 2, 0]])
    assert np.allclose(fractional_anisotropy(evals), fa) and np.allclose(mean_diffusivity(evals), md)
    assert np.allclose(np.linalg.eigvalsh(tensors)[:, ::-1], evals)
    assert np.allclose(
        tensors[3] @ [1.0, 0.0, 0.0], evals[3, 0] * np.array([1.0, 0.0, 0.0])
    )  # principal axis


def test_signal_model():
    tensors, evals, _ = tensors_from_fa_md(np.array([0.7]), np.array([1e-3]), np.array([[0.0, 0.0, 1.0]]))
    bvals = np.array([0.0, 1000.0, 1000.0])
    bvecs = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    s = dti_signal(tensors, bvals, bvecs, s0=2.0)[0]
    assert s[0] == pytest.approx(2.0)
    assert s[1] == pytest.approx(2.0 * np.exp(-1000 * evals[0, 0]))  # along the fibre: fastest decay
    assert s[2] == pytest.approx(2.0 * np.exp(-1000 * evals[0, 1]))
    assert s[1] < s[2]


def test_least_squares_fit_recovers_the_tensors_on_noise_free_data():
    d = make_diffusion_dataset(200, n_directions=20, snr=np.inf, seed=0)
    tensors, s0 = fit_tensor(d["signals"].astype(np.float64), d["bvals"], d["bvecs"])
    assert np.allclose(tensors, d["tensors"], atol=2e-8, rtol=1e-4)  # float32 storage of the signal
    assert np.allclose(s0, 1.0, atol=1e-6)
    evals = np.linalg.eigvalsh(tensors)
    assert np.allclose(fractional_anisotropy(evals), d["fa"], atol=1e-4)
    assert np.allclose(mean_diffusivity(evals), d["md"], rtol=1e-4)


def test_rician_noise_and_noisy_fit():
    rician = add_rician_noise(np.zeros(40000), 0.1, seed=0)
    assert rician.mean() == pytest.approx(0.1 * np.sqrt(np.pi / 2), rel=0.02)  # the noise floor bias
    d = make_diffusion_dataset(500, n_directions=30, snr=50.0, seed=1)
    assert not np.allclose(d["signals"], d["clean"])
    evals = np.linalg.eigvalsh(fit_tensor(d["signals"], d["bvals"], d["bvecs"])[0])
    assert np.abs(fractional_anisotropy(evals) - d["fa"]).mean() < 0.05


def test_phantom_slice_fibre_directions():
    p = dti_phantom_slice(24, snr=np.inf, seed=0)
    assert p["signals"].shape == (31, 24, 24) and p["fa"].shape == (24, 24)
    tensors, _ = fit_tensor(np.moveaxis(p["signals"], 0, -1).astype(np.float64), p["bvals"], p["bvecs"])
    w, v = np.linalg.eigh(tensors)
    principal = v[..., :, -1]
    ring = p["labels"] == 2
    alignment = np.abs((principal * p["direction"]).sum(-1))
    assert alignment[ring].min() > 0.999 and np.allclose(p["fa"][ring], 0.7)
    assert np.allclose(p["fa"][p["labels"] == 0], 0.0)


def test_determinism():
    a, b, c = (make_diffusion_dataset(20, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a["signals"], b["signals"]) and not np.array_equal(a["signals"], c["signals"])
