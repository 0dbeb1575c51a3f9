"""Enhancement data: the T1 split keeps splits apart, low-resolution images follow the stated
anti-aliasing rule, training patches line up with their low-resolution pixels, dose sets the noise."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data import enhancement as E
from tasks.errors import UsageError

RNG = np.random.default_rng(4)


def test_block_split_leaves_a_gap_between_splits():
    parts = E.block_split(100, block=10, gap=3)
    owner = {i: s for s, idx in parts.items() for i in idx}
    assert set(parts) == {"train", "val", "test"} and all(len(v) for v in parts.values())
    for s, idx in parts.items():
        others = np.concatenate([parts[t] for t in parts if t != s])
        assert np.abs(idx[:, None] - others[None, :]).min() > 3  # never within `gap` slices
    # blocks follow the pattern train, train, val, train, train, test
    assert owner[5] == "train" and owner[25] == "val" and owner[55] == "test"
    keep = np.arange(100) >= 20
    assert E.block_split(100, 10, 3, keep=keep)["train"].min() >= 20


def test_block_average_is_the_mean_of_each_block_and_checks_divisibility():
    x = RNG.normal(size=(2, 1, 8, 12)).astype(np.float32)
    low = E.block_average(x, (2, 4))
    assert low.shape == (2, 1, 4, 3)
    assert low[1, 0, 2, 1] == pytest.approx(x[1, 0, 4:6, 4:8].mean(), abs=1e-6)
    with pytest.raises(UsageError, match=r"scale factor \(3, 3\) does not divide the image size \(8, 12\)"):
        E.block_average(x, (3, 3))


def test_t1_slices_and_patches_on_a_synthetic_volume():
    vol = RNG.uniform(0.2, 1.0, size=(188, 256, 190)).astype(np.float32)
    axial = E.t1_slices(vol, 4, "axial")
    assert axial["high"]["test"].shape[1:] == (1, 184, 256) and axial["low"]["test"].shape[1:] == (1, 46, 64)
    k = axial["positions"]["val"][0]
    np.testing.assert_allclose(axial["high"]["val"][0, 0], vol[2:-2, :, k])
    through = E.t1_slices(vol, 2, "through")
    assert through["high"]["train"].shape[1:] == (1, 188, 188) and through["low"]["train"].shape[1:] == (1, 188, 94)
    j = through["positions"]["train"][0]
    # a thick slice is the mean of two consecutive axial slices, seen in the coronal plane j
    np.testing.assert_allclose(through["low"]["train"][0, 0, :, 3], vol[:, j, 7:9].mean(axis=1), rtol=1e-5)
    low, high = E.training_patches(through["low"]["train"], through["high"]["train"], through["scale"], 16, 20, 0)
    assert low.shape == (20, 1, 16, 8) and high.shape == (20, 1, 16, 16)
    np.testing.assert_allclose(E.block_average(high, (1, 2)), low, rtol=1e-5)  # patches are aligned pairs
    with pytest.raises(UsageError, match="--patch 18 must be divisible"):
        E.training_patches(axial["low"]["train"], axial["high"]["train"], (4, 4), 18, 4, 0)


def test_lower_dose_means_more_noise():
    full = E.low_dose_ct(6, 32, 1.0, 1e5, seed=1)["hu_noise_std"]
    tenth = E.low_dose_ct(6, 32, 0.1, 1e5, seed=1)["hu_noise_std"]
    # Poisson: the noise std scales as 1 / sqrt(dose) (about sqrt(10) = 3.2 here)
    assert 2.5 < tenth / full < 4.0


def test_random_split_refuses_too_few_cases():
    parts = E.random_split(20, seed=0)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(20))
    with pytest.raises(UsageError, match="too few to split"):
        E.random_split(3, seed=0)
