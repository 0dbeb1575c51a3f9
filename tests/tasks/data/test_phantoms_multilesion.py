"""Multi-lesion detection phantoms: counts, positions, contrast at the centres, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.phantoms.multilesion import make_multilesion_dataset, render_tubes


def test_table_and_images_2d():
    d = make_multilesion_dataset(60, 48, 2, max_lesions=3, empty_fraction=0.3, seed=0)
    assert d["images"].shape == (60, 1, 48, 48) and d["images"].dtype == np.float32
    assert d["images"].min() >= 0 and d["images"].max() <= 1
    assert d["n_lesions"].max() <= 3
    np.testing.assert_array_equal(np.bincount(d["scan"], minlength=60), d["n_lesions"])
    assert 0.15 < (d["n_lesions"] == 0).mean() < 0.45
    # lesions are brighter at their centres than the image on average
    c = np.round(d["centres"]).astype(int)
    at_centre = d["images"][d["scan"], 0, c[:, 0], c[:, 1]]
    assert at_centre.mean() > d["images"].mean() + 0.1
    # inside the image, non-overlapping (reach 1.8 R)
    r = d["radii"]
    assert (d["centres"] >= 1.8 * r[:, None] - 1e-4).all() and (d["centres"] <= 47 - 1.8 * r[:, None] + 1e-4).all()
    for s in range(60):
        idx = np.flatnonzero(d["scan"] == s)
        for i in idx:
            for j in idx[idx > i]:
                assert np.linalg.norm(d["centres"][i] - d["centres"][j]) > 1.8 * (r[i] + r[j])


def test_3d_and_determinism():
    a = make_multilesion_dataset(4, 24, 3, max_lesions=2, radius=(2.0, 3.0), seed=5)
    b = make_multilesion_dataset(4, 24, 3, max_lesions=2, radius=(2.0, 3.0), seed=5)
    assert a["images"].shape == (4, 1, 24, 24, 24) and a["centres"].shape[1] == 3
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["centres"], b["centres"])


def test_tubes_profile():
    t = render_tubes((21, 21), [[10, 0]], [[10, 20]], [1.0], [0.5])
    assert t[10, 5] == pytest.approx(0.5) and t[11, 5] == pytest.approx(0.5 * np.exp(-0.5))


def test_errors():
    with pytest.raises(ValueError, match="fit"):
        make_multilesion_dataset(2, 16, 2, radius=(2.0, 6.0))
    with pytest.raises(ValueError):
        make_multilesion_dataset(2, 32, 2, empty_fraction=1.5)
