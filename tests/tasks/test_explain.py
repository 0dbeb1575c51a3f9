"""medgrad explain RUN_DIR: maps, sanity checks and faithfulness of a saved classification run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    from tasks.cli import main

    out = tmp_path_factory.mktemp("explain") / "run"
    assert main(["run", "classification", "--quiet", "--out", str(out), "--model", "lenet5", "--n-samples", "300",
                 "--irregularity", "3", "--epochs", "3"]) == 0
    return out


def test_medgrad_explain_writes_maps_and_checks(lenet_run, capsys):
    import json

    from tasks.cli import main

    assert main(["explain", str(lenet_run), "--method", "grad_cam", "--n", "6"]) == 0
    printed = capsys.readouterr().out
    assert "grad_cam" in printed and "model randomisation" in printed
    m = json.loads((lenet_run / "explain" / "metrics.json").read_text())
    assert list(m["methods"]) == ["grad_cam"] and len(m["cases"]) == 6
    sanity = m["methods"]["grad_cam"]["sanity"]
    assert sanity["layers"][0] == "classifier.5" and len(sanity["correlation"]) == len(sanity["layers"])
    assert 0 <= m["methods"]["grad_cam"]["deletion_auc"] <= 1 and m["layer"] == "features.3"
    assert (lenet_run / "explain" / "maps.png").is_file()


@pytest.mark.parametrize("args,message", [
    (["--layer", "features.99"], "--layer 'features.99': no such layer; layers: features, features.0"),
    (["--method", "saliency,shap"], "--method must be all or some of saliency"),
    (["--n", "1"], "--n must be at least 2"),
])
def test_bad_explain_options_exit_2(lenet_run, capsys, args, message):
    from tasks.cli import main

    assert main(["explain", str(lenet_run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_runs_that_cannot_be_explained_exit_2(tmp_path, capsys):
    from tasks.cli import main

    assert main(["explain", str(tmp_path)]) == 2
    assert "not a run folder (no config.json)" in capsys.readouterr().err
    seq = tmp_path / "seq"
    assert main(["run", "sequence", "--quick", "--quiet", "--out", str(seq)]) == 0
    assert main(["explain", str(seq)]) == 2
    assert "this needs a classification run (retrieval also reads codes runs); this is a 'sequence' run" in \
        capsys.readouterr().err
    knn = tmp_path / "knn"
    assert main(["run", "classification", "--quick", "--quiet", "--model", "knn", "--out", str(knn)]) == 0
    assert main(["explain", str(knn)]) == 2
    assert "a knn baseline has no gradients" in capsys.readouterr().err


def test_label_randomization_trains_on_permuted_labels(lenet_run, capsys):
    import json

    from tasks.cli import main

    assert main(["explain", str(lenet_run), "--method", "saliency,gradient_x_input", "--n", "4",
                 "--label-randomization"]) == 0
    assert "label randomisation" in capsys.readouterr().out
    m = json.loads((lenet_run / "explain" / "metrics.json").read_text())
    assert list(m["methods"]) == ["saliency", "gradient_x_input"]
    for r in m["methods"].values():
        c = r["label_randomization"]["correlation"]
        assert -1 <= c <= 1 and r["label_randomization"]["passes"] == (c < 0.5)
