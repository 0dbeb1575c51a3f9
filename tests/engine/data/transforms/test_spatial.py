"""Specification of the geometric transforms: image, mask and landmarks move together."""

import numpy as np
import pytest
from scipy import ndimage

from engine import backend
from engine.data.transforms import Compose, RandomAffine, RandomElastic, RandomFlip, RandomRot90, Resize

THRESHOLD = 0.5


def blob_image(shape, point, sigma=1.5):
    """(1, *shape) float32 image: a Gaussian blob centred on ``point`` (array-index coordinates)."""
    grids = np.indices(shape, dtype=np.float64)
    r2 = sum((g - p) ** 2 for g, p in zip(grids, point))
    return np.exp(-r2 / (2 * sigma**2)).astype(np.float32)[None]


def blob_centre(image):
    """Intensity-weighted centre of the blob in channel 0 (pixels above half its peak)."""
    a = backend.asnumpy(image)[0].astype(np.float64)
    a = np.where(a > 0.5 * a.max(), a, 0.0)
    return np.array([(g * a).sum() / a.sum() for g in np.indices(a.shape)])


def phantom(shape, seed=0):
    """(1, *shape) float32 smooth random image in [0, 1] with structure at several scales."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


def with_threshold_mask(image):
    """A sample whose mask is the image's threshold: any geometric transform must keep
    mask == (image > THRESHOLD) when the image is also resampled with nearest neighbours."""
    return {"image": image, "mask": (image[0] > THRESHOLD).astype(np.uint8)}


def assert_mask_matches_image(out):
    np.testing.assert_array_equal(out["mask"], (out["image"][0] > THRESHOLD).astype(np.uint8))


def assert_landmark_follows(transform, shape, point, seed, tol):
    image = blob_image(shape, point)
    out = transform({"image": image, "points": np.array([point], dtype=np.float64)}, rng=seed)
    np.testing.assert_allclose(blob_centre(out["image"]), out["points"][0], atol=tol)
    return out


# ------------------------------------------------------------------------------------------- flips
def test_flip_moves_image_mask_and_points_identically():
    out = RandomFlip(p=1.0)(with_threshold_mask(phantom((16, 12))), rng=0)
    assert_mask_matches_image(out)
    out = assert_landmark_follows(RandomFlip(axes=(1,), p=1.0), (16, 12), (4.0, 2.0), seed=0, tol=1e-6)
    np.testing.assert_allclose(out["points"][0], [4.0, 9.0])


def test_flip_probability_and_axes():
    x = phantom((8, 8))
    np.testing.assert_array_equal(RandomFlip(p=0.0)(x, rng=0), x)
    np.testing.assert_array_equal(RandomFlip(axes=(0,), p=1.0)(x, rng=0), x[:, ::-1, :])
    with pytest.raises(ValueError, match=r"RandomFlip: spatial axes must lie in \[0, 2\)"):
        RandomFlip(axes=(2,))(x, rng=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_on_a_non_square_image(k):
    t = RandomRot90(ks=(k,))
    out = t(with_threshold_mask(phantom((10, 16))), rng=0)
    assert out["image"].shape == ((1, 16, 10) if k % 2 else (1, 10, 16))
    assert_mask_matches_image(out)
    assert_landmark_follows(t, (10, 16), (2.0, 11.0), seed=0, tol=1e-6)


def test_rot90_in_3d_plane():
    t = RandomRot90(axes=(0, 2), ks=(1,))
    out = assert_landmark_follows(t, (6, 8, 10), (1.0, 2.0, 7.0), seed=0, tol=1e-6)
    assert out["image"].shape == (1, 10, 8, 6)


# ------------------------------------------------------------------------------------------ affine
def test_affine_with_zero_ranges_is_the_identity():
    x = phantom((12, 14))
    np.testing.assert_allclose(RandomAffine()(x, rng=0), x, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_affine_mask_uses_the_same_geometry(seed):
    t = RandomAffine(degrees=30, scale=0.2, shear=0.1, translate=3, order=0)
    assert_mask_matches_image(t(with_threshold_mask(phantom((24, 20))), rng=seed))


@pytest.mark.parametrize("seed", range(4))
def test_affine_landmark_follows_the_image_2d(seed):
    t = RandomAffine(degrees=30, scale=0.2, shear=0.1, translate=4, isotropic=False)
    assert_landmark_follows(t, (48, 40), (20.0, 26.0), seed, tol=0.3)


def test_affine_landmark_follows_the_image_3d():
    t = RandomAffine(degrees=20, scale=0.1, translate=2)
    for seed in range(2):
        assert_landmark_follows(t, (20, 22, 24), (8.0, 12.0, 13.0), seed, tol=0.3)
    out = t(with_threshold_mask(phantom((10, 12, 14))), rng=0)
    assert out["image"].shape == (1, 10, 12, 14) and out["mask"].shape == (10, 12, 14)


def test_affine_rotation_direction_is_documented():
    # +90 degrees turns axis 0 towards axis 1: a point below the centre moves to its right
    t = RandomAffine(degrees=(90, 90))
    out = t({"image": phantom((11, 11)), "points": np.array([[8.0, 5.0]])}, rng=0)
    np.testing.assert_allclose(out["points"][0], [5.0, 8.0], atol=1e-9)


def test_affine_keeps_integer_and_boolean_masks_as_labels():
    x = phantom((16, 16))
    labels = (x[0] * 3).astype(np.int64)  # labels 0..3
    out = RandomAffine(degrees=25, scale=0.1)({"image": x, "mask": labels}, rng=1)
    assert out["mask"].dtype == np.int64 and set(np.unique(out["mask"])) <= {0, 1, 2, 3}
    out = RandomAffine(degrees=25)({"image": x, "mask": labels > 1}, rng=1)
    assert out["mask"].dtype == bool


# ----------------------------------------------------------------------------------------- elastic
def test_elastic_with_zero_displacement_is_the_identity():
    x = phantom((16, 18))
    np.testing.assert_allclose(RandomElastic(max_displacement=0.0)(x, rng=0), x, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_elastic_deforms_and_the_mask_follows(seed):
    x = phantom((32, 32))
    out = RandomElastic(num_control_points=6, max_displacement=3.0, order=0)(with_threshold_mask(x), rng=seed)
    assert not np.array_equal(out["image"], x)
    assert_mask_matches_image(out)


@pytest.mark.parametrize("seed", range(3))
def test_elastic_landmark_follows_the_image(seed):
    t = RandomElastic(num_control_points=6, max_displacement=3.0)
    out = assert_landmark_follows(t, (48, 48), (21.0, 27.0), seed, tol=0.5)
    assert np.abs(out["points"][0] - [21.0, 27.0]).max() > 0.2  # the landmark did move


def test_elastic_3d():
    t = RandomElastic(num_control_points=5, max_displacement=2.0)
    assert_landmark_follows(t, (32, 32, 32), (15.0, 16.0, 17.0), seed=0, tol=0.5)
    t = RandomElastic(num_control_points=5, max_displacement=2.0, order=0)
    out = t(with_threshold_mask(phantom((12, 12, 12))), rng=0)
    assert_mask_matches_image(out)


def test_elastic_needs_enough_control_points():
    with pytest.raises(ValueError, match="RandomElastic: num_control_points must be >= 4"):
        RandomElastic(num_control_points=3)(phantom((8, 8)), rng=0)


# ------------------------------------------------------------------------------------------ resize
def test_resize_shapes_and_landmarks():
    out = Resize((20, 30))(with_threshold_mask(phantom((10, 15))))
    assert out["image"].shape == (1, 20, 30) and out["mask"].shape == (20, 30)
    assert set(np.unique(out["mask"])) <= {0, 1}
    # a landmark at pixel centre p maps to (p + 0.5) * 2 - 0.5 when doubling
    out = Resize((40, 48), order=3)({"image": blob_image((20, 24), (8.0, 9.0), sigma=2.0),
                                     "points": np.array([[8.0, 9.0]])})
    np.testing.assert_allclose(out["points"][0], [16.5, 18.5])
    np.testing.assert_allclose(blob_centre(out["image"]), out["points"][0], atol=0.2)


def test_resize_keeps_a_constant_image_constant():
    x = np.full((2, 9, 7, 5), 3.0, np.float32)
    out = Resize((4, 14, 5))(x)
    assert out.shape == (2, 4, 14, 5)
    np.testing.assert_allclose(out, 3.0, rtol=1e-6)


# ----------------------------------------------------------------------------------------- devices
@pytest.mark.parametrize(
    "transform",
    [
        RandomFlip(p=1.0),
        RandomRot90(ks=(1,)),
        RandomAffine(degrees=20, scale=0.1, shear=0.05, translate=2),
        RandomElastic(num_control_points=5, max_displacement=2.0),
        Resize((9, 13)),
    ],
    ids=lambda t: type(t).__name__,
)

def test_strict_device_gives_the_cpu_result(transform, same_on_strict):
    x = phantom((16, 20))
    points = np.array([[5.0, 6.0], [10.0, 12.0]])
    sample = {"image": x, "mask": (x[0] > 0.5).astype(np.uint8), "points": points}
    same_on_strict(transform, sample)


def test_strict_device_3d_composition(same_on_strict):
    x = phantom((10, 12, 8))
    t = Compose([RandomAffine(degrees=10), RandomElastic(num_control_points=4, max_displacement=1.5)])
    same_on_strict(t, {"image": x, "mask": (x > 0.5).astype(np.uint8)})


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_is_available(), reason="needs CuPy and a CUDA device")
def test_cuda_gives_the_cpu_result():
    x = phantom((16, 20))
    sample = {"image": x, "mask": (x[0] > 0.5).astype(np.uint8), "points": np.array([[5.0, 6.0]])}
    t = Compose([RandomFlip(), RandomAffine(degrees=20, scale=0.1), RandomElastic(max_displacement=2.0),
                 Resize((8, 10))])
    cpu = t(sample, rng=0)
    gpu = t({k: backend.to_device(v, "cuda") for k, v in sample.items()}, rng=0)
    for key in cpu:
        assert backend.device_of(gpu[key]) == "cuda"
        np.testing.assert_allclose(backend.asnumpy(gpu[key]), cpu[key], atol=1e-4)
