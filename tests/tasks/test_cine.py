"""medgrad run cine: ejection fraction and ED/ES frames from cines, networks against Otsu segmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.cine import classical_measurement, cyclic_frame_error, make_cines
from tasks.cli import main


def test_cyclic_frame_error_wraps_around_the_cycle():
    assert cyclic_frame_error([0, 15, 3, 8], [15, 0, 3, 0], 16).tolist() == [1, 1, 0, 8]


def test_cines_start_anywhere_in_the_cycle_and_the_truth_follows():
    data = make_cines(30, 12, 32)
    assert data.x.shape == (30, 12, 1, 32, 32) and data.x.dtype == np.float32
    assert len(np.unique(data.ed)) > 5  # ED is not always frame 0
    assert 0.15 < data.ef.min() and data.ef.max() < 0.8
    # the truth is the blood pool's largest/smallest frame: the bright area agrees within a frame
    bright = (data.x[:, :, 0] > 0.6).sum((2, 3))
    assert cyclic_frame_error(bright.argmin(1), data.es, 12).mean() < 1.0


def test_the_classical_measurement_on_clean_large_cines():
    # with little blur relative to the heart (64 pixels), thresholding measures EF within a few points
    data = make_cines(20, 16, 64)
    ef, ed, es = classical_measurement(data.x)
    assert np.abs(ef - data.ef).mean() < 0.06, np.abs(ef - data.ef).mean()
    assert cyclic_frame_error(es, data.es, 16).mean() <= 1.0
    assert cyclic_frame_error(ed, data.ed, 16).mean() <= 1.5  # the diastolic plateau is flat


def test_the_experiment_learns_and_reports_both_methods(tmp_path):
    out = tmp_path / "r"
    code = main(["run", "cine", "--quiet", "--out", str(out), "--model", "pool", "--n-samples", "100",
                 "--epochs", "12", "--bootstrap", "100"])
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    net, classical = m["test"]["network"], m["test"]["classical"]
    assert m["split_sizes"] == {"train": 60, "val": 20, "test": 20}
    # chance for a cyclic frame error over 16 frames is 4 frames; EF spread (sd) is ~13 points
    assert net["es_frame_error"] < 2.5 and net["ef_abs_error"] < 10, net
    assert classical["ef_abs_error"] < 6 and classical["es_frame_error"] < 1.5, classical
    assert abs(m["test"]["classical_uncalibrated"]["ef_bias"]) > abs(classical["ef_bias"])
    for key in ("ef_abs_error", "es_frame_error"):
        assert net[f"{key}_ci"][0] <= net[key] <= net[f"{key}_ci"][1]
    assert (out / "figures" / "ef_agreement.png").is_file()


def test_a_size_that_the_poolings_cannot_halve_exits_2(tmp_path, capsys):
    code = main(["run", "cine", "--quick", "--quiet", "--size", "30", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "--size must be a multiple of 4" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", ["lstm", "convlstm"])
def test_recurrent_models_run_from_the_command_line(tmp_path, model):
    code = main(["run", "cine", "--quick", "--quiet", "--model", model, "--out", str(tmp_path / model)])
    assert code == 0
    m = json.loads((tmp_path / model / "metrics.json").read_text())
    assert m["model_info"]["parameters"] > 1000 and m["test"]["network"]["n"] == 8
