"""Graded lesions and response pairs: contracts, balance, and that the ground truth is in the pixels."""

from __future__ import annotations

import numpy as np

from tasks.data.phantoms.graded_lesions import make_graded_lesion_dataset, make_response_pairs
from tasks.features import extract_features, shape_features


def test_graded_lesions_contract_and_determinism():
    d = make_graded_lesion_dataset(80, n_grades=4, seed=1)
    assert d["images"].shape == (80, 1, 28, 28) and d["images"].dtype == np.float32
    assert np.bincount(d["grades"]).tolist() == [20, 20, 20, 20]
    assert d["images"].min() >= 0 and d["images"].max() <= 1
    assert (d["irregularity"][d["grades"] == 0] == 0).all()
    again = make_graded_lesion_dataset(80, n_grades=4, seed=1)
    np.testing.assert_array_equal(d["images"], again["images"])


def test_grade_is_in_the_boundary_not_in_the_size():
    d = make_graded_lesion_dataset(400, n_grades=4, seed=0)
    g = d["grades"]
    strength = np.array([d["irregularity"][g == k].mean() for k in range(4)])
    assert np.all(np.diff(strength) > 0.1)  # irregularity rises with the grade
    area = d["masks"].sum((1, 2))
    # an irregular boundary makes the mask less compact: circularity falls with the grade
    circularity = shape_features(d["masks"])["circularity"]  # 4 pi area / perimeter^2, 1 for a disc
    per_grade = [np.median(circularity[g == k]) for k in range(4)]
    assert np.all(np.diff(per_grade) < 0), per_grade
    assert np.ptp([area[g == k].mean() for k in range(4)]) < 0.15 * area.mean()  # sizes match across grades


def test_response_pairs_change_only_for_responders():
    r = make_response_pairs(200, seed=0)
    assert r["baseline"].shape == r["followup"].shape == (200, 1, 32, 32)
    assert r["response"].sum() == 100
    resp = r["response"] == 1
    assert (r["radius_ratio"][resp] <= 0.97).all() and (r["radius_ratio"][~resp] >= 0.85).all()
    assert r["radius_ratio"][resp].mean() < r["radius_ratio"][~resp].mean() - 0.1
    # the lesion's mean brightness falls for responders, stays for non-responders
    change = r["followup"].mean((1, 2, 3)) - r["baseline"].mean((1, 2, 3))
    assert change[resp].mean() < -0.01 and abs(change[~resp].mean()) < 0.006  # non-responders: -15%..+10% size
    feats, _ = extract_features(r["baseline"][:4])
    assert np.isfinite(feats).all()
