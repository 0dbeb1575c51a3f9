"""Specification of the intensity transforms: they change the image only."""

import numpy as np
import pytest
from scipy import ndimage

from engine.data.transforms import (
    RandomContrast,
    RandomGamma,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomIntensityScale,
    RandomIntensityShift,
)


def phantom(shape, seed=0):
    """(1, *shape) float32 smooth random image in [0, 1] with structure at several scales."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


ALL = [
    RandomIntensityShift(0.2, channel_wise=True),
    RandomIntensityScale(0.2),
    RandomGamma(0.4),
    RandomContrast(0.3),
    RandomGaussianNoise(0.1),
    RandomGaussianBlur((0.5, 1.5)),
]
NAMES = [type(t).__name__ for t in ALL]


def sample(shape=(12, 14)):
    x = np.concatenate([phantom(shape, seed=0), 3 * phantom(shape, seed=1)])  # two channels
    return {"image": x, "mask": (x[0] > 0.5).astype(np.uint8), "points": np.array([[3.0, 4.0]])}


@pytest.mark.parametrize("transform", ALL, ids=NAMES)
def test_masks_and_points_are_untouched(transform):
    s = sample()
    out = transform(s, rng=0)
    assert out["mask"] is s["mask"] and out["points"] is s["points"]
    assert out["image"].shape == s["image"].shape and out["image"].dtype == np.float32
    assert not np.array_equal(out["image"], s["image"])


@pytest.mark.parametrize("transform", ALL, ids=NAMES)
def test_deterministic_for_a_seed_in_2d_and_3d(transform):
    for shape in [(12, 14), (6, 7, 8)]:
        x = sample(shape)["image"]
        np.testing.assert_array_equal(transform(x, rng=4), transform(x, rng=4))


@pytest.mark.parametrize("transform", ALL, ids=NAMES)
def test_strict_device(transform, same_on_strict):
    same_on_strict(transform, sample(), seed=2)


def test_integer_images_become_float32():
    x = (phantom((8, 8)) * 255).astype(np.uint8)
    out = RandomIntensityScale(0.1)(x, rng=0)
    assert out.dtype == np.float32


def test_shift_and_scale_are_affine_maps_of_the_values():
    x = sample()["image"]
    shifted = RandomIntensityShift((0.5, 0.5))(x, rng=0)
    np.testing.assert_allclose(shifted, x + 0.5, rtol=1e-6)
    scaled = RandomIntensityScale((2.0, 2.0))(x, rng=0)
    np.testing.assert_allclose(scaled, 2 * x, rtol=1e-6)
    per_channel = RandomIntensityShift(1.0, channel_wise=True)(x, rng=0) - x
    assert per_channel[0].std() < 1e-6 and per_channel[1].std() < 1e-6
    assert abs(per_channel[0, 0, 0] - per_channel[1, 0, 0]) > 1e-3


def test_gamma_keeps_each_channels_range_and_order():
    x = sample()["image"]
    out = RandomGamma((0.5, 0.5))(x, rng=0)
    for c in range(2):
        assert out[c].min() == pytest.approx(x[c].min(), abs=1e-6)
        assert out[c].max() == pytest.approx(x[c].max(), rel=1e-6)
    np.testing.assert_array_equal(np.argsort(out[0], axis=None), np.argsort(x[0], axis=None))
    constant = np.full((1, 4, 4), 2.0, np.float32)
    np.testing.assert_array_equal(RandomGamma(0.5)(constant, rng=0), constant)


def test_contrast_stretches_about_the_mean():
    x = sample()["image"]
    out = RandomContrast((1.5, 1.5), preserve_range=False)(x, rng=0)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1.5 * x.std(axis=(1, 2)), rtol=1e-5)
    clipped = RandomContrast((1.5, 1.5))(x, rng=0)
    assert clipped.min() >= x.min() and clipped.max() <= x.max()


def test_noise_has_the_drawn_standard_deviation():
    x = np.zeros((1, 64, 64), np.float32)
    out = RandomGaussianNoise((0.2, 0.2))(x, rng=0)
    assert out.std() == pytest.approx(0.2, rel=0.05)


def test_blur_smooths_but_keeps_the_mean():
    x = np.random.default_rng(0).random((1, 32, 32)).astype(np.float32)
    out = RandomGaussianBlur((1.0, 1.0))(x, rng=0)
    assert out.std() < 0.5 * x.std()
    assert out.mean() == pytest.approx(x.mean(), rel=1e-3)
