"""tasks.data.phantoms.oct: layered retinal B-scans whose stored boundaries are where intensity changes."""

import numpy as np
import pytest

from tasks.data.phantoms.oct import BOUNDARIES, LAYERS, REFLECTIVITY, make_oct_bscans


def test_contract_and_boundary_order():
    d = make_oct_bscans(5, (96, 80), seed=0)
    assert d["images"].shape == (5, 1, 96, 80) and d["images"].dtype == np.float32
    assert 0.0 <= d["images"].min() and d["images"].max() <= 1.0
    assert d["boundaries"].shape == (5, len(BOUNDARIES), 80) and d["labels"].shape == (5, 96, 80)
    assert len(LAYERS) == len(BOUNDARIES) + 1
    assert (np.diff(d["boundaries"], axis=1) > 0).all()  # layers never cross
    assert (d["boundaries"] > 0).all() and (d["boundaries"] < 96).all()


def test_labels_count_the_boundaries_above_each_pixel():
    d = make_oct_bscans(3, (64, 64), seed=1)
    rows = np.arange(64)[None, None, :, None]
    expected = (d["boundaries"][:, :, None, :] <= rows).sum(axis=1)
    assert np.array_equal(d["labels"], expected)


def test_noise_free_image_is_the_layer_reflectivity():
    d = make_oct_bscans(2, (64, 48), speckle=False, noise=0.0, attenuation=0.0, seed=2)
    assert np.allclose(d["images"][:, 0], REFLECTIVITY[d["labels"]])
    # so intensity changes exactly at the stored boundaries: compare the rows on either side
    img, b = d["images"][:, 0], d["boundaries"]
    first_row = np.ceil(b).astype(int)  # first row at or below each boundary, (N, B, W)
    cols = np.arange(48)
    for n in range(2):
        for k in range(len(BOUNDARIES)):
            r = first_row[n, k]
            top = first_row[n, k - 1] if k else np.zeros_like(r)
            bottom = first_row[n, k + 1] if k + 1 < len(BOUNDARIES) else np.full_like(r, 64)
            ok = (r - 1 >= top) & (r < bottom)  # both neighbouring layers at least one row thick here
            assert np.allclose(img[n, r - 1, cols][ok], REFLECTIVITY[k])
            assert np.allclose(img[n, r, cols][ok], REFLECTIVITY[k + 1])


def test_speckled_intensity_steps_at_the_boundaries():
    d = make_oct_bscans(40, (96, 64), seed=3)
    img, b = d["images"][:, 0], d["boundaries"]
    n_idx = np.arange(40)[:, None]
    cols = np.arange(64)[None, :]
    for k in range(len(BOUNDARIES)):
        r = np.ceil(b[:, k]).astype(int)
        top = np.ceil(b[:, k - 1]).astype(int) if k else np.zeros_like(r)
        bottom = np.ceil(b[:, k + 1]).astype(int) if k + 1 < len(BOUNDARIES) else np.full_like(r, 96)
        ok = (r - 2 >= top) & (r + 2 <= bottom) & (r + 1 < 96)  # two clean rows on each side
        above = 0.5 * (img[n_idx, r - 1, cols] + img[n_idx, r - 2, cols])[ok].mean()
        below = 0.5 * (img[n_idx, r, cols] + img[n_idx, r + 1, cols])[ok].mean()
        assert np.sign(below - above) == np.sign(REFLECTIVITY[k + 1] - REFLECTIVITY[k]), BOUNDARIES[k]


def test_fovea_is_a_thinner_retina():
    d = make_oct_bscans(10, (96, 128), seed=4)
    thickness = d["boundaries"][:, -1] - d["boundaries"][:, 0]  # ILM to Bruch's membrane
    at_fovea = thickness[np.arange(10), np.round(d["fovea"]).astype(int)]
    assert (at_fovea < np.median(thickness, axis=1)).all()


def test_determinism_and_errors():
    a, b, c = (make_oct_bscans(2, (32, 32), seed=s) for s in (0, 0, 1))
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["boundaries"], b["boundaries"])
    assert not np.array_equal(a["images"], c["images"])
    with pytest.raises(ValueError, match="make_oct_bscans"):
        make_oct_bscans(2, (8, 8))
