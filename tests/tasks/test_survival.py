"""The survival experiment end to end: real cohort, phantoms with known risk, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.cli import main

NCCTG = Path(__file__).resolve().parents[3] / "shared" / "data" / "survival" / "ncctg_lung.csv"


def _run(tmp_path, name, *args):
    out = tmp_path / name
    code = main(["run", "survival", "--quick", "--quiet", "--out", str(out), *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_phantom_cohort_both_models_rank_the_known_risk(tmp_path):
    out, m = _run(tmp_path, "phantom", "--dataset", "phantom", "--cv-repeats", "0")
    for model in ("network", "linear_cox"):
        t = m["test"][model]
        assert t["c_index"] > 0.64, (model, t)  # the true risk reaches 0.72 on these 40 patients; flipped 0.28
        assert t["c_index_ci"][0] <= t["c_index"] <= t["c_index_ci"][1]
        assert t["logrank_p"] < 0.01  # the predicted risk halves really differ in survival
    # the linear Cox model finds the generating coefficients (0.8, 0.6, 0.3, 0, 0, 0) per unit x
    hr = m["model_info"]["linear_cox"]["hazard_ratio_per_sd"]
    assert hr["x0"] > hr["x1"] > hr["x2"] > 1.1 and all(0.8 < hr[f"x{j}"] < 1.25 for j in (3, 4, 5))
    assert (out / "figures" / "kaplan_meier_test.png").is_file() and (out / "checkpoints" / "best.npz").is_file()
    assert m["cross_validation"] is None
    # survival curves from the known-risk cohort beat the covariate-free Kaplan-Meier curve
    km = m["integrated_brier_kaplan_meier"]
    assert m["test"]["linear_cox"]["integrated_brier"] < km - 0.01 and m["test"]["network"]["integrated_brier"] < km


@pytest.mark.skipif(not NCCTG.is_file(), reason="NCCTG lung cohort not found in ../shared/data/survival")
def test_ncctg_cohort_with_cross_validation(tmp_path):
    out, m = _run(tmp_path, "ncctg", "--data-file", str(NCCTG), "--cv-folds", "3", "--epochs", "25")
    assert m["split_sizes"] == {"train": 137, "val": 46, "test": 45}
    hr = m["model_info"]["linear_cox"]["hazard_ratio_per_sd"]
    assert hr["ph.ecog"] > 1.1 and hr["sex"] < 0.9  # worse performance status: higher hazard; women live longer
    assert "inst" not in hr  # the institution code is dropped by default
    cv = m["cross_validation"]
    assert len(cv["linear_cox"]["folds"]) == 3 and len(cv["network"]["folds"]) == 3
    assert cv["linear_cox"]["mean"] > 0.56 and cv["network"]["mean"] > 0.56  # published: about 0.6
    assert len(list((out / "cv").iterdir())) == 3  # one training folder per fold


def _csv(tmp_path, text) -> str:
    path = tmp_path / "cohort.csv"
    path.write_text(text)
    return str(path)


def _rows(n=40, seed=0, time=None, event=None):
    rng = np.random.default_rng(seed)
    lines = ["days,dead,age,arm"]
    for i in range(n):
        t = rng.integers(1, 500) if time is None else time(i)
        e = int(rng.random() < 0.6) if event is None else event(i)
        lines.append(f"{t},{e},{rng.integers(40, 80) if i % 7 else ''},{'AB'[i % 2]}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("rows,args,message", [
    (_rows(time=lambda i: "soon" if i == 3 else 10 + i), (), "time column 'days' must be numeric, found text 'soon'"),
    (_rows(time=lambda i: 0 if i == 5 else 10 + i), (), "survival times must be positive, found 0 (row 6)"),
    (_rows(event=lambda i: 0), (), "no events"),
    (_rows(event=lambda i: 2), (), "must hold 1 (event) or 0 (censored), found 2"),
    (_rows(), ("--time-col", "T"), "no time column 'T'; columns are days, dead, age, arm"),
    (_rows(), ("--drop-cols", "bmi"), "unknown columns ['bmi']"),
    (_rows(n=8), (), "events among"),
], ids=["text-time", "zero-time", "no-events", "event-2", "unknown-time-col", "unknown-drop-col", "too-small"])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, rows, args, message):
    path = _csv(tmp_path, rows)
    code = main(["run", "survival", "--quick", "--quiet", "--dataset", "file", "--data-file", path,
                 "--time-col", "days", "--event-col", "dead", "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_user_csv_with_categorical_and_missing_covariates_runs(tmp_path):
    path = _csv(tmp_path, _rows(n=120))
    out, m = _run(tmp_path, "csv", "--dataset", "file", "--data-file", path, "--time-col", "days", "--event-col",
                  "dead", "--cv-repeats", "0", "--epochs", "5")
    assert set(m["model_info"]["linear_cox"]["hazard_ratio_per_sd"]) == {"age", "arm=B"}


def test_image_cox_cnn_learns_risk_from_lesion_images(tmp_path):
    _, m = _run(tmp_path, "images", "--dataset", "phantom-images")
    assert m["training"] == {"epochs": 2, "batch_size": 64, "lr": 0.002, "width": 8}  # the image defaults
    assert m["network"] == "image Cox CNN (VGG-style)" and m["cross_validation"] is None
    # radius and malignant look set the hazard; a flipped score would rank at about 0.35
    assert m["test"]["network"]["c_index"] > 0.55 and m["test"]["linear_cox"]["c_index"] > 0.6
