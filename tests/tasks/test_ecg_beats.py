"""medgrad run ecg-beats on MIT-BIH record 100: both detectors find the beats of the test segment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.cli import main

RECORD = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg" / "mitdb_100" / "100"
needs_record = pytest.mark.skipif(not RECORD.with_suffix(".dat").is_file(),
                                  reason=f"MIT-BIH record 100 not found at {RECORD}")


@needs_record
def test_cnn_and_pan_tompkins_find_the_beats(tmp_path):
    out = tmp_path / "ecg"
    code = main(["run", "ecg-beats", "--quick", "--quiet", "--out", str(out), "--record", str(RECORD),
                 "--train-minutes", "10", "--val-minutes", "3", "--bootstrap", "50"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    cnn, pt = metrics["test"]["cnn"], metrics["test"]["pan_tompkins"]
    assert metrics["split_minutes"]["test"][0] == pytest.approx(13.0)
    assert cnn["n_beats"] == pt["n_beats"] > 1200  # 17 minutes of a ~75 bpm rhythm
    assert pt["sensitivity"] > 0.995 and pt["ppv"] > 0.995
    assert cnn["sensitivity"] > 0.97 and cnn["ppv"] > 0.97, cnn
    assert cnn["f1_ci"][0] <= cnn["f1"] <= cnn["f1_ci"][1]
    assert (out / "figures" / "test_beats.png").is_file() and (out / "checkpoints" / "best.npz").is_file()


@needs_record
@pytest.mark.parametrize("args,message", [
    (["--train-minutes", "25", "--val-minutes", "5"], "less than a minute"),
    (["--lead", "V1"], "has leads MLII, V5"),
    (["--window", "1001"], "multiple of 2**depth"),
])
def test_bad_settings_exit_2(tmp_path, capsys, args, message):
    code = main(["run", "ecg-beats", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--record", str(RECORD),
                 *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_record_exits_2(tmp_path, capsys):
    code = main(["run", "ecg-beats", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--record",
                 str(tmp_path / "nothing")])
    assert code == 2
    assert "no WFDB header" in capsys.readouterr().err
