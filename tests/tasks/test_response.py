"""The treatment-response experiment: siamese CNN and radiomics-change baseline on phantom pairs."""

from __future__ import annotations

import json

import numpy as np

from tasks.cli import main


def test_response_pairs_both_models_detect_response(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "response", "--quick", "--quiet", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    net, base = m["test"]["network"], m["test"]["baseline"]
    assert base["auc"] > 0.8 and net["auc"] > 0.75  # a flipped score would give < 0.25
    assert net["auc_ci"][0] <= net["auc"] <= net["auc_ci"][1] and m["split_sizes"]["test"] == 36
    assert (out / "figures" / "roc_siamese.png").is_file()


def test_folder_pairs_need_both_visits(tmp_path, capsys):
    root = tmp_path / "pairs"
    for visit in ("baseline", "followup"):
        (root / visit).mkdir(parents=True)
    lines = ["file,label"]
    for i in range(12):
        np.save(root / "baseline" / f"{i}.npy", np.random.default_rng(i).random((16, 16)).astype(np.float32))
        if i != 4:
            np.save(root / "followup" / f"{i}.npy", np.random.default_rng(i).random((16, 16)).astype(np.float32))
        lines.append(f"{i}.npy,{i % 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    code = main(["run", "response", "--quick", "--quiet", "--dataset", str(root), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "line 6: followup/4.npy does not exist" in err
