"""The grading experiment end to end on graded lesion phantoms (full runs: README and the slow test)."""

from __future__ import annotations

import json

import pytest

from tasks.cli import main


def _run(tmp_path, name, *args, quick=True):
    out = tmp_path / name
    code = main(["run", "grading", *(["--quick"] if quick else []), "--quiet", "--out", str(out), *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("loss", ["coral", "cumulative", "ce"])
def test_every_loss_runs_and_reports_ordinal_metrics(tmp_path, loss):
    out, m = _run(tmp_path, loss, "--loss", loss, "--n-samples", "200", "--epochs", "1", "--width", "4")
    for model in ("network", "baseline"):
        t = m["test"][model]
        assert set(t) >= {"qwk", "qwk_ci", "mae", "mae_ci", "acc", "acc_ci", "auc", "auc_ci"}
        assert t["n"] == m["split_sizes"]["test"] == 28
    # the radiomics baseline reads the boundary: a real grading level even on 144 training images
    assert m["test"]["baseline"]["qwk"] > 0.3 and m["test"]["baseline"]["mae"] < 1.1
    assert (out / "figures" / "confusion_matrix.png").is_file()


def test_user_folder_grades_must_be_integers(tmp_path, capsys):
    import numpy as np

    root = tmp_path / "folder"
    (root / "images").mkdir(parents=True)
    lines = ["file,label"]
    for i in range(12):
        np.save(root / "images" / f"{i}.npy", np.random.default_rng(i).random((16, 16)).astype(np.float32))
        lines.append(f"{i}.npy,{'low' if i % 2 else 'high'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    code = main(["run", "grading", "--quick", "--quiet", "--dataset", str(root), "--out", str(tmp_path / "r")])
    assert code == 2 and "grades must be integers" in capsys.readouterr().err


@pytest.mark.slow
def test_default_run_network_beats_chance_and_reports_against_baseline(tmp_path):
    _, m = _run(tmp_path, "full", quick=False)
    assert m["test"]["network"]["qwk"] > 0.5
