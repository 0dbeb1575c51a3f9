"""Otsu thresholding, morphology, largest component and the nearest-class-mean segmenter."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical_segmentation import (
    NearestMeanSegmenter,
    largest_component,
    largest_component_per_class,
    otsu_segment,
    otsu_threshold,
)


def test_otsu_threshold_matches_scikit_image():
    filters = pytest.importorskip("skimage.filters", reason="scikit-image not installed: Otsu oracle skipped")
    rng = np.random.default_rng(0)
    for scale in (1.0, 1000.0):
        v = np.concatenate([rng.normal(0.2, 0.05, 3000), rng.normal(0.7, 0.1, 1000)]) * scale
        width = (v.max() - v.min()) / 256
        assert otsu_threshold(v) == pytest.approx(filters.threshold_otsu(v, nbins=256), abs=1.01 * width)


def test_otsu_threshold_separates_two_levels():
    v = np.r_[np.full(50, 2.0), np.full(30, 5.0)]
    t = otsu_threshold(v)
    assert 2.0 <= t < 5.0
    assert otsu_threshold(np.ones(5)) == 1.0


def test_largest_component_and_per_class():
    m = np.zeros((10, 10), bool)
    m[1:3, 1:3] = True  # 4 pixels
    m[5:9, 5:9] = True  # 16 pixels
    assert largest_component(m).sum() == 16 and largest_component(m)[6, 6]
    lab = np.zeros((10, 10), int)
    lab[m] = 1
    lab[0, 9] = 2
    lab[9, 0] = 2
    lab[8, 0] = 2
    out = largest_component_per_class(lab, 3)
    assert (out == 1).sum() == 16 and (out == 2).sum() == 2 and out[0, 9] == 0
    assert not largest_component(np.zeros((4, 4), bool)).any()


def test_otsu_segment_finds_a_noisy_bright_disc_and_a_dark_one():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 30) ** 2 + (xx - 34) ** 2 <= 12**2
    image = 0.2 + 0.4 * disc + 0.08 * rng.normal(size=disc.shape)
    image[5, 5] = 1.5  # a bright speck: removed by the opening / largest component
    mask = otsu_segment(image)
    dice = 2 * (mask & disc).sum() / (mask.sum() + disc.sum())
    assert dice > 0.95 and not mask[5, 5]
    dark = otsu_segment(1.0 - image[None])  # channel axis, dark foreground found by 'auto'
    assert 2 * (dark & disc).sum() / (dark.sum() + disc.sum()) > 0.95
    assert (otsu_segment(image, polarity="dark", fill_holes=False) & disc).sum() < 0.05 * disc.sum()


def test_nearest_mean_segmenter_learns_class_intensities():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (4, 1, 1)).repeat(16, 1).repeat(16, 2)
    labels[:, :8] = 0
    means = np.array([0.1, 0.5, 0.9])
    images = (means[labels] + 0.05 * rng.normal(size=labels.shape))[:, None]
    seg = NearestMeanSegmenter(4, smooth=0.0).fit(images, labels)  # class 3 never seen
    np.testing.assert_allclose(seg.means[:3, 0], means, atol=0.02)
    pred = seg.predict(images)
    assert (pred == labels).mean() > 0.99 and not (pred == 3).any()


def test_slic_superpixels_follow_edges_and_come_in_the_requested_number():
    image = np.zeros((1, 28, 28))
    image[0, :, 14:] = 1.0
    image[0, 5:12, 3:9] = 0.6
    from models.classical_segmentation import slic

    segments = slic(image, n_segments=25)
    assert 20 <= segments.max() + 1 <= 40
    for k in range(segments.max() + 1):  # no superpixel straddles an intensity edge
        assert np.unique(image[0][segments == k]).size == 1
    from scipy import ndimage

    for k in range(segments.max() + 1):  # and each is one connected piece
        assert ndimage.label(segments == k)[1] == 1
