"""Specification of tasks.features: radiomics-style features, checked against hand-computed
values and, where importable, scikit-image and SciPy."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tasks import features as F

needs_skimage = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                   reason="scikit-image not importable: reference comparison skipped")


def _disc(size=41, radius=15.0):
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return (yy - c) ** 2 + (xx - c) ** 2 <= radius**2


# ---------------------------------------------------------------------------- GLCM


def test_glcm_by_hand():
    # 2x3 image [[0, 0, 1], [1, 2, 2]], offset "to the right" (0, 1): pairs (0,0), (0,1), (1,2), (2,2).
    q = np.array([[[0, 0, 1], [1, 2, 2]]])
    P = F.glcm(q, 3, [(0, 1)], symmetric=False, normed=False)[0, :, :, 0]
    expected = np.zeros((3, 3))
    expected[0, 0] = expected[0, 1] = expected[1, 2] = expected[2, 2] = 1
    np.testing.assert_array_equal(P, expected)
    Ps = F.glcm(q, 3, [(0, 1)], symmetric=True, normed=True)[0, :, :, 0]
    np.testing.assert_allclose(Ps, (expected + expected.T) / 8)
    # Contrast of the symmetric matrix: pairs at grey distance 0, 1, 1, 0 in both directions -> 4/8.
    assert F.glcm_props(Ps[None, :, :, None])["contrast"][0, 0] == pytest.approx(0.5)


def test_glcm_respects_the_roi():
    q = np.array([[[0, 1, 2, 3]]])
    roi = np.array([[[True, True, False, True]]])
    P = F.glcm(q, 4, [(0, 1)], roi=roi, symmetric=False, normed=False)[0, :, :, 0]
    assert P.sum() == 1 and P[0, 1] == 1  # only the pair whose two pixels are inside


@needs_skimage
def test_glcm_and_properties_match_skimage():
    from skimage.feature import graycomatrix, graycoprops

    rng = np.random.default_rng(0)
    levels, distances = 8, (1, 2)
    q = rng.integers(0, levels, (4, 15, 12))
    q[3] = 5  # a constant image: correlation is defined as 1
    P = F.glcm(q, levels, F.glcm_offsets(distances, F.ANGLES))
    props = F.glcm_props(P)
    for n in range(4):
        ref = graycomatrix(q[n].astype(np.uint8), distances, F.ANGLES, levels=levels,
                           symmetric=True, normed=True)
        np.testing.assert_allclose(P[n].reshape(levels, levels, len(distances), 4), ref, atol=1e-12)
        for name in F.GLCM_PROPS:
            got = props[name][n].reshape(len(distances), 4)
            np.testing.assert_allclose(got, graycoprops(ref, name), atol=1e-10, err_msg=name)


# ---------------------------------------------------------------------------- shape


def test_shape_features_by_hand():
    sq = np.zeros((12, 12), bool)
    sq[3:8, 3:8] = True  # 5 x 5 square
    line = np.zeros((12, 12), bool)
    line[6, 1:11] = True
    empty = np.zeros((12, 12), bool)
    out = F.shape_features(np.stack([sq, line, empty]))
    # Crofton, 4 directions: N_0 = N_90 = 2*5 transitions, N_45 = N_135 = 2*(2*5 - 1).
    perimeter_sq = np.pi / 8 * (20 + 4 * 9 / np.sqrt(2))
    np.testing.assert_allclose(out["area"], [25, 10, 0])
    assert out["perimeter"][0] == pytest.approx(perimeter_sq)
    assert out["circularity"][0] == pytest.approx(4 * np.pi * 25 / perimeter_sq**2)
    np.testing.assert_allclose(out["eccentricity"], [0.0, 1.0, 0.0])
    assert out["perimeter"][2] == 0 and out["circularity"][2] == 0


def test_disc_is_round():
    out = F.shape_features(_disc()[None])
    assert out["perimeter"][0] == pytest.approx(2 * np.pi * 15, rel=0.03)
    assert out["circularity"][0] == pytest.approx(1.0, abs=0.05)
    assert out["eccentricity"][0] == pytest.approx(0.0, abs=1e-9)


@needs_skimage
def test_perimeter_and_eccentricity_match_skimage():
    from skimage.measure import perimeter_crofton, regionprops

    yy, xx = np.mgrid[:40, :40]
    ellipse = ((yy - 20) / 14.0) ** 2 + ((xx - 18) / 6.0) ** 2 <= 1
    tilted = ((yy - xx) / 20.0) ** 2 + ((yy + xx - 40) / 8.0) ** 2 <= 1
    masks = np.stack([ellipse, tilted, _disc(40, 9.0)])
    out = F.shape_features(masks)
    for n, m in enumerate(masks):
        assert out["perimeter"][n] == pytest.approx(perimeter_crofton(m, directions=4))
        assert out["eccentricity"][n] == pytest.approx(regionprops(m.astype(int))[0].eccentricity)


@needs_skimage
def test_otsu_threshold_matches_skimage():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(1)
    x = rng.random((5, 30, 30))
    x[:, 8:20, 5:25] += 1.0 + rng.random((5, 1, 1))
    got = F.otsu_threshold(x)
    for n, img in enumerate(x):
        bin_width = (img.max() - img.min()) / 256
        assert got[n] == pytest.approx(threshold_otsu(img), abs=1.01 * bin_width)  # within one bin


# ---------------------------------------------------------------------------- intensity and gradient


def test_masked_percentiles_match_numpy_per_image():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 9, 7))
    roi = rng.random((6, 9, 7)) > 0.6
    roi[:, 0, 0] = True
    got = F.masked_percentiles(x, roi, [0, 10, 50, 90, 100])
    ref = np.array([np.percentile(x[n][roi[n]], [0, 10, 50, 90, 100]) for n in range(6)])
    np.testing.assert_allclose(got, ref)


def test_intensity_features_match_scipy_stats_in_the_mask():
    from scipy import stats

    rng = np.random.default_rng(3)
    images = rng.gamma(2.0, size=(4, 1, 20, 20)).astype(np.float32)
    masks = rng.random((4, 20, 20)) > 0.3
    feats, names = F.extract_features(images, masks)
    col = {name: feats[:, i] for i, name in enumerate(names)}
    for n in range(4):
        v = images[n, 0][masks[n]].astype(np.float64)
        assert col["intensity_mean"][n] == pytest.approx(v.mean(), rel=1e-5)
        assert col["intensity_std"][n] == pytest.approx(v.std(), rel=1e-5)
        assert col["intensity_skewness"][n] == pytest.approx(stats.skew(v), rel=1e-4)
        assert col["intensity_kurtosis"][n] == pytest.approx(stats.kurtosis(v), rel=1e-4)
        assert col["intensity_p75"][n] == pytest.approx(np.percentile(v, 75), rel=1e-5)
        assert col["intensity_max"][n] == pytest.approx(v.max())
        assert col["shape_area"][n] == masks[n].sum()


def test_histogram_entropy_by_hand():
    u = np.array([[[0.0, 0.0, 0.9, 0.9]], [[0.1, 0.4, 0.6, 0.9]], [[0.5, 0.5, 0.5, 0.5]]])
    roi = np.ones(u.shape, bool)
    # Two equally filled bins -> 1 bit; four -> 2 bits; one -> 0 bits.
    np.testing.assert_allclose(F.histogram_entropy(u, roi, bins=4), [1.0, 2.0, 0.0])


def test_sobel_magnitude_of_a_ramp_is_constant_inside():
    ramp = np.tile(np.arange(8, dtype=float), (2, 6, 1)) * 0.5  # slope 0.5 along columns
    g = F.sobel_magnitude(ramp)
    # Sobel: (x[c+1] - x[c-1]) = 1 per row, weighted 1 + 2 + 1 -> 4 away from the left/right edges.
    np.testing.assert_allclose(g[:, :, 1:-1], 4.0)


# ---------------------------------------------------------------------------- the extractor


def test_extract_features_shapes_names_and_dtype():
    rng = np.random.default_rng(4)
    feats, names = F.extract_features(rng.random((3, 1, 16, 16)), levels=8, distances=(1, 3))
    assert feats.dtype == np.float32 and feats.shape == (3, len(names))
    assert len(set(names)) == len(names)
    assert "glcm_correlation_d3" in names and "shape_circularity" in names
    assert np.isfinite(feats).all()
    rgb, rgb_names = F.extract_features(rng.random((2, 3, 16, 16)))
    assert rgb_names[0] == "c0_intensity_mean" and "c2_gradient_p90" in rgb_names
    # Per-channel features three times, the 4 shape features once.
    assert rgb.shape == (2, 3 * (len(names) - 4) + 4) == (2, len(rgb_names))


def test_texture_distinguishes_smooth_from_noisy_images():
    rng = np.random.default_rng(5)
    smooth = np.tile(np.linspace(0, 1, 28), (28, 1))
    noisy = rng.random((28, 28))
    feats, names = F.extract_features(np.stack([smooth, noisy])[:, None])
    col = {name: feats[:, i] for i, name in enumerate(names)}
    assert col["glcm_contrast_d1"][0] < col["glcm_contrast_d1"][1]
    assert col["glcm_homogeneity_d1"][0] > col["glcm_homogeneity_d1"][1]
    assert col["glcm_correlation_d1"][0] > 0.9 > col["glcm_correlation_d1"][1]


def test_shape_from_otsu_finds_a_bright_disc():
    img = np.where(_disc(41, 12.0), 0.8, 0.1) + 0.01 * np.random.default_rng(6).random((41, 41))
    feats, names = F.extract_features(img[None, None])
    col = dict(zip(names, feats[0]))
    assert col["shape_area"] == _disc(41, 12.0).sum()
    assert col["shape_circularity"] == pytest.approx(1.0, abs=0.06)


def test_value_range_makes_intensities_comparable_across_images():
    base = np.random.default_rng(7).random((1, 1, 20, 20))
    pair = np.concatenate([base, 0.5 * base])
    own, names = F.extract_features(pair)  # per-image range: contrast-invariant texture
    fixed, _ = F.extract_features(pair, value_range=(0.0, 1.0))
    i = names.index("glcm_contrast_d1")
    assert own[0, i] == pytest.approx(own[1, i], rel=0.15)
    assert fixed[1, i] < 0.5 * fixed[0, i]


def test_extract_features_is_vectorised_enough_for_a_medmnist_split():
    # 1000 images of 28x28 take well under a second when vectorised (not timed here: CI load
    # varies); this checks it runs and stays consistent with one image at a time.
    rng = np.random.default_rng(8)
    images = rng.random((1000, 1, 28, 28)).astype(np.float32)
    feats, _ = F.extract_features(images)
    assert feats.shape[0] == 1000
    single, _ = F.extract_features(images[17:18])
    np.testing.assert_allclose(feats[17], single[0], rtol=1e-5, atol=1e-6)


def test_extract_features_accepts_device_arrays():
    from engine.backend import to_device

    images = np.random.default_rng(9).random((3, 1, 12, 12)).astype(np.float32)
    masks = np.ones((3, 12, 12), bool)
    host, _ = F.extract_features(images, masks)
    dev, _ = F.extract_features(to_device(images, "strict"), to_device(masks, "strict"))
    np.testing.assert_array_equal(dev, host)


@pytest.mark.parametrize(
    ("images", "masks", "message"),
    [
        (np.zeros((2, 8, 8)), None, r"\(N, C, H, W\)"),
        (np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 9), bool), "masks must be"),
        (np.zeros((2, 1, 8, 8)), np.stack([np.ones((8, 8), bool), np.zeros((8, 8), bool)]), r"images \[1\]"),
        (np.full((1, 1, 8, 8), np.nan), None, "NaN"),
    ],
)
def test_extract_features_rejects_bad_input(images, masks, message):
    with pytest.raises(ValueError, match=message):
        F.extract_features(images, masks)
