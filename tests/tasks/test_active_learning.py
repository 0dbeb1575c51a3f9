"""medgrad run active-learning: acquisition functions by definition, and the labelling loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.active_learning import acquisition_scores, entropy, labels_to_reach, seed_set
from tasks.cli import main


def test_acquisition_functions_by_definition():
    # two MC samples of three images: image 0 confident and agreed, image 1 ambiguous but agreed,
    # image 2 confident in each sample but the samples disagree
    mc = np.array([[[0.95, 0.05], [0.5, 0.5], [0.95, 0.05]],
                   [[0.95, 0.05], [0.5, 0.5], [0.05, 0.95]]])
    rng = np.random.default_rng(0)
    ent = acquisition_scores("entropy", mc, rng)
    np.testing.assert_allclose(ent, entropy(mc.mean(0)))
    assert ent[1] == pytest.approx(np.log(2)) and ent[2] == pytest.approx(np.log(2)) and ent[0] < 0.3
    margin = acquisition_scores("margin", mc, rng)
    np.testing.assert_allclose(margin, [-0.9, 0.0, 0.0])
    bald = acquisition_scores("bald", mc, rng)
    # BALD separates what entropy cannot: disagreement (image 2) over mere ambiguity (image 1)
    assert bald[2] > 0.4 and abs(bald[1]) < 1e-12 and abs(bald[0]) < 1e-12
    assert acquisition_scores("random", mc, rng).shape == (3,)
    with pytest.raises(ValueError, match="unknown strategy 'coreset'"):
        acquisition_scores("coreset", mc, rng)


def test_seed_sets_are_stratified_and_the_target_is_read_off_the_curve():
    y = np.array([0] * 80 + [1] * 20)
    s = seed_set(y, 10, np.random.default_rng(0))
    assert np.bincount(y[s]).tolist() == [8, 2]
    assert labels_to_reach([[10, 0.6], [20, 0.81], [30, 0.79]], 0.8) == 20
    assert labels_to_reach([[10, 0.6]], 0.8) is None


def test_the_loop_labels_the_requested_images_and_resumes(tmp_path):
    out = tmp_path / "r"
    args = ["run", "active-learning", "--quiet", "--out", str(out), "--n-samples", "300", "--initial", "10",
            "--query", "10", "--rounds", "2", "--updates", "30", "--strategies", "random,bald", "--mc-samples", "3",
            "--seeds", "1"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert list(m["test"]) == ["random", "bald"]
    for row in m["test"].values():
        assert row["labels"] == [10, 20, 30] and len(row["auc"]) == 3
    progress = json.loads((out / "progress.json").read_text())
    labelled = progress["bald:0"]["labelled"]
    assert len(labelled) == 30 and len(set(labelled)) == 30
    # both strategies start from the same seed set of 10 and then choose differently
    assert len(set(labelled) & set(progress["random:0"]["labelled"])) >= 10
    assert set(labelled) != set(progress["random:0"]["labelled"])
    # a resumed run redoes nothing finished: a planted value survives
    progress["bald:0"]["curve"][2][1] = 0.123
    (out / "progress.json").write_text(json.dumps(progress))
    (out / "metrics.json").unlink()
    assert main(["run", "active-learning", "--quiet", "--resume", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["test"]["bald"]["auc_per_seed"][0][2] == 0.123


@pytest.mark.parametrize("args,message", [
    (["--strategies", "entropy,coreset"], "--strategies must name some of random, entropy, margin, bald"),
    (["--initial", "200", "--rounds", "10", "--query", "50"], "labels, but the training split has only"),
])
def test_bad_settings_exit_2(tmp_path, capsys, args, message):
    assert main(["run", "active-learning", "--quick", "--quiet", "--out", str(tmp_path / "r"), *args]) == 2
    assert message in capsys.readouterr().err
