"""medgrad sweep: the spec's checks, the search methods' schedules, resuming, and a real sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.cli import main
from tasks.sweep import Sweep, grid, halving_rungs, hyperband_brackets, load_spec, sample

SPACE = {"lr": {"log_uniform": [1e-4, 1e-2]}, "width": {"choice": [8, 16]}, "batch_size": {"int": [16, 64]}}


def write_spec(tmp_path, **changes):
    spec = {"experiment": "classification", "fixed": {"n_samples": 200}, "space": SPACE, "metric": "val_auc",
            "method": "random", "trials": 3, **changes}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("name", ["lesions_vgg.json", "lesions_early_stop.json"])
def test_the_shipped_example_specs_are_valid(name):
    from pathlib import Path

    spec = load_spec(Path(__file__).resolve().parents[2] / "tasks" / "sweeps" / name)
    assert spec["metric"] == "val_auc" and spec["fixed"]["dataset"] == "lesions"
    assert spec["method"] == "hyperband" or spec["early_termination"]["verify"] is True


def test_hyperband_brackets_follow_li_et_al():
    # max/min = 9, eta = 3: s_max = 2; bracket 2 starts 9 configurations at budget 1, bracket 0 runs 3 at 9
    assert hyperband_brackets(1, 9, 3) == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    assert hyperband_brackets(1, 27, 3)[0] == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert halving_rungs(8, 1, 8, 2) == [(8, 1), (4, 2), (2, 4), (1, 8)]


def test_sampling_and_grid_stay_in_the_space():
    rng = np.random.default_rng(0)
    draws = [sample(SPACE, rng) for _ in range(200)]
    lrs = np.array([d["lr"] for d in draws])
    assert 1e-4 <= lrs.min() and lrs.max() <= 1e-2 and np.mean(lrs < 1e-3) == pytest.approx(0.5, abs=0.1)  # log scale
    assert {d["width"] for d in draws} == {8, 16} and all(isinstance(d["batch_size"], int) for d in draws)
    combos = grid(SPACE, points=3)
    assert len(combos) == 3 * 2 * 3 and sorted({c["lr"] for c in combos}) == pytest.approx([1e-4, 1e-3, 1e-2])


def test_successive_halving_keeps_the_best_and_reports_the_best_at_full_budget(tmp_path):
    spec = load_spec(write_spec(tmp_path, method="halving", trials=9,
                                budget={"option": "epochs", "min": 1, "max": 9, "eta": 3}))
    calls = []

    def objective(spec, quick, params, budget, folder, best):  # a stand-in: higher lr is better, more epochs help
        calls.append((round(params["lr"], 6), budget["epochs"]))
        return params["lr"] * 100 + budget["epochs"] / 100

    result = Sweep(spec, tmp_path / "sweep", objective=objective).run()
    budgets = [b for _, b in calls]
    assert budgets.count(1) == 9 and budgets.count(3) == 3 and budgets.count(9) == 1
    first_rung = sorted((lr for lr, b in calls if b == 1), reverse=True)
    assert sorted((lr for lr, b in calls if b == 3), reverse=True) == first_rung[:3]  # the best third goes on
    assert result["best"]["epochs"] == 9 and round(result["best"]["lr"], 6) == first_rung[0]
    best_config = json.loads((tmp_path / "sweep" / "best_config.json").read_text())
    assert best_config["epochs"] == 9 and best_config["n_samples"] == 200
    assert (tmp_path / "sweep" / "results.md").read_text().count("\n") == 2 + 13


@pytest.mark.parametrize("changes,message", [
    ({"experiment": "nonsense"}, "unknown experiment 'nonsense'"),
    ({"space": {"learning_rate": {"choice": [1]}}}, "has no option 'learning_rate'"),
    ({"space": {}}, "the search space is empty"),
    ({"metric": "test_auc"}, "metric must be a validation metric"),
    ({"space": {"lr": {"log_uniform": [0, 1]}}}, "log_uniform needs [low, high] with low < high and low > 0"),
    ({"method": "bayesian"}, "method must be one of grid, random, halving, hyperband"),
    ({"method": "hyperband"}, "hyperband needs budget"),
    ({"early_termination": {"threshold": 2}}, "early_termination threshold must be in (0, 1)"),
    ({"early_termination": {"patience": 2}}, "early_termination must be true or"),
    ({"cv": {"folds": 1}}, "cv must be"),
    ({"cv": {"folds": 3}, "early_termination": True}, "cv and early_termination cannot be combined"),
    ({"cv": {"folds": 3}, "experiment": "segmentation", "space": {"lr": {"choice": [1]}}},
     "experiment 'segmentation' has no --cv-folds/--fold options"),
])
def test_bad_specs_exit_2(tmp_path, capsys, changes, message):
    if changes.get("experiment") == "segmentation":
        changes["fixed"] = {}
    assert main(["sweep", str(write_spec(tmp_path, **changes)), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_real_grid_sweep_runs_trials_as_run_folders_and_resumes(tmp_path, capsys):
    spec = write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.002, 0.02]}},
                      fixed={"n_samples": 200, "model": "mlp", "epochs": 2})
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--quick"]) == 0
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0] == "trial,lr,val_auc,status,epochs_run,reason,folder" and len(rows) == 3
    assert [r.split(",")[3:5] for r in rows[1:]] == [["completed", "2"]] * 2
    assert (out / "score_vs_hyperparameters.png").is_file() and (out / "learning_curves.png").is_file()
    trial = out / "trials" / "trial000"
    assert json.loads((trial / "config.json").read_text())["lr"] == 0.002
    first = (trial / "metrics.json").stat().st_mtime_ns
    assert main(["sweep", str(spec), "--out", str(out), "--quick"]) == 0  # resumed: nothing rerun
    assert (trial / "metrics.json").stat().st_mtime_ns == first
    other = write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.5]}})
    assert main(["sweep", str(other), "--out", str(out)]) == 2
    assert "holds a sweep with another spec" in capsys.readouterr().err


def test_two_workers_give_the_same_results_as_one(tmp_path):
    spec = write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.002, 0.02]}},
                      fixed={"n_samples": 200, "model": "mlp", "epochs": 2})
    assert main(["sweep", str(spec), "--out", str(tmp_path / "one"), "--quick"]) == 0
    assert main(["sweep", str(spec), "--out", str(tmp_path / "two"), "--quick", "--workers", "2"]) == 0
    one, two = ((tmp_path / d / "results.csv").read_text().splitlines() for d in ("one", "two"))
    # seeded trials: the same configurations and, up to the summation order of a different number of BLAS
    # threads per process, the same scores
    assert [r.split(",")[:2] for r in one] == [r.split(",")[:2] for r in two]
    for a, b in zip(one[1:], two[1:]):
        assert abs(float(a.split(",")[2]) - float(b.split(",")[2])) < 0.01
    assert main(["sweep", str(spec), "--out", str(tmp_path / "bad"), "--workers", "0"]) == 2


def test_learning_curve_termination_stops_a_hopeless_trial_and_verifies_the_best(tmp_path):
    # grid order: the good learning rate finishes first and sets the score to beat; lr 1e-6 barely moves
    spec = load_spec(write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.003, 1e-6]}},
                                fixed={"n_samples": 200, "model": "mlp", "epochs": 10},
                                early_termination={"verify": True}))
    result = Sweep(spec, tmp_path / "sweep", quick=True).run()
    good, slow = sorted(result_rows(tmp_path / "sweep"), key=lambda r: -float(r["lr"]))
    assert good["status"] == "completed" and good["epochs_run"] == "10"
    assert slow["status"] == "stopped" and 4 <= int(slow["epochs_run"]) < 10
    assert "learning curve: P(beat" in slow["reason"]
    summary = result["early_termination"]
    assert summary["stopped"] == 1 and summary["epochs_if_all_run_to_the_end"] == 20
    assert summary["epochs_run"] == 10 + int(slow["epochs_run"])
    check = summary["verification"]
    full = json.loads((tmp_path / "sweep" / "trials" / "trial001-full" / "trial.json").read_text())
    assert full["epochs_run"] == 10 and check["their_final_scores"]["trials/trial001-full"] == full["score"]
    assert check["best_changed"] is (full["score"] > float(good["val_auc"]))
    assert result["best"]["lr"] == 0.003
    md = (tmp_path / "sweep" / "results.md").read_text()
    assert "**Stopped trials run to the end**" in md and "trials/trial001-full" in md
    assert (tmp_path / "sweep" / "learning_curves.png").is_file()
    assert sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) == ["trial000", "trial001",
                                                                                 "trial001-full"]


def test_a_metric_the_runs_do_not_log_per_epoch_is_reported_as_not_watched(tmp_path):
    spec = load_spec(write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.003, 0.001]}},
                                fixed={"n_samples": 200, "model": "mlp", "epochs": 5},
                                metric="val_balanced_accuracy", early_termination=True))
    Sweep(spec, tmp_path / "sweep", quick=True).run()
    first, second = result_rows(tmp_path / "sweep")
    assert first["status"] == second["status"] == "completed" and second["epochs_run"] == "5"
    assert second["reason"] == "not watched: the run logs no val_balanced_accuracy per epoch"


def test_cross_validated_trials_score_the_mean_over_folds(tmp_path):
    spec = load_spec(write_spec(tmp_path, method="grid", space={"lr": {"choice": [0.003]}},
                                fixed={"n_samples": 200, "model": "mlp", "epochs": 1}, cv={"folds": 3}))
    Sweep(spec, tmp_path / "sweep", quick=True).run()
    (row,) = result_rows(tmp_path / "sweep")
    trial = tmp_path / "sweep" / "trials" / "trial000"
    scores = [json.loads((trial / f"fold{i}" / "metrics.json").read_text())["val"]["auc"] for i in (1, 2, 3)]
    assert json.loads((trial / "fold2" / "config.json").read_text())["fold"] == 2
    assert float(row["val_auc"]) == pytest.approx(np.mean(scores))
    assert float(row["val_auc_sd"]) == pytest.approx(np.std(scores, ddof=1))
    assert len(set(scores)) > 1  # the folds differ: three validation sets, not one


def result_rows(out):
    import csv

    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_a_trial_killed_after_a_checkpoint_continues_from_it(tmp_path):
    from tasks.sweep_trial import run_trial

    spec = load_spec(write_spec(tmp_path, fixed={"n_samples": 200, "model": "mlp", "epochs": 2}))
    folder = tmp_path / "trial000"
    first = run_trial(spec, True, {"lr": 0.003, "width": 8, "batch_size": 32}, {}, folder)
    # as if killed after the last checkpoint but before the run's metrics and the trial's record were written
    (folder / "trial.json").unlink()
    (folder / "metrics.json").unlink()
    again = run_trial(spec, True, {"lr": 0.003, "width": 8, "batch_size": 32}, {}, folder)
    assert again["epochs_run"] == 2 and again["score"] == pytest.approx(first["score"])  # resumed, not retrained
    assert (folder / "trial.json").is_file()
    # killed before any checkpoint: the half-made folder is started again
    for child in list(folder.iterdir()):
        if child.name != "config.json":
            __import__("shutil").rmtree(child) if child.is_dir() else child.unlink()
    third = run_trial(spec, True, {"lr": 0.003, "width": 8, "batch_size": 32}, {}, folder)
    assert third["score"] == pytest.approx(first["score"]) and third["epochs_run"] == 2
