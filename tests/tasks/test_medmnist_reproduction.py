"""Reproduction of the MedMNIST v2 benchmark (ResNet-18 at 28x28) on the real data.

Long runs (tens of minutes on a 2-core CPU): marked slow, so `pytest` skips them; run them
with `pytest -m slow tests/tasks/test_medmnist_reproduction.py`. The commands are the ones in
the README's results section; the thresholds are the published test AUC/ACC (Yang et al. 2023).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.cli import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "medmnist"
PUBLISHED = {"breastmnist": (0.901, 0.863), "pneumoniamnist": (0.944, 0.854)}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(PUBLISHED))
def test_resnet18_reaches_the_published_test_metrics(dataset, tmp_path):
    if not (SHARED / f"{dataset}.npz").is_file():
        pytest.skip(f"{dataset}.npz not in ../shared/data/medmnist")
    out = tmp_path / dataset
    # the settings measured in the README
    epochs, batch = ("60", "64") if dataset == "breastmnist" else ("6", "128")
    assert main(["run", "classification", "--dataset", dataset, "--data-dir", str(SHARED), "--model", "resnet18",
                 "--epochs", epochs, "--batch-size", batch, "--lr", "1e-3", "--augment", "--quiet",
                 "--out", str(out)]) == 0
    test = json.loads((out / "metrics.json").read_text())["test"]
    auc, acc = PUBLISHED[dataset]
    assert test["auc"] >= auc and test["acc"] >= acc, test
