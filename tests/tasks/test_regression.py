"""The regression experiment end to end: lesion diameters, and a user folder of numeric labels."""

from __future__ import annotations

import json

import numpy as np

from tasks.cli import main


def test_lesion_diameter_network_and_ridge_reach_real_levels(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "regression", "--quick", "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    ridge, net = m["test"]["baseline"], m["test"]["network"]
    # diameters span 4.5-17 px (std ~3.6): ridge on radiomics (area is among them) is nearly exact
    assert ridge["mae"] < 1.2 and ridge["pearson_r"] > 0.9
    assert net["pearson_r"] > 0.5  # two quick epochs already follow the size
    assert net["mae_ci"][0] <= net["mae"] <= net["mae_ci"][1]
    lo, hi = net["limits_of_agreement"]
    assert lo < net["bias"] < hi
    for name in ("predicted_vs_true.png", "bland_altman.png", "training_curves.png"):
        assert (out / "figures" / name).is_file()


def test_user_folder_needs_numeric_labels(tmp_path, capsys):
    root = tmp_path / "folder"
    (root / "images").mkdir(parents=True)
    lines = ["file,label"]
    for i in range(12):
        np.save(root / "images" / f"{i}.npy", np.random.default_rng(i).random((16, 16)).astype(np.float32))
        lines.append(f"{i}.npy,{'big' if i == 3 else i * 1.5}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    code = main(["run", "regression", "--quick", "--quiet", "--dataset", str(root), "--out", str(tmp_path / "o")])
    assert code == 2 and "line 5: regression labels must be numbers, found 'big'" in capsys.readouterr().err


def test_user_folder_with_continuous_labels_runs(tmp_path):
    # brightness as the target: 30 images, each label a distinct number (no stratification possible)
    root = tmp_path / "folder"
    (root / "images").mkdir(parents=True)
    lines = ["file,label"]
    rng = np.random.default_rng(0)
    for i in range(30):
        level = rng.uniform(0.2, 0.8)
        np.save(root / "images" / f"{i}.npy", (level + 0.05 * rng.random((16, 16))).astype(np.float32))
        lines.append(f"{i}.npy,{level * 100:.3f}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "o"
    assert main(["run", "regression", "--quick", "--quiet", "--dataset", str(root), "--size", "16", "--out",
                 str(out), "--backbone", "mlp"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert sum(m["split_sizes"].values()) == 30
