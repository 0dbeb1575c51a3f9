"""medgrad run nuclei: sparse auto-encoder features for nucleus detection, against LoG."""

from __future__ import annotations

import json

import numpy as np

from tasks.cli import main
from tasks.nuclei import all_patches, local_maxima, match_detections, nucleus_centres


def test_nucleus_centres_are_instance_centroids_per_tile():
    inst = np.zeros((2, 6, 6), dtype=np.int32)
    inst[0, 1:3, 1:3] = 1  # centroid (1.5, 1.5)
    inst[0, 4, 2:5] = 2  # centroid (4, 3)
    inst[1, 0, 0] = 1
    tiles, centres = nucleus_centres(inst)
    assert tiles.tolist() == [0, 0, 1]
    np.testing.assert_allclose(centres, [[1.5, 1.5], [4.0, 3.0], [0.0, 0.0]])


def test_every_pixel_gets_the_patch_centred_on_it():
    img = np.random.default_rng(0).random((2, 3, 8, 9)).astype(np.float32)
    p = all_patches(img, 3)
    assert p.shape == (2 * 8 * 9, 27)
    # interior pixel (tile 1, row 4, col 5)
    np.testing.assert_array_equal(p[(1 * 8 + 4) * 9 + 5], img[1, :, 3:6, 4:7].ravel())
    # a corner pixel: the image edge is replicated
    padded = np.pad(img[0], [(0, 0), (1, 1), (1, 1)], mode="edge")
    np.testing.assert_array_equal(p[0], padded[:, 0:3, 0:3].ravel())


def test_one_detection_per_nucleus_counts_as_a_hit():
    centres = np.array([[10.0, 10.0], [30.0, 30.0]])
    tiles = np.zeros(2, int)
    det = np.array([[11.0, 10.0], [9.0, 9.0], [50.0, 50.0]])  # two on the first nucleus, one far away
    tp, fp, fn = match_detections(np.zeros(3, int), det, np.array([0.9, 0.8, 0.7]), tiles, centres, 4.0)
    assert (tp, fp, fn) == (1, 2, 1)
    assert match_detections(np.zeros(0, int), np.zeros((0, 2)), np.zeros(0), tiles, centres, 4.0) == (0, 0, 2)


def test_local_maxima_keep_one_peak_per_neighbourhood_above_the_threshold():
    m = np.zeros((1, 10, 10))
    m[0, 2, 2], m[0, 2, 3], m[0, 7, 7], m[0, 5, 0] = 0.9, 0.8, 0.6, 0.2
    tile, points, scores = local_maxima(m, 0.5, 1)
    assert tile.tolist() == [0, 0] and points.tolist() == [[2, 2], [7, 7]] and scores.tolist() == [0.9, 0.6]


def test_both_detectors_find_most_nuclei(tmp_path):
    out = tmp_path / "r"
    code = main(["run", "nuclei", "--quiet", "--out", str(out), "--n-tiles", "20", "--updates", "300",
                 "--bootstrap", "100"])
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    net, log = m["test"]["network"], m["test"]["log"]
    assert m["split_tiles"] == {"train": 12, "val": 4, "test": 4}
    assert net["tp"] + net["fn"] == log["tp"] + log["fn"] == m["n_nuclei_test"]
    # measured (seed 0): sparse auto-encoder F1 0.810, LoG 0.830
    assert net["f1"] > 0.7 and log["f1"] > 0.7, (net, log)
    # after 300 updates the units are on their way to the target 0.05 (measured 0.32; a free sigmoid sits at 0.5)
    assert 0.0 < m["feature_info"]["mean_activation"] < 0.4
    assert net["f1_ci"][0] <= net["f1"] <= net["f1_ci"][1]
    assert (out / "figures" / "test_detections.png").is_file()
