"""tasks.data.phantoms.deformation: pull-back warping convention, fields, affine maps, registration pairs."""

import numpy as np
import pytest
from scipy import ndimage

from tasks.data.phantoms.deformation import (
    affine_displacement_field,
    compose_displacements,
    jacobian_determinant,
    make_registration_pairs,
    random_affine,
    random_displacement_field,
    warp,
    warp_labels,
)


def test_random_field_shape_magnitude_and_determinism():
    u = random_displacement_field((40, 48), magnitude=2.5, smoothness=5.0, seed=1)
    assert u.shape == (2, 40, 48) and u.dtype == np.float32
    assert np.sqrt((u**2).sum(axis=0)).max() == pytest.approx(2.5, rel=1e-5)
    assert np.array_equal(u, random_displacement_field((40, 48), 2.5, 5.0, seed=1))
    assert not np.array_equal(u, random_displacement_field((40, 48), 2.5, 5.0, seed=2))
    v = random_displacement_field((12, 14, 16), magnitude=1.0, seed=0)
    assert v.shape == (3, 12, 14, 16)
    smoother = random_displacement_field((64, 64), 2.0, 10.0, seed=0)
    rough = random_displacement_field((64, 64), 2.0, 2.0, seed=0)
    assert np.abs(np.diff(smoother, axis=-1)).mean() < np.abs(np.diff(rough, axis=-1)).mean()


def test_warp_is_pull_back_on_a_linear_ramp():
    # linear interpolation reproduces linear functions exactly: warped(x) = ramp(x + u(x)) = x_0 + u_0(x)
    shape = (32, 32)
    u = random_displacement_field(shape, magnitude=2.0, seed=3)
    rows = np.arange(32, dtype=np.float64)[:, None] * np.ones(shape)
    cols = np.arange(32, dtype=np.float64)[None, :] * np.ones(shape)
    inner = (slice(3, -3), slice(3, -3))  # away from the edge clamping
    assert np.allclose(warp(rows, u)[inner], (rows + u[0])[inner], atol=1e-5)
    assert np.allclose(warp(cols, u)[inner], (cols + u[1])[inner], atol=1e-5)


def test_integer_translation_shifts_the_image():
    rng = np.random.default_rng(0)
    image = rng.random((20, 24))
    field = np.zeros((2, 20, 24), dtype=np.float32)
    field[1] = 3.0  # sample 3 columns to the right: the content moves left
    assert np.allclose(warp(image, field)[:, :-3], image[:, 3:])
    labels = rng.integers(0, 4, (20, 24))
    assert np.array_equal(warp_labels(labels, field)[:, :-3], labels[:, 3:])


def test_affine_field_matches_scipy_affine_transform():
    shape = (30, 36)
    matrix, translation = random_affine(2, rotation=15.0, scale=0.1, shear=0.05, translation=3.0, seed=4)
    field = affine_displacement_field(matrix, translation, shape)
    image = ndimage.gaussian_filter(np.random.default_rng(1).random(shape), 2.0)
    centre = (np.array(shape) - 1) / 2.0
    ref = ndimage.affine_transform(
        image, matrix, offset=centre + translation - matrix @ centre, order=1, mode="nearest"
    )
    assert np.allclose(warp(image, field), ref, atol=1e-6)
    assert np.linalg.det(matrix) > 0
    jac = jacobian_determinant(field)
    assert np.allclose(jac, np.linalg.det(matrix), atol=1e-4)  # an affine map scales volume uniformly


def test_affine_fields_for_a_batch_of_transforms():
    drawn = [random_affine(3, seed=s) for s in range(3)]
    matrices, shifts = np.stack([a for a, _ in drawn]), np.stack([t for _, t in drawn])
    fields = affine_displacement_field(matrices, shifts, (6, 7, 8))
    assert fields.shape == (3, 3, 6, 7, 8)
    for i, (a, t) in enumerate(drawn):
        assert np.allclose(fields[i], affine_displacement_field(a, t, (6, 7, 8)))


def test_random_affine_without_scale_or_shear_is_a_rotation():
    matrix, translation = random_affine(3, rotation=20.0, scale=0.0, shear=0.0, translation=0.0, seed=2)
    assert np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-12) and np.linalg.det(matrix) == pytest.approx(
        1.0
    )
    assert np.all(translation == 0)


def test_identity_and_composition():
    shape = (40, 40)
    image = ndimage.gaussian_filter(np.random.default_rng(2).random(shape), 3.0)
    zero = np.zeros((2, *shape), dtype=np.float32)
    assert np.allclose(warp(image, zero), image)
    assert np.allclose(jacobian_determinant(zero), 1.0)
    a = random_displacement_field(shape, 2.0, 6.0, seed=5)
    b = random_displacement_field(shape, 2.0, 6.0, seed=6)
    twice = warp(warp(image, a), b)
    once = warp(image, compose_displacements(a, b))
    inner = (slice(5, -5), slice(5, -5))
    assert np.abs(twice - once)[inner].max() < 0.1 * np.ptp(image)  # equal up to interpolation
    assert np.abs(twice - warp(image, a + b))[inner].max() > np.abs(twice - once)[inner].max()


def test_registration_pairs_ground_truth():
    d = make_registration_pairs(4, (40, 40), magnitude=3.0, affine=True, seed=0)
    assert d["moving"].shape == (4, 1, 40, 40) and d["fixed"].dtype == np.float32
    assert d["field"].shape == (4, 2, 40, 40) and d["moving_labels"].dtype == np.int64
    for i in range(4):
        assert np.array_equal(d["fixed_labels"][i], warp_labels(d["moving_labels"][i], d["field"][i]))
        assert np.allclose(d["fixed"][i, 0], warp(d["moving"][i, 0], d["field"][i]), atol=1e-6)
        assert not np.array_equal(d["fixed_labels"][i], d["moving_labels"][i])
        assert set(np.unique(d["fixed_labels"][i])) <= set(np.unique(d["moving_labels"][i]))
    again = make_registration_pairs(4, (40, 40), magnitude=3.0, affine=True, seed=0)
    assert np.array_equal(again["field"], d["field"]) and np.array_equal(again["fixed"], d["fixed"])


def test_registration_pairs_3d():
    d = make_registration_pairs(2, (16, 16, 16), magnitude=1.5, smoothness=3.0, seed=1)
    assert d["field"].shape == (2, 3, 16, 16, 16) and d["fixed"].shape == (2, 1, 16, 16, 16)
    assert np.array_equal(d["fixed_labels"][1], warp_labels(d["moving_labels"][1], d["field"][1]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="warp"):
        warp(np.zeros((10, 10)), np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="field"):
        warp(np.zeros((10, 10)), np.zeros((3, 10, 10)))
    with pytest.raises(TypeError, match="warp_labels"):
        warp_labels(np.zeros((4, 4)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="affine_displacement_field"):
        affine_displacement_field(np.eye(3), np.zeros(3), (8, 8))
