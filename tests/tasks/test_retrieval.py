"""Content-based retrieval: cosine ranking, precision@k and mAP by definition, and medgrad retrieve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.retrieval import cosine_ranking, retrieval_metrics


def test_cosine_ranking_orders_by_angle_not_length():
    index = np.array([[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    order, sim = cosine_ranking(np.array([[1.0, 1.2]]), index)
    assert order[0].tolist() == [2, 1, 0]  # (10, 10) is the farthest point but the closest direction
    norm = np.hypot(1, 1.2)
    np.testing.assert_allclose(sim[0], [1 / norm, 1.2 / norm, 2.2 / norm / np.sqrt(2)])


def test_precision_and_average_precision_by_hand():
    # one query of class 1; ranked labels 1, 0, 1, 0: AP = (1/1 + 2/3) / 2
    order = np.array([[0, 1, 2, 3]])
    m = retrieval_metrics(order, np.array([1]), np.array([1, 0, 1, 0]), ks=(1, 2))
    assert m["precision_at_1"] == 1.0 and m["precision_at_2"] == 0.5
    assert m["map"] == pytest.approx((1 + 2 / 3) / 2) and m["map_per_class"] == {1: pytest.approx(5 / 6)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tasks.cli import main

    out = tmp_path_factory.mktemp("retrieval") / "run"
    assert main(["run", "classification", "--quiet", "--out", str(out), "--model", "vgg", "--n-samples", "1500",
                 "--irregularity", "3", "--epochs", "5"]) == 0
    return out


def test_network_embeddings_retrieve_the_same_class_better_than_pixels(run, tmp_path, capsys):
    from tasks.cli import main

    assert main(["retrieve", str(run), "--k", "5", "--test-index", "3"]) == 0
    m = json.loads((run / "retrieval" / "metrics.json").read_text())
    net, pixels = m["test"]["network"], m["test"]["pixels"]
    # measured (seed 0): mAP 0.970 with the network's features, 0.562 with raw pixels
    assert net["map"] > 0.9 and pixels["map"] < 0.7, (net["map"], pixels["map"])
    assert net["map_ci"][0] <= net["map"] <= net["map_ci"][1] and len(m["neighbours"]) == 5
    assert (run / "retrieval" / "neighbours.png").is_file()
    image = tmp_path / "q.npy"
    np.save(image, np.random.default_rng(0).random((28, 28)).astype(np.float32))
    assert main(["retrieve", str(run), "--query", str(image), "--k", "3"]) == 0
    assert json.loads((run / "retrieval" / "metrics.json").read_text())["query"] == str(image)


@pytest.mark.parametrize("args,message", [
    (["--query", "missing.png"], "--query missing.png: no such file"),
    (["--test-index", "-1"], "--test-index must be in 0.."),
    (["--k", "0"], "--k must be between 1 and"),
])
def test_bad_retrieval_options_exit_2(run, capsys, args, message):
    from tasks.cli import main

    assert main(["retrieve", str(run), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_query_of_the_wrong_shape_exits_2(run, tmp_path, capsys):
    from tasks.cli import main

    volume = tmp_path / "v.npy"
    np.save(volume, np.zeros((4, 8, 8, 8), np.float32))
    assert main(["retrieve", str(run), "--query", str(volume)]) == 2
    assert "does not fit this run's 1-channel 2D images" in capsys.readouterr().err


def test_an_autoencoder_run_retrieves_by_its_codes(tmp_path):
    from tasks.cli import main

    out = tmp_path / "codes"
    assert main(["run", "codes", "--quick", "--quiet", "--out", str(out)]) == 0
    assert main(["retrieve", str(out), "--k", "3"]) == 0
    m = json.loads((out / "retrieval" / "metrics.json").read_text())
    assert set(m["test"]) == {"autoencoder", "pixels"} and len(m["neighbours"]) == 3
