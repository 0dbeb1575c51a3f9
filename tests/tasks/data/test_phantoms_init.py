"""tasks.data.phantoms: public exports, seed handling and the gallery samples."""

import numpy as np
import pytest

import tasks.data.phantoms as phantoms
from tasks.data.phantoms import gallery_samples


@pytest.fixture(scope="module")
def gallery():
    return gallery_samples(seed=0)


def test_exports_exist():
    for name in phantoms.__all__:
        assert hasattr(phantoms, name), name


def test_gallery_images_are_display_ready(gallery):
    assert len(gallery) >= 15
    for kind, images in gallery.items():
        assert isinstance(kind, str) and isinstance(images, list) and images, kind
        for img in images:
            assert isinstance(img, np.ndarray) and img.dtype == np.float32, kind
            assert img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3), (kind, img.shape)
            assert np.isfinite(img).all() and img.size > 0, kind
    for rgb in gallery["histology"]:
        assert rgb.ndim == 3 and 0.0 <= rgb.min() and rgb.max() <= 1.0
    for kind in ("shepp_logan", "lesion_benign", "lesion_malignant", "cine_mri", "oct", "diffusion"):
        assert kind in gallery


def test_gallery_is_deterministic(gallery):
    again = gallery_samples(seed=0)
    other = gallery_samples(seed=1)
    assert gallery.keys() == again.keys()
    for kind in gallery:
        assert all(np.array_equal(a, b) for a, b in zip(gallery[kind], again[kind])), kind
    assert not np.array_equal(gallery["lesion_benign"][0], other["lesion_benign"][0])


@pytest.mark.parametrize("bad", ["0", 1.5, True, -1])
def test_bad_seeds_are_rejected(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        phantoms.make_lesion_dataset(4, seed=bad)
