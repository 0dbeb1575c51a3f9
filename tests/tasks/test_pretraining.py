"""medgrad run pretraining: the label-efficiency curve, its statistics, and resuming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from tasks.cli import main
from tasks.pretraining import labelled_subset, parse_fractions, t_interval


def test_labelled_subsets_are_stratified_with_at_least_two_per_class():
    y = np.array([0] * 90 + [1] * 10)
    idx = labelled_subset(y, 0.1, np.random.default_rng(0))
    assert np.bincount(y[idx]).tolist() == [9, 2]  # 10% of 90, and the minimum of 2 for the rare class
    assert len(np.unique(idx)) == len(idx) and np.all(np.diff(idx) > 0)
    assert len(labelled_subset(y, 1.0, np.random.default_rng(0))) == 100


def test_t_interval_by_its_definition():
    low, high = t_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # sd = 1
    assert low == pytest.approx(2 - half) and high == pytest.approx(2 + half)
    assert t_interval([0.5]) is None


def test_fractions_are_parsed_and_sorted():
    assert parse_fractions("1, 0.1,0.01,0.1") == [0.01, 0.1, 1.0]


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1", "abc", ""])
def test_a_fraction_outside_0_1_exits_2(tmp_path, capsys, value):
    code = main(["run", "pretraining", "--quick", "--quiet", "--fractions", value, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "--fractions" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_curve_and_a_resumed_run(tmp_path):
    out = tmp_path / "r"
    args = ["run", "pretraining", "--quiet", "--out", str(out), "--n-samples", "400", "--seeds", "2",
            "--fractions", "0.1,1", "--pretrain-updates", "200", "--finetune-updates", "200", "--hidden", "64,16",
            "--irregularity", "3"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder_sizes"] == [784, 64, 16] and m["seeds"] == [0, 1]
    table = m["test"]
    assert set(table) == {"0.1", "1.0"}
    full = table["1.0"]
    assert full["n_labelled"] == [280, 280]
    # with all labels, both networks and the baseline separate the phantoms (measured 0.77-0.80)
    for method in ("pretrained", "random", "logreg"):
        assert full[f"{method}_auc"] > 0.7, (method, full)
        low, high = full[f"{method}_auc_ci"]
        assert low <= full[f"{method}_auc"] <= high
    gain = np.subtract(full["pretrained_auc_per_seed"], full["random_auc_per_seed"])
    assert full["auc_gain"] == pytest.approx(gain.mean())
    assert (out / "figures" / "label_efficiency.png").is_file()

    # an interrupted run: a finished (seed, fraction) is kept, not redone
    progress = json.loads((out / "progress.json").read_text())
    assert set(progress) == {"0:0.1", "0:1.0", "1:0.1", "1:1.0"}
    progress["1:1.0"]["pretrained"]["auc"] = 0.123
    (out / "progress.json").write_text(json.dumps(progress))
    (out / "metrics.json").unlink()
    assert main(["run", "pretraining", "--quiet", "--resume", str(out)]) == 0
    resumed = json.loads((out / "metrics.json").read_text())["test"]["1.0"]
    assert resumed["pretrained_auc_per_seed"][1] == 0.123
