"""medgrad study data-size | imbalance: learning curves and imbalance remedies, measured honestly."""

from __future__ import annotations

import json

import pytest

from tasks.cli import main

EASY = ["--n-samples", "600", "--irregularity", "6", "--epochs", "10", "--seeds", "1", "--model", "mlp",
        "--updates", "30"]


def test_more_training_data_gives_a_better_model(tmp_path):
    out = tmp_path / "r"
    assert main(["study", "data-size", "--quiet", "--out", str(out), *EASY, "--fractions", "0.1,1",
                 "--augmentation", "off"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    t = m["test"]
    assert set(t) == {"0.1 plain", "1 plain"} and m["train_size"] == 420
    # measured (seed 0): test AUC 0.706 with 42 training images, 0.848 with 420
    assert t["1 plain"]["auc"] > t["0.1 plain"]["auc"] + 0.08, t
    # at least --updates 30 steps: 42 images are one batch, so 30 epochs; 420 images (7 batches) keep --epochs 10
    history = (out / "trainings" / "fraction0.1-plain-seed0" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 30
    assert len((out / "trainings" / "fraction1-plain-seed0" / "history.csv").read_text().splitlines()) == 1 + 10
    assert (out / "trainings" / "fraction0.1-plain-seed0" / "checkpoints" / "best.npz").is_file()
    assert (out / "figures" / "learning_curve.png").is_file()


def test_a_weighted_loss_rescues_balanced_accuracy_at_10_to_1(tmp_path):
    out = tmp_path / "r"
    assert main(["study", "imbalance", "--quiet", "--out", str(out), *EASY, "--ratios", "10",
                 "--remedies", "none,weighted"]) == 0
    t = json.loads((out / "metrics.json").read_text())["test"]
    # measured (seed 0): balanced accuracy 0.500 without a remedy (every image called benign), 0.678 weighted
    assert t["10:1 none"]["balanced_accuracy"] < 0.6 < t["10:1 weighted"]["balanced_accuracy"], t
    assert t["10:1 weighted"]["pr_auc"] > t["10:1 none"]["pr_auc"]


@pytest.mark.parametrize("argv,message", [
    (["study"], "medgrad study: name a study: data-size or imbalance"),
    (["study", "sizes"], "unknown experiment 'study-sizes'"),
    (["study", "data-size", "--fractions", "0,0.5"], "--fractions: comma-separated numbers in (0, 1]"),
    (["study", "imbalance", "--ratios", "0.5"], "--ratios: comma-separated numbers in [1, 1000]"),
    (["study", "imbalance", "--remedies", "smote"], "--remedies must name some of none, weighted, balanced, focal"),
])
def test_bad_study_commands_exit_2(tmp_path, capsys, argv, message):
    assert main([*argv, "--quick", "--quiet", "--out", str(tmp_path / "r")] if len(argv) > 1 else argv) == 2
    assert message in capsys.readouterr().err
