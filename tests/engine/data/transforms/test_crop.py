"""Specification of cropping and padding: exact, and image, mask and landmarks stay aligned."""

import numpy as np
import pytest
from scipy import ndimage

from engine.data.transforms import CenterCrop, CropOrPad, PadTo, RandomCrop


def phantom(shape, seed=0):
    """(1, *shape) float32 smooth random image in [0, 1] with structure at several scales."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


def sample(shape=(10, 12)):
    x = phantom(shape)
    return {"image": x, "mask": (x[0] > 0.5).astype(np.uint8), "points": np.array([[4.0, 5.0]])}


def test_center_crop_takes_the_middle():
    s = sample()
    out = CenterCrop((6, 8))(s)
    np.testing.assert_array_equal(out["image"], s["image"][:, 2:8, 2:10])
    np.testing.assert_array_equal(out["mask"], s["mask"][2:8, 2:10])
    np.testing.assert_array_equal(out["points"], [[2.0, 3.0]])


def test_center_crop_larger_than_the_image_is_an_error():
    expected = r"CenterCrop: crop size \(12, 12\) exceeds the image's spatial shape \(10, 12\)"
    with pytest.raises(ValueError, match=expected):
        CenterCrop(12)(sample())


def test_pad_to_centres_the_image_and_fills_the_mask_with_background():
    s = sample()
    out = PadTo((13, 12), value=-1.0)(s)
    assert out["image"].shape == (1, 13, 12)
    np.testing.assert_array_equal(out["image"][:, 1:11], s["image"])
    assert np.all(out["image"][:, 0] == -1.0) and np.all(out["image"][:, 11:] == -1.0)
    assert np.all(out["mask"][0] == 0)
    np.testing.assert_array_equal(out["points"], [[5.0, 5.0]])


def test_pad_to_supports_numpy_pad_modes():
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2)
    np.testing.assert_array_equal(PadTo((4, 2), mode="edge")(x)[0, :, 0], [0, 0, 2, 2])


def test_crop_or_pad_reaches_exactly_the_size():
    out = CropOrPad((14, 8))(sample())
    assert out["image"].shape == (1, 14, 8) and out["mask"].shape == (14, 8)
    out3d = CropOrPad(5)(np.zeros((2, 3, 7, 5), np.float32))
    assert out3d.shape == (2, 5, 5, 5)


def test_random_crop_is_a_window_of_the_original_located_by_the_landmark():
    s = sample((20, 20))
    for seed in range(5):
        out = RandomCrop((8, 6))(s, rng=seed)
        top, left = (s["points"][0] - out["points"][0]).astype(int)  # the crop offset
        np.testing.assert_array_equal(out["image"], s["image"][:, top:top + 8, left:left + 6])
        np.testing.assert_array_equal(out["mask"], s["mask"][top:top + 8, left:left + 6])
    a, b = RandomCrop(8)(s, rng=1), RandomCrop(8)(s, rng=1)
    np.testing.assert_array_equal(a["image"], b["image"])


def test_random_crop_pads_small_images():
    assert RandomCrop((16, 4))(phantom((10, 12)), rng=0).shape == (1, 16, 4)


def test_random_crop_can_centre_on_the_foreground():
    mask = np.zeros((40, 40), np.uint8)
    mask[30:33, 5:8] = 1  # a small lesion
    s = {"image": phantom((40, 40)), "mask": mask}
    for seed in range(5):
        assert RandomCrop(10, foreground_prob=1.0)(s, rng=seed)["mask"].sum() > 0
    with pytest.raises(ValueError, match="needs a 'mask'"):
        RandomCrop(10, foreground_prob=1.0)(phantom((40, 40)), rng=0)


def test_crops_on_the_strict_device(same_on_strict):
    same_on_strict(RandomCrop((8, 9), foreground_prob=0.5), sample((16, 16)), seed=3)
    same_on_strict(CropOrPad((14, 8)), sample())
