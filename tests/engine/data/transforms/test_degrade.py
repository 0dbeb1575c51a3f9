"""Specification of the degradation transforms (lower resolution, blur, noise)."""

import numpy as np
from scipy import ndimage

from engine.data.transforms import RandomDegrade, RandomDownsample


def phantom(shape, seed=0):
    """(1, *shape) float32 smooth random image in [0, 1] with structure at several scales."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


def stripes(shape, axis, period=3):
    """(1, *shape) image varying only along one spatial axis."""
    idx = np.indices(shape)[axis]
    return np.sin(2 * np.pi * idx / period).astype(np.float32)[None]


def test_downsampling_keeps_the_grid_and_removes_fine_detail():
    x = stripes((32, 32), axis=1)
    out = RandomDownsample(factor=(3.0, 3.0))(x, rng=0)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.std() < 0.3 * x.std()  # a 3-pixel pattern cannot survive a factor-3 downsampling


def test_anisotropic_downsampling_touches_one_axis_only():
    along_cols = stripes((32, 32), axis=1)
    # thick "slices" along axis 0 leave a pattern that only varies along axis 1 intact ...
    out = RandomDownsample((3.0, 3.0), axes=(0,))(along_cols, rng=0)
    np.testing.assert_allclose(out, along_cols, atol=1e-5)
    # ... and destroy it when the chosen axis is the one it varies along
    assert RandomDownsample((3.0, 3.0), axes=(1,))(along_cols, rng=0).std() < 0.3 * along_cols.std()


def test_smooth_images_survive_mild_downsampling():
    x = phantom((32, 32))
    out = RandomDownsample((1.5, 1.5))(x, rng=0)
    assert np.abs(out - x).mean() < 0.05


def test_degrade_leaves_masks_and_keeps_the_original_for_pairs(same_on_strict):
    x = phantom((24, 24, 12))
    mask = (x[0] > 0.5).astype(np.uint8)
    sample = {"image": x, "mask": mask}
    out = RandomDegrade(p=1.0, keep_original="target")(sample, rng=0)
    assert out["mask"] is mask and out["target"] is x
    assert out["image"].shape == x.shape and not np.allclose(out["image"], x)
    same_on_strict(RandomDegrade(p=1.0), sample, seed=1)
    nothing = RandomDegrade(p=0.0)(sample, rng=0)
    np.testing.assert_array_equal(nothing["image"], x)
