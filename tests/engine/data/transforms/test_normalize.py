"""Specification of intensity normalisation."""

import numpy as np
import pytest
from scipy import ndimage

from engine.data.transforms import MinMaxNormalize, PercentileClip, ZScoreNormalize


def phantom(shape, seed=0):
    """(1, *shape) float32 smooth random image in [0, 1] with structure at several scales."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


def two_channels():
    return np.concatenate([10 + 5 * phantom((16, 16), 0), 200 * phantom((16, 16), 1)])


def test_zscore_per_channel():
    out = ZScoreNormalize()(two_channels())
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1.0, rtol=1e-4)
    whole = ZScoreNormalize(channel_wise=False)(two_channels())
    assert abs(whole.mean()) < 1e-4 and abs(whole[0].mean()) > 0.1


def test_zscore_nonzero_ignores_and_keeps_the_background():
    x = np.zeros((1, 16, 16), np.float32)
    x[0, 4:12, 4:12] = 50 + 10 * phantom((8, 8))[0]  # a "brain" on a zero background
    out = ZScoreNormalize(nonzero=True)(x)
    inside = out[0, 4:12, 4:12]
    assert inside.mean() == pytest.approx(0.0, abs=1e-5) and inside.std() == pytest.approx(1.0, rel=1e-4)
    assert np.all(out[0, :4] == 0)


def test_constant_image_does_not_produce_nan():
    x = np.full((1, 5, 5), 7.0, np.float32)
    for t in (ZScoreNormalize(), ZScoreNormalize(nonzero=True), MinMaxNormalize(),
              PercentileClip(rescale=True)):
        assert np.all(np.isfinite(t(x)))


def test_min_max_maps_to_the_output_range():
    out = MinMaxNormalize((-1.0, 1.0))(two_channels())
    np.testing.assert_allclose(out.min(axis=(1, 2)), -1.0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=(1, 2)), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="low < high"):
        MinMaxNormalize((1.0, 0.0))


def test_percentile_clip_removes_outliers():
    x = phantom((20, 20)).copy()
    x[0, 0, 0] = 1000.0  # one hot pixel
    out = PercentileClip(1.0, 99.0)(x)
    assert out.max() == pytest.approx(np.percentile(x, 99.0), rel=1e-6)
    assert out.min() == pytest.approx(np.percentile(x, 1.0), rel=1e-6)
    rescaled = PercentileClip(1.0, 99.0, rescale=True)(x)
    assert rescaled.min() == 0.0 and rescaled.max() == pytest.approx(1.0)


def test_masks_untouched_and_integer_input(same_on_strict):
    x = (phantom((8, 9, 10)) * 1000).astype(np.int16)
    mask = (x[0] > 500).astype(np.uint8)
    for t in (ZScoreNormalize(nonzero=True), MinMaxNormalize(), PercentileClip(rescale=True)):
        out = same_on_strict(t, {"image": x, "mask": mask})
        assert out["image"].dtype == np.float32 and out["mask"] is mask
