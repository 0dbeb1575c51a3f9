"""Helpers for the transform tests: synthetic images with a known landmark, and device checks."""

import numpy as np
import pytest

from engine import backend


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
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)[None]


@pytest.fixture
def same_on_strict():
    """check(transform, sample, seed): the transform gives on the strict device what it gives on
    the CPU, and its outputs stay on the strict device."""

    def check(transform, sample, seed=0, atol=1e-5):
        cpu = transform(sample, rng=seed)
        strict_in = {k: backend.to_device(v, "strict") for k, v in sample.items()}
        strict = transform(strict_in, rng=seed)
        assert set(cpu) == set(strict)
        for key in cpu:
            assert backend.device_of(strict[key]) == "strict", f"{key} left the device"
            np.testing.assert_allclose(backend.asnumpy(strict[key]), cpu[key], atol=atol, err_msg=key)
        return cpu

    return check
