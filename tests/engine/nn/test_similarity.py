"""Registration losses: local NCC, Parzen mutual information, diffusion and bending energy, soft Dice:
references computed another way, properties a wrong formula breaks, gradients to second order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import engine
from engine.nn.functional import similarity as S

RNG = np.random.default_rng(11)


def _ncc_reference(i, j, window, eps=1e-5):
    """VoxelMorph's formula with window sums from scipy.ndimage.correlate (zero padding)."""
    kernel = np.ones((1, 1) + (window,) * (i.ndim - 2))
    box = lambda a: ndimage.correlate(a, kernel, mode="constant")  # noqa: E731
    size = window ** (i.ndim - 2)
    si, sj, sii, sjj, sij = box(i), box(j), box(i * i), box(j * j), box(i * j)
    mi, mj = si / size, sj / size
    cross = sij - mj * si - mi * sj + mi * mj * size
    vi = sii - 2 * mi * si + mi * mi * size
    vj = sjj - 2 * mj * sj + mj * mj * size
    return -np.mean(cross * cross / (vi * vj + eps))


@pytest.mark.parametrize("shape, window", [((2, 1, 11, 13), 5), ((1, 2, 6, 7, 5), 3)])
def test_local_ncc_matches_a_scipy_reference(shape, window, device):
    i, j = RNG.random(shape), RNG.random(shape)
    out = S.local_ncc_loss(engine.tensor(i, device=device), engine.tensor(j, device=device), window)
    assert out.device == device
    np.testing.assert_allclose(out.item(), _ncc_reference(i, j, window), rtol=1e-10)


def test_local_ncc_ignores_affine_intensity_changes():
    i = ndimage.gaussian_filter(RNG.random((1, 1, 24, 24)), 2)
    assert S.local_ncc_loss(engine.tensor(i), engine.tensor(3.0 * i + 0.7), 7).item() < -0.99
    assert S.local_ncc_loss(engine.tensor(i), engine.tensor(RNG.random(i.shape)), 7).item() > -0.3


def _mi_reference(a, b, bins, sigma_ratio=0.5):
    centres = np.linspace(0, 1, bins)
    sigma = sigma_ratio / (bins - 1)
    wa = np.exp(-(a.reshape(-1, 1) - centres) ** 2 / (2 * sigma**2))
    wb = np.exp(-(b.reshape(-1, 1) - centres) ** 2 / (2 * sigma**2))
    wa /= wa.sum(1, keepdims=True)
    wb /= wb.sum(1, keepdims=True)
    pab = np.einsum("pa,pb->ab", wa, wb) / len(wa)
    pa, pb = wa.mean(0), wb.mean(0)
    outer = np.outer(pa, pb)
    keep = pab > 0
    return float((pab[keep] * np.log(pab[keep] / outer[keep])).sum())


def test_mutual_information_matches_reference_and_rewards_any_intensity_mapping(device):
    a = ndimage.gaussian_filter(RNG.random((1, 1, 20, 20)), 1.5)
    a = (a - a.min()) / (a.max() - a.min())
    inverted = 1.0 - a  # another "modality": intensities mapped non-identically
    noise = RNG.random(a.shape)
    mi = lambda x, y: -S.global_mutual_information_loss(  # noqa: E731
        engine.tensor(x, device=device), engine.tensor(y, device=device), bins=16).item()
    np.testing.assert_allclose(mi(a, inverted), _mi_reference(a, inverted, 16), rtol=5e-4)  # eps terms
    assert mi(a, inverted) > 3 * mi(a, noise)
    np.testing.assert_allclose(mi(a, inverted), mi(a, a), rtol=1e-6)  # a permutation of bins


def test_regularisers_on_known_fields():
    x0, x1 = np.meshgrid(np.arange(9.0), np.arange(10.0), indexing="ij")
    affine = np.stack([0.3 * x0 - 0.2 * x1 + 1, 0.1 * x0 + 0.5 * x1 - 2])[None]
    assert abs(S.bending_energy_loss(engine.tensor(affine)).item()) < 1e-20
    a = 0.25
    quadratic = np.stack([a * x0**2, np.zeros_like(x0)])[None]  # u0'' = 2a, one of two components
    np.testing.assert_allclose(S.bending_energy_loss(engine.tensor(quadratic)).item(), (2 * a) ** 2 / 2)
    mixed = np.stack([a * x0 * x1, np.zeros_like(x0)])[None]  # d2u0/dx0dx1 = a, counted twice
    np.testing.assert_allclose(S.bending_energy_loss(engine.tensor(mixed)).item(), 2 * a**2 / 2)
    s = 0.4
    shear = np.stack([s * x1, np.zeros_like(x0)])[None]
    np.testing.assert_allclose(S.diffusion_loss(engine.tensor(shear)).item(), s**2 / 2 / 2)
    assert S.diffusion_loss(engine.tensor(np.ones((1, 3, 4, 4, 4)))).item() == 0.0


def test_soft_dice_loss_values():
    t = np.zeros((1, 2, 4, 4))
    t[0, 0, :2], t[0, 1, 2:] = 1, 1
    assert S.soft_dice_loss(engine.tensor(t), engine.tensor(t)).item() < 1e-6
    half = t.copy()
    half[0, 0, 1] = 0  # class 0 predicted on half its area: dice 2*4/(4+8) = 2/3
    np.testing.assert_allclose(S.soft_dice_loss(engine.tensor(half), engine.tensor(t)).item(),
                               1 - (2 / 3 + 1) / 2, rtol=1e-5)


@pytest.mark.parametrize(
    "loss",
    [
        lambda p, t, u: S.local_ncc_loss(p, t, 3),
        lambda p, t, u: S.global_mutual_information_loss(p, t, bins=6),
        lambda p, t, u: S.diffusion_loss(u),
        lambda p, t, u: S.bending_energy_loss(u),
        lambda p, t, u: S.soft_dice_loss(p, t),
    ],
    ids=["ncc", "mi", "diffusion", "bending", "dice"],
)
def test_gradients_and_second_derivatives(loss, device):
    p = engine.tensor(RNG.uniform(0.1, 0.9, size=(1, 1, 5, 6)), device=device, requires_grad=True)
    t = engine.tensor(RNG.uniform(0.1, 0.9, size=(1, 1, 5, 6)), device=device)
    u = engine.tensor(RNG.normal(size=(1, 2, 5, 6)), device=device, requires_grad=True)
    engine.gradcheck(lambda a, b: loss(a, t, b), [p, u])
    engine.gradgradcheck(lambda a, b: loss(a, t, b), [p, u], mode="directional")


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="local_ncc_loss"):
        S.local_ncc_loss(engine.zeros(1, 1, 4, 4), engine.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="window"):
        S.box_sum(engine.zeros(1, 1, 4, 4), 4)
    with pytest.raises(ValueError, match="bending_energy_loss"):
        S.bending_energy_loss(engine.zeros(1, 2, 2, 5))
