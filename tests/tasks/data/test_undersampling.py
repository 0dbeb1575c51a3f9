"""Sampling masks: fastMRI's random and equispaced rules, variable density, per-frame (k-t) masks."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.undersampling import centre_lines, effective_acceleration, sampling_mask


@pytest.mark.parametrize("kind", ["random", "equispaced", "variable"])
@pytest.mark.parametrize("acceleration, fraction", [(4, 0.08), (8, 0.04)])
def test_centre_is_fully_sampled_and_acceleration_is_met(kind, acceleration, fraction):
    width = 128
    masks = sampling_mask((16, width), kind, acceleration, fraction, seed=1, n_frames=200)
    assert masks.shape == (200, 16, width) and masks.dtype == bool
    assert (masks == masks[:, :1, :]).all()  # whole phase-encoding lines: the readout is fully sampled
    n_centre = round(width * fraction)
    assert masks[:, :, centre_lines(width, n_centre)].all()
    assert masks[:, :, width // 2].all()  # the DC line
    mean_acc = width / masks[:, 0, :].sum(axis=1).mean()
    assert mean_acc == pytest.approx(acceleration, rel=0.08)


def test_variable_density_keeps_exactly_w_over_r_lines_and_is_denser_near_the_centre():
    masks = sampling_mask((4, 96), "variable", 4, 0.04, seed=2, n_frames=300)[:, 0, :]
    assert (masks.sum(axis=1) == 24).all()
    dist = np.abs(np.arange(96) - 48)
    near, far = masks[:, (dist > 4) & (dist < 16)].mean(), masks[:, dist > 36].mean()
    assert near > 2 * far


def test_random_rule_matches_fastmri_probability():
    # outer lines are kept independently with p = (W/R - n_c) / (W - n_c)
    width, acc, frac = 100, 4, 0.1
    masks = sampling_mask((1, width), "random", acc, frac, seed=3, n_frames=2000)[:, 0, :]
    outer = ~centre_lines(width, 10)
    assert masks[:, outer].mean() == pytest.approx((25 - 10) / 90, abs=0.01)
    assert masks.sum(axis=1).std() > 1  # the count varies: independent coin flips, not a fixed budget


def test_equispaced_lines_are_regular():
    m = sampling_mask((1, 120), "equispaced", 4, 0.08, seed=4)[0]
    outer = np.flatnonzero(m & ~centre_lines(120, round(120 * 0.08)))
    gaps = np.diff(outer)
    spacing = 4 * (10 - 120) / (10 * 4 - 120)  # fastMRI's adjusted acceleration R' = 5.5 for 10 centre lines
    assert set(np.unique(gaps[gaps < 8])) == {5, 6}  # R' rounded, apart from the jump over the centre
    assert len(outer) == 19 and m.sum() == 29  # about W / R = 30 lines in all
    assert spacing == 5.5


def test_frames_differ_and_seed_reproduces():
    a = sampling_mask((8, 64), "random", 4, 0.08, seed=5, n_frames=6)
    b = sampling_mask((8, 64), "random", 4, 0.08, seed=5, n_frames=6)
    np.testing.assert_array_equal(a, b)
    assert len({a[t, 0].tobytes() for t in range(6)}) == 6


def test_effective_acceleration():
    m = np.zeros((4, 8), bool)
    m[:, :2] = True
    assert effective_acceleration(m) == 4.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(acceleration=0.5), "acceleration must be >= 1"),
    (dict(acceleration=8, center_fraction=0.3), "centre .* exceeds"),
    (dict(kind="radial"), "kind must be one of"),
])
def test_bad_arguments_raise(kwargs, message):
    args = dict(shape=(8, 64), kind="random", acceleration=4, center_fraction=0.08)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sampling_mask(**args)
