"""Specification of the transform protocol: sample convention, seeding, composition, errors."""

import numpy as np
import pytest

from engine.data.transforms import (
    Compose,
    OneOf,
    RandomAffine,
    RandomApply,
    RandomFlip,
    RandomGaussianNoise,
    RandomIntensityShift,
)


def image():
    return np.random.default_rng(0).random((1, 12, 10)).astype(np.float32)


def test_bare_array_in_bare_array_out_and_dict_in_dict_out():
    x = image()
    out = RandomFlip(p=1.0)(x, rng=0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, x[:, ::-1, ::-1])
    sample = {"image": x, "label": 3, "id": "patient-7"}
    out = RandomFlip(p=1.0)(sample, rng=0)
    assert out["label"] == 3 and out["id"] == "patient-7"  # unknown keys pass through
    assert sample["image"] is x  # the input dict is not modified


def test_same_seed_same_augmented_sample():
    x = image()
    pipeline = [RandomAffine(degrees=20, scale=0.1), RandomGaussianNoise(std=0.1)]
    a = Compose(pipeline, seed=5)(x)
    np.testing.assert_array_equal(Compose(pipeline, seed=5)(x), a)
    np.testing.assert_array_equal(Compose(pipeline)(x, rng=np.random.default_rng(5)), a)
    assert not np.array_equal(Compose(pipeline, seed=6)(x), a)


def test_compose_generator_advances_between_calls():
    x = image()
    t = Compose([RandomIntensityShift(1.0)], seed=0)
    first, second = t(x), t(x)
    assert not np.array_equal(first, second)
    replay = Compose([RandomIntensityShift(1.0)], seed=0)
    np.testing.assert_array_equal(replay(x), first)
    np.testing.assert_array_equal(replay(x), second)


def test_random_apply_probability_extremes():
    x = image()
    np.testing.assert_array_equal(RandomApply(RandomIntensityShift(1.0), p=0.0)(x, rng=0), x)
    assert not np.array_equal(RandomApply(RandomIntensityShift(1.0), p=1.0)(x, rng=0), x)
    sometimes = RandomApply(RandomIntensityShift(1.0), p=0.3)
    hits = sum(not np.array_equal(sometimes(x, rng=s), x) for s in range(200))
    assert 40 <= hits <= 80


def test_one_of_applies_exactly_one():
    x = np.zeros((1, 4, 4), np.float32)
    t = OneOf([RandomIntensityShift((1.0, 1.0)), RandomIntensityShift((10.0, 10.0))], weights=[0, 1])
    np.testing.assert_array_equal(t(x, rng=0), x + 10.0)
    either = OneOf([RandomIntensityShift((1.0, 1.0)), RandomIntensityShift((10.0, 10.0))])
    values = {float(either(x, rng=s)[0, 0, 0]) for s in range(20)}
    assert values == {1.0, 10.0}


def test_plain_callables_can_be_composed():
    def add_one(sample, rng):
        return dict(sample, image=sample["image"] + 1)

    out = Compose([add_one, add_one])(np.zeros((1, 2, 2)), rng=0)
    np.testing.assert_array_equal(out, np.full((1, 2, 2), 2.0))


def test_wrong_rank_is_an_error_naming_the_transform_and_shape():
    with pytest.raises(ValueError, match=r"RandomFlip: image must be channel-first .* got shape \(12, 10\)"):
        RandomFlip()(np.zeros((12, 10)), rng=0)


def test_mismatched_mask_is_an_error_naming_both_shapes():
    expected = r"RandomAffine: mask shape \(1, 12, 9\) does not match image shape \(1, 12, 10\)"
    with pytest.raises(ValueError, match=expected):
        RandomAffine(degrees=5)({"image": image(), "mask": np.zeros((1, 12, 9))}, rng=0)


def test_points_must_match_the_spatial_rank():
    with pytest.raises(ValueError, match=r"points must have shape \(K, 2\)"):
        RandomFlip()({"image": image(), "points": np.zeros((3, 3))}, rng=0)


def test_rng_must_be_a_generator_or_seed():
    with pytest.raises(TypeError, match="rng must be"):
        RandomFlip()(image(), rng="seed")
