"""Registration metrics on fields and label maps whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.phantoms import deformation as phantom
from tasks.metrics import registration as R


def test_dice_per_label_counts_each_structure_and_marks_absent_ones():
    a = np.zeros((4, 6), int)
    b = np.zeros((4, 6), int)
    a[:2, :3], b[:2, :2] = 1, 1  # 6 vs 4 pixels, 4 shared: 2*4/10
    a[2:, :] = 2  # label 2 missing from b: Dice 0
    out = R.dice_per_label(a, b, labels=[1, 2, 3])
    assert out[1] == pytest.approx(0.8) and out[2] == 0.0 and np.isnan(out[3])
    assert set(R.dice_per_label(a, b)) == {1, 2}


def test_tre_is_the_displacement_error_at_the_landmarks():
    true = np.zeros((2, 10, 12))
    est = np.zeros((2, 10, 12))
    est[0] += 3.0
    est[1, :, 6:] = 4.0  # right half: error (3, 4) -> 5 px; left half: 3 px
    points = np.array([[5.0, 2.0], [5.0, 9.0], [2.5, 8.0]])
    np.testing.assert_allclose(R.target_registration_error(points, est, true), [3.0, 5.0, 5.0])
    np.testing.assert_allclose(R.target_registration_error(points, est, true, spacing=(2.0, 1.0)),
                               [6.0, np.sqrt(36 + 16), np.sqrt(36 + 16)])
    with pytest.raises(ValueError, match="points"):
        R.target_registration_error(points[:, :1], est, true)


def test_jacobian_of_an_affine_field_is_its_determinant_and_folding_is_detected():
    matrix = np.array([[1.2, 0.3], [-0.1, 0.9]])
    field = phantom.affine_displacement_field(matrix, np.zeros(2), (16, 18))
    np.testing.assert_allclose(R.jacobian_determinant(field), np.linalg.det(matrix), rtol=1e-5)
    assert R.folding_fraction(field) == 0.0 and R.log_jacobian_std(field) < 1e-5
    flipped = phantom.affine_displacement_field(np.diag([-1.0, 1.0]), np.zeros(2), (16, 18))
    assert R.folding_fraction(flipped) == 1.0  # a mirror image is folding everywhere
    wavy = phantom.random_displacement_field((32, 32), magnitude=6.0, smoothness=2.0, seed=0)
    assert 0.0 < R.folding_fraction(wavy) < 1.0 and R.log_jacobian_std(wavy) > 0.1


def test_affine_parameter_error_in_degrees_scale_and_pixels():
    def sim(angle, scale):
        a = np.radians(angle)
        xy = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return xy[::-1, ::-1]

    err = R.affine_parameter_error(sim(10, 1.2), np.array([17.0, 13.0]), sim(9.5, 1.26), np.array([17.0, 16.0]))
    assert err["rotation_error_deg"] == pytest.approx(0.5)
    assert err["scale_error"] == pytest.approx(0.05)
    assert err["translation_error"] == pytest.approx(3.0)
    wrap = R.affine_parameter_error(sim(179, 1), np.zeros(2), sim(-179, 1), np.zeros(2))
    assert wrap["rotation_error_deg"] == pytest.approx(2.0)  # across +-180 degrees


def test_fit_affine_recovers_the_affine_part_of_a_field():
    matrix, shift = phantom.random_affine(2, rotation=20, scale=0.2, shear=0.1, translation=5, seed=1)
    field = phantom.affine_displacement_field(matrix, shift, (20, 24))
    m, t = R.fit_affine(field)
    np.testing.assert_allclose(m, matrix, atol=1e-5)
    np.testing.assert_allclose(t, shift, atol=1e-4)


def test_a_collapsed_field_counts_as_folding_and_its_log_jacobian_is_clipped():
    # x -> (0, y): the rows collapse onto one line, det = 0 exactly, which counts as folding
    collapse = phantom.affine_displacement_field(np.diag([0.0, 1.0]), np.zeros(2), (8, 9))
    np.testing.assert_allclose(R.jacobian_determinant(collapse), 0.0, atol=1e-12)
    assert R.folding_fraction(collapse) == 1.0
    half = collapse.copy()
    half[:, :, :4] = 0.0  # the identity on the left columns (their differences stay inside each half)
    assert R.log_jacobian_std(half) > 5  # log(1e-9) = -20.7 against log 1 = 0 for part of the pixels
    # a 3-D field is accepted, a 4-D one (or a wrong leading axis) refused
    assert R.jacobian_determinant(np.zeros((3, 4, 4, 4))).shape == (4, 4, 4)
    for bad in (np.zeros((4, 2, 2, 2, 2)), np.zeros((3, 5, 5))):
        with pytest.raises(ValueError, match="jacobian_determinant"):
            R.jacobian_determinant(bad)
