"""ASSD and per-class / per-case segmentation metrics with spacing, against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from tasks import metrics as M
from tasks.metrics.segmentation import _boundary


def _brute_force_distances(p, t, spacing):
    """Every boundary point against every boundary point (what the distance transform shortcuts)."""
    bp = np.argwhere(_boundary(p)) * spacing
    bt = np.argwhere(_boundary(t)) * spacing
    d = cdist(bp, bt)
    return d.min(1), d.min(0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 2.5), (1.5, 1.0, 0.5)])
def test_assd_matches_the_brute_force_definition(spacing):
    rng = np.random.default_rng(len(spacing) + int(10 * spacing[0]))
    shape = (24, 20) if len(spacing) == 2 else (10, 12, 9)
    from scipy import ndimage

    p = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    t = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    d_pt, d_tp = _brute_force_distances(p, t, np.array(spacing))
    assert M.assd(p, t, spacing) == pytest.approx(np.concatenate([d_pt, d_tp]).mean(), rel=1e-12)
    assert M.average_surface_distance(p, t, spacing, symmetric=False) == pytest.approx(d_pt.mean(), rel=1e-12)


def test_assd_by_hand_and_the_empty_mask_rules():
    a = np.zeros((12, 12), bool)
    a[2:6, 2:6] = True  # a 4x4 square
    b = np.roll(a, 3, axis=1)  # shifted by 3 columns: every boundary point is 0..3 away
    # by hand: boundary of a is 12 pixels; distances a->b: left column 3 (4 px), top/bottom rows at
    # columns 2,3,4 -> 1,1,0 ... easier: the two directions are mirror images, so ASSD = mean(d(a->b))
    d_ab, _ = _brute_force_distances(a, b, np.ones(2))
    assert M.assd(a, b) == pytest.approx(d_ab.mean())
    assert M.assd(a, a) == 0.0
    empty = np.zeros_like(a)
    assert M.assd(empty, empty) == 0.0
    assert M.assd(a, empty) == float("inf")


def test_per_class_metrics_agree_with_the_binary_functions():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    target = (ndimage.gaussian_filter(rng.random((3, 20, 24)), (0, 2, 2)) * 40).astype(int) % 3
    pred = target.copy()
    pred[:, :4] = 0  # remove the top rows: errors in classes 1 and 2
    pred[1] = np.where(pred[1] == 2, 0, pred[1])  # case 1 misses class 2 entirely
    spacing = (0.5, 2.0)
    out = M.per_class_metrics(pred, target, 3, metrics=("dice", "iou", "hd95", "hausdorff", "assd"), spacing=spacing)
    assert out["dice"].shape == (3, 2)
    for i in range(3):
        for k, c in enumerate((1, 2)):
            p, t = pred[i] == c, target[i] == c
            assert out["dice"][i, k] == pytest.approx(M.dice(p, t))
            assert out["iou"][i, k] == pytest.approx(M.iou(p, t))
            assert out["hd95"][i, k] == pytest.approx(M.hd95(p, t, spacing))
            assert out["hausdorff"][i, k] == pytest.approx(M.hausdorff_distance(p, t, spacing))
            assert out["assd"][i, k] == pytest.approx(M.assd(p, t, spacing))
    assert out["hd95"][1, 1] == float("inf") and out["dice"][1, 1] == 0.0
    capped = M.per_class_metrics(pred, target, 3, metrics=("hd95",), spacing=spacing, empty_distance=99.0)
    assert capped["hd95"][1, 1] == 99.0
    with_bg = M.per_class_metrics(pred, target, 3, metrics=("dice",), include_background=True)
    assert with_bg["dice"].shape == (3, 3) and with_bg["dice"][0, 0] == pytest.approx(M.dice(pred[0] == 0,
                                                                                               target[0] == 0))


def test_ignore_empty_gives_nan_where_the_reference_lacks_the_class():
    target = np.zeros((2, 8, 8), int)
    target[0, 2:5, 2:5] = 1
    pred = np.zeros_like(target)
    pred[0, 2:5, 2:6] = 1
    out = M.per_class_metrics(pred, target, 2, metrics=("dice", "hd95"))
    assert out["dice"][1, 0] == 1.0 and out["hd95"][1, 0] == 0.0  # nothing to find, nothing found
    ignored = M.per_class_metrics(pred, target, 2, metrics=("dice", "hd95"), ignore_empty=True)
    assert np.isnan(ignored["dice"][1, 0]) and np.isnan(ignored["hd95"][1, 0])
    assert ignored["dice"][0, 0] == pytest.approx(2 * 9 / (9 + 12))


def test_per_class_metrics_bad_input():
    with pytest.raises(ValueError, match=r"pred holds labels in \[3, 3\] outside \[0, 3\)"):
        M.per_class_metrics(np.full((1, 4, 4), 3), np.zeros((1, 4, 4), int), 3)
    with pytest.raises(ValueError, match="unknown metrics"):
        M.per_class_metrics(np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int), 2, metrics=("dice", "nsd"))
    with pytest.raises(TypeError, match="integer labels"):
        M.per_class_metrics(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), int), 2)
