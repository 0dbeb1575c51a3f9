"""Pan-Tompkins on a synthetic ECG with known beats and on MIT-BIH record 100 (when present)."""

from pathlib import Path

import numpy as np
import pytest

from models.pan_tompkins import PanTompkins, pan_tompkins_stages
from tasks.metrics.detection import beat_detection_scores

MITDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg" / "mitdb_100"
BEATS = list("NLRBAaJSVrFejnE/fQ?")


def synthetic_ecg(seed=0, fs=360.0, seconds=60.0):
    """Narrow QRS (Gaussian, 10 ms), broad T waves 250 ms later, baseline wander, noise: (signal, beats)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    rr = rng.uniform(0.6, 1.1, int(seconds / 0.6))
    beats = np.cumsum(rr) + 0.5
    beats = beats[beats < seconds - 1.0]
    x = 0.3 * np.sin(2 * np.pi * 0.3 * t) + 0.02 * rng.standard_normal(t.size)
    for b in beats:  # a loop over ~80 beats builds the test signal
        x += 1.2 * np.exp(-0.5 * ((t - b) / 0.010) ** 2)
        x += 0.35 * np.exp(-0.5 * ((t - b - 0.25) / 0.045) ** 2)
    return x, np.round(beats * fs).astype(np.int64)


def test_stages_shapes_and_integration_window():
    x, _ = synthetic_ecg()
    st = pan_tompkins_stages(x, 360.0)
    assert all(v.shape == x.shape for v in st.values())
    w = int(round(0.150 * 360))
    np.testing.assert_allclose(st["integrated"][500], st["squared"][500 - w + 1: 501].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detects_every_synthetic_beat_and_no_t_wave(seed):
    x, beats = synthetic_ecg(seed)
    det = PanTompkins().detect(x, 360.0)
    out = beat_detection_scores(beats, det, 360.0, tolerance_s=0.05)
    assert out["fn"] == 0 and out["fp"] == 0, out


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 s"):
        PanTompkins().detect(np.zeros(100), 360.0)
    with pytest.raises(ValueError, match="band"):
        pan_tompkins_stages(np.zeros(1000), 20.0)


@pytest.mark.skipif(not (MITDB / "100.dat").is_file(), reason=f"MIT-BIH record 100 not found at {MITDB}")
def test_mitdb_100_sensitivity_and_ppv():
    from tasks.data.ecg import read_annotations, read_record

    rec = read_record(MITDB / "100")
    ann = read_annotations(MITDB / "100.atr")
    ref = ann.sample[np.isin(ann.symbol, BEATS)]
    det = PanTompkins().detect(rec.signal[:, 0], rec.fs)
    out = beat_detection_scores(ref, det, rec.fs)
    assert out["sensitivity"] > 0.995 and out["ppv"] > 0.995, out
