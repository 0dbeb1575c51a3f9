"""tasks.data.phantoms.anatomy: Shepp-Logan tables, random tissue-class bodies, CT and MRI maps."""

import numpy as np
import pytest
from scipy import ndimage

from tasks.data.phantoms.anatomy import (
    CT_HU,
    TISSUE_CLASSES,
    labels_to_ct,
    labels_to_mri,
    make_modality_pairs,
    mri_class_intensities,
    random_ellipse_phantoms,
    shepp_logan,
)


def _pixel(size, x, y):
    """Array index (row, col) of the pixel centre nearest to physical (x, y) on an odd-sized grid."""
    return int(round((1 - y) * size / 2 - 0.5)), int(round((x + 1) * size / 2 - 0.5))


def test_shepp_logan_2d_values_at_known_points():
    size = 201  # odd: a pixel centre at exactly (0, 0)
    img = shepp_logan(size)
    assert img.shape == (size, size) and img.dtype == np.float32
    assert img[_pixel(size, 0.0, 0.0)] == pytest.approx(0.2)  # brain: 1 - 0.8
    assert img[_pixel(size, 0.0, 0.9)] == pytest.approx(1.0)  # skull, between the two outer ellipses
    assert img[_pixel(size, 0.22, 0.0)] == pytest.approx(0.0, abs=1e-6)  # right ventricle: 1 - 0.8 - 0.2
    assert img[_pixel(size, 0.0, 0.35)] == pytest.approx(0.3)  # ellipse 5 on the brain
    assert img[0, 0] == 0.0  # outside the head
    original = shepp_logan(size, modified=False)
    assert original[_pixel(size, 0.0, 0.0)] == pytest.approx(1.02)  # 2 - 0.98
    assert original[_pixel(size, 0.0, 0.9)] == pytest.approx(2.0)


def test_shepp_logan_2d_matches_scikit_image_reference():
    data = pytest.importorskip("skimage.data")
    ref = data.shepp_logan_phantom()  # 400 x 400 modified Shepp-Logan
    mine = shepp_logan(ref.shape)
    # same orientation and table: only boundary pixels may differ (sampling conventions)
    assert np.mean(np.abs(mine - ref) < 1e-3) > 0.94


def test_shepp_logan_3d_values_and_shape():
    size = 33
    vol = shepp_logan((size, size, size))
    assert vol.shape == (size,) * 3 and vol.dtype == np.float32
    c = size // 2
    assert vol[c, c, c] == pytest.approx(0.2)
    row, col = _pixel(size, 0.22, 0.0)
    assert vol[c, row, col] == pytest.approx(0.0, abs=1e-6)  # ventricle ellipsoid at z = 0
    assert vol[0, c, c] == 0.0  # z = -1: outside the head (c = 0.81)
    levels = np.unique(np.round(vol.astype(np.float64), 4))
    assert np.isin(levels, [0.0, 0.1, 0.2, 0.3, 0.4, 1.0]).all()  # sums of the table's grey levels


def test_shepp_logan_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shepp_logan"):
        shepp_logan((4, 4, 4, 4))
    with pytest.raises(ValueError, match="shepp_logan"):
        shepp_logan((0, 8))


def test_random_ellipse_phantoms_shape_classes_and_determinism():
    a = random_ellipse_phantoms(6, (48, 48), seed=3)
    assert a.shape == (6, 48, 48) and a.dtype == np.int64
    assert a.min() >= 0 and a.max() < len(TISSUE_CLASSES)
    assert np.array_equal(a, random_ellipse_phantoms(6, (48, 48), seed=3))
    assert not np.array_equal(a, random_ellipse_phantoms(6, (48, 48), seed=4))
    rng = np.random.default_rng(0)
    assert not np.array_equal(
        random_ellipse_phantoms(2, (16, 16), seed=rng), random_ellipse_phantoms(2, (16, 16), seed=rng)
    )  # a shared generator advances


def test_random_ellipse_phantoms_fat_shell_encloses_the_interior():
    labels = random_ellipse_phantoms(20, (64, 64), seed=1)
    for lab in labels:
        outside = ndimage.binary_dilation(lab == 0)
        assert not np.any(outside & (lab >= 2)), "interior tissue touches the background"
        assert np.any(lab == 1) and np.any(lab == 2)


def test_random_ellipse_phantoms_3d():
    vol = random_ellipse_phantoms(2, (16, 20, 24), n_structures=2, seed=0)
    assert vol.shape == (2, 16, 20, 24) and vol.dtype == np.int64
    assert np.any(vol == 2)


def test_labels_to_ct_is_the_hounsfield_table():
    labels = np.arange(len(TISSUE_CLASSES)).reshape(2, 3)
    ct = labels_to_ct(labels)
    assert ct.dtype == np.float32 and np.array_equal(ct.ravel(), CT_HU)
    assert ct.ravel()[0] == -1000.0  # air
    noisy = labels_to_ct(np.full((200, 200), 2), noise_hu=10.0, seed=0)
    assert noisy.std() == pytest.approx(10.0, rel=0.05) and noisy.mean() == pytest.approx(40.0, abs=0.5)
    with pytest.raises(ValueError, match="labels_to_ct"):
        labels_to_ct(np.array([0, 9]))
    with pytest.raises(TypeError, match="labels_to_ct"):
        labels_to_ct(np.array([0.0, 1.0]))


def test_mri_contrasts_follow_the_spin_echo_equation():
    t1, t2 = mri_class_intensities("T1"), mri_class_intensities("T2")
    fat, soft, bone, fluid = (TISSUE_CLASSES.index(k) for k in ("fat", "soft_tissue", "bone", "fluid"))
    assert t1.argmax() == fat and t2.argmax() == fluid  # fat bright on T1, fluid bright on T2
    assert t1[fluid] < t1[soft] and t2[fluid] > t2[soft]
    assert t1[0] == 0 and t1[bone] < 0.01
    labels = np.arange(len(TISSUE_CLASSES))[None, :].repeat(3, axis=0)
    assert np.allclose(labels_to_mri(labels, "T1"), t1[labels])
    with pytest.raises(ValueError, match="weighting"):
        mri_class_intensities("T3")


def test_mri_noise_is_rician_and_bias_field_smooth():
    flat = np.full((4, 64, 64), 2)
    noisy = labels_to_mri(flat, "T1", noise=0.05, seed=0)
    assert noisy.min() >= 0  # a magnitude image
    biased = labels_to_mri(flat, "T1", bias_field=0.2, seed=0)
    ratio = biased / mri_class_intensities("T1")[2]
    assert 0.4 < ratio.min() < 1.0 < ratio.max() < 2.5
    assert np.abs(np.diff(np.log(ratio), axis=-1)).max() < 0.1  # slowly varying


def test_make_modality_pairs_share_the_anatomy():
    d = make_modality_pairs(3, (32, 32), noise=0.0, bias_field=0.0, ct_noise_hu=0.0, seed=5)
    assert d["labels"].shape == (3, 32, 32)
    for key in ("ct_hu", "ct", "t1", "t2"):
        assert d[key].shape == (3, 1, 32, 32) and d[key].dtype == np.float32
    assert np.array_equal(d["ct_hu"][:, 0], CT_HU[d["labels"]])
    assert np.allclose(d["t2"][:, 0], mri_class_intensities("T2")[d["labels"]])
    assert 0.0 <= d["ct"].min() and d["ct"].max() <= 1.0
    again = make_modality_pairs(3, (32, 32), seed=5)
    assert np.array_equal(again["t1"], make_modality_pairs(3, (32, 32), seed=5)["t1"])
