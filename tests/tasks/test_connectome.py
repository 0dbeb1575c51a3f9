"""The connectome experiment end to end: planted sub-network phantoms, class outcome, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.cli import main


def _run(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["run", "connectome", "--quick", "--quiet", "--out", str(out), *args]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_score_outcome_models_find_the_planted_subnetwork(tmp_path):
    out, m = _run(tmp_path, "score")
    net, base = m["test"]["network"], m["test"]["baseline"]
    assert base["pearson_r"] > 0.5  # ridge on the upper triangle; corr(latent, score) is 0.89 at best
    assert net["pearson_r"] > 0.2 and net["pearson_r_ci"][0] <= net["pearson_r"] <= net["pearson_r_ci"][1]
    # the edges the trained models lean on are the planted ones (AUC 0.5 = no better than chance)
    assert m["planted_edge_auc"]["network_saliency"] > 0.65 and m["planted_edge_auc"]["baseline_coefficients"] > 0.8
    assert (out / "figures" / "edge_saliency.png").is_file()


def test_class_outcome_reports_auc(tmp_path):
    _, m = _run(tmp_path, "class", "--outcome", "class")
    assert m["test"]["baseline"]["auc"] > 0.7 and "auc_ci" in m["test"]["network"]


def _npz(tmp_path, connectomes, scores):
    path = tmp_path / "cohort.npz"
    np.savez(path, connectomes=connectomes, scores=scores)
    return str(path)


@pytest.mark.parametrize("shape,scores,message", [
    ((30, 10, 9), 30, "connectomes must be square matrices (N, R, R), got shape (30, 10, 9)"),
    ((30, 10, 10), 29, "scores must be (30,), one per connectome"),
    ((10, 6, 6), 10, "too few to split"),
], ids=["not-square", "scores-length", "too-few"])
def test_bad_input_is_one_line(tmp_path, capsys, shape, scores, message):
    path = _npz(tmp_path, np.zeros(shape, np.float32), np.zeros(scores))
    code = main(["run", "connectome", "--quick", "--quiet", "--data-file", path, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
