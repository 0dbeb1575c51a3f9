"""tasks.data.phantoms.cine: beating heart with exact ejection fraction; Rayleigh speckle video."""

import numpy as np
import pytest

from tasks.data.phantoms.cine import (
    HEART_CLASSES,
    beating_heart,
    contraction_curve,
    rayleigh_speckle,
    ultrasound_speckle_video,
)


def test_contraction_curve_end_diastole_and_end_systole():
    s = contraction_curve(np.array([0.0, 0.35, 1.0, 0.175]), es_phase=0.35)
    assert s[0] == 0.0 and s[1] == pytest.approx(1.0) and s[2] == pytest.approx(0.0)
    assert s[3] == pytest.approx(0.5)


def test_heart_contract_and_ef_from_the_drawn_masks():
    h = beating_heart(n_frames=20, image_size=64, seed=0)
    assert h["images"].shape == (20, 64, 64) and h["images"].dtype == np.float32
    assert h["labels"].dtype == np.int64 and h["labels"].max() < len(HEART_CLASSES)
    assert np.array_equal(h["blood_pool"], h["labels"] == HEART_CLASSES.index("lv_blood"))
    areas = h["blood_pool"].sum(axis=(1, 2))
    assert np.array_equal(h["volumes"], areas)
    edv, esv = areas.max(), areas.min()
    assert h["ejection_fraction"] == pytest.approx((edv - esv) / edv)
    assert h["ed_frame"] == 0 and h["es_frame"] == 7  # phase 0 and 0.35 of 20 frames
    assert 0.45 < h["ejection_fraction"] < 0.7  # a normal LV


def test_ef_of_masks_matches_the_continuous_geometry():
    h = beating_heart(n_frames=16, image_size=128, noise=0.0, seed=3)
    assert h["ejection_fraction"] == pytest.approx(h["ejection_fraction_continuous"], abs=0.02)


def test_infarct_reduces_ejection_fraction_and_wall_motion():
    healthy = beating_heart(image_size=96, infarct=False, seed=1)
    infarct = beating_heart(image_size=96, infarct=True, infarct_motion=0.1, infarct_width_deg=120, seed=1)
    assert infarct["ejection_fraction"] < healthy["ejection_fraction"] - 0.03
    assert infarct["ejection_fraction_continuous"] < healthy["ejection_fraction_continuous"]
    assert infarct["infarct_angle"] is not None and healthy["infarct_angle"] is None


def test_myocardial_area_is_conserved_through_the_cycle():
    h = beating_heart(n_frames=12, image_size=128, seed=2)
    myo = h["myocardium"].sum(axis=(1, 2))
    assert myo.max() / myo.min() < 1.06  # incompressible wall: it thickens as the cavity shrinks


def test_multi_slice_simpson_volumes():
    h = beating_heart(n_frames=10, image_size=64, n_slices=6, seed=0)
    assert h["images"].shape == (10, 6, 64, 64)
    assert np.array_equal(h["volumes"], h["blood_pool"].sum(axis=(1, 2, 3)))
    assert h["ejection_fraction"] == pytest.approx(h["ejection_fraction_continuous"], abs=0.03)


def test_heart_determinism():
    a, b, c = (beating_heart(n_frames=6, image_size=48, seed=s) for s in (4, 4, 5))
    assert np.array_equal(a["images"], b["images"]) and not np.array_equal(a["images"], c["images"])
    with pytest.raises(ValueError, match="beating_heart"):
        beating_heart(n_frames=1)


def test_rayleigh_speckle_statistics_and_temporal_correlation():
    rng = np.random.default_rng(0)
    sp = rayleigh_speckle(rng, (8, 96, 96), correlation=0.9)
    assert sp.min() >= 0 and sp.mean() == pytest.approx(1.0, abs=0.03)
    assert sp.mean() / sp.std() == pytest.approx(np.sqrt(np.pi / (4 - np.pi)), rel=0.06)  # ~1.91

    def corr(x, y):
        return np.corrcoef(x.ravel(), y.ravel())[0, 1]

    independent = rayleigh_speckle(rng, (2, 96, 96), correlation=0.0)
    assert corr(sp[0], sp[1]) > 0.6 and abs(corr(independent[0], independent[1])) < 0.1


def test_ultrasound_video_is_echogenicity_times_speckle():
    v = ultrasound_speckle_video(n_frames=6, image_size=48, seed=0)
    assert v["video"].shape == (6, 48, 48) and v["video"].dtype == np.float32
    assert np.allclose(v["video"], v["echogenicity"] * v["speckle"])
    blood = v["blood_pool"]
    assert (
        v["echogenicity"][blood].mean() < 0.3 * v["echogenicity"][~blood & (v["echogenicity"] > 0.3)].mean()
    )
    assert np.array_equal(v["video"], ultrasound_speckle_video(n_frames=6, image_size=48, seed=0)["video"])
