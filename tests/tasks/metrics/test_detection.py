"""Detection metrics: the hit rule, FROC/CPM with bootstrap intervals over scans, EC57 beat matching."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from tasks.metrics import detection as D


# ------------------------------------------------------------------------------------------- hit rule
def test_assign_hits_radius_rule_2d():
    les_scan = np.array([0, 0, 1])
    les_c = np.array([[10.0, 10.0], [30.0, 30.0], [10.0, 10.0]])
    les_r = np.array([5.0, 3.0, 4.0])
    cand_scan = np.array([0, 0, 0, 1, 1, 0])
    cand = np.array([[13.0, 14.0],  # distance 5 = radius of lesion 0: a hit (<=)
                     [30.0, 33.5],  # 3.5 > 3: miss
                     [10.0, 10.0],  # centre of lesion 0
                     [10.0, 13.0],  # scan 1, inside lesion 2
                     [30.0, 30.0],  # scan 1: lesion 1 is in scan 0, so a false positive
                     [29.0, 30.0]])
    ids = D.assign_hits(cand_scan, cand, les_scan, les_c, les_r)
    np.testing.assert_array_equal(ids, [0, -1, 0, 2, -1, 1])


def test_assign_hits_3d_and_nearest_relative_distance():
    les_c = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 6.0]])
    les_r = np.array([5.0, 2.0])
    # at z = 4.5: distance 4.5 to lesion 0 (0.9 radii), 1.5 to lesion 1 (0.75 radii): lesion 1 is nearer
    ids = D.assign_hits([0, 0], [[0, 0, 4.5], [0, 0, 3.0]], [0, 0], les_c, les_r)
    np.testing.assert_array_equal(ids, [1, 0])


def test_assign_hits_errors_and_empty():
    assert D.assign_hits([], np.zeros((0, 2)), [0], [[1.0, 1.0]], [2.0]).shape == (0,)
    np.testing.assert_array_equal(D.assign_hits([0], [[1.0, 1.0]], [], np.zeros((0, 2)), []), [-1])
    with pytest.raises(ValueError, match="non-negative"):
        D.assign_hits([0], [[1.0, 1.0]], [0], [[1.0, 1.0]], [-1.0])
    with pytest.raises(ValueError, match="3-D"):
        D.assign_hits([0], [[1.0, 1.0]], [0], [[1.0, 1.0, 1.0]], [1.0])


# ---------------------------------------------------------------------------------- FROC summaries
def _scene(rng, n_scans=12):
    les_scan = rng.integers(0, n_scans, 20)
    n_les = les_scan.size
    # each lesion found with probability 0.8, some twice; false positives spread over scans
    found = rng.random(n_les) < 0.8
    hits = np.flatnonzero(found)
    dup = hits[rng.random(hits.size) < 0.3]
    ids = np.r_[hits, dup, np.full(40, -1)]
    cand_scan = np.r_[les_scan[hits], les_scan[dup], rng.integers(0, n_scans, 40)]
    scores = np.r_[rng.uniform(0.3, 1.0, hits.size + dup.size), rng.uniform(0.0, 0.8, 40)]
    return cand_scan, scores, ids.astype(np.int64), les_scan, n_scans


def test_froc_summary_reads_the_curve():
    scores = [0.9, 0.8, 0.7, 0.6]
    ids = [0, -1, 1, -1]
    s = D.froc_summary(scores, ids, n_lesions=4, n_scans=1)
    # FP/scan 1 is reached at threshold 0.8 (sensitivity 1/4), then 0.7 adds a lesion at the same FP rate
    assert s["sens_at_1fp"] == pytest.approx(0.5)
    assert s["sens_at_4fp"] == pytest.approx(0.5)
    cpm, _ = D.froc_cpm(scores, ids, 4, 1)
    assert s["cpm"] == pytest.approx(cpm)


def test_froc_bootstrap_point_equals_unweighted_froc():
    cs, s, ids, ls, n = _scene(np.random.default_rng(0))
    out = D.froc_bootstrap(cs, s, ids, ls, n, n_boot=200, seed=1)
    ref = D.froc_summary(s, ids, ls.size, n)
    for k in ("cpm", "sens_at_1fp", "sens_at_4fp"):
        assert out[k] == pytest.approx(ref[k])
        lo, hi = out[k + "_ci"]
        assert lo <= out[k] <= hi and hi - lo > 0.02  # a real spread on 12 scans


def test_weighted_froc_equals_froc_of_explicitly_duplicated_scans():
    """A bootstrap resample that draws scans 0, 0, 3, ... equals the FROC of those scans copied."""
    rng = np.random.default_rng(3)
    cs, s, ids, ls, n = _scene(rng)
    draw = rng.integers(0, n, n)
    # build the resampled data set by copying: lesion ids renumbered per copy
    c_s, c_ids, les_count = [], [], 0
    for scan in draw:
        les_here = np.flatnonzero(ls == scan)
        remap = {int(old): les_count + j for j, old in enumerate(les_here)}
        sel = np.flatnonzero(cs == scan)
        c_s.append(s[sel])
        c_ids.append(np.array([remap[int(i)] if i >= 0 else -1 for i in ids[sel]], dtype=np.int64))
        les_count += les_here.size
    ref = D.froc_summary(np.concatenate(c_s), np.concatenate(c_ids), les_count, n)
    best = np.full(ls.size, -np.inf)
    np.maximum.at(best, ids[ids >= 0], s[ids >= 0])
    mult = np.bincount(draw, minlength=n).astype(float)
    got = D._weighted_froc_summary(best, mult[ls], s[ids < 0], mult[cs[ids < 0]], float(n))
    np.testing.assert_allclose(got, [ref["cpm"], ref["sens_at_1fp"], ref["sens_at_4fp"]])


def test_froc_bootstrap_errors():
    with pytest.raises(ValueError, match="no reference lesions"):
        D.froc_bootstrap([0], [0.5], [-1], [], 2)
    with pytest.raises(ValueError, match=r"scan indices must lie in \[0, 1\]"):
        D.froc_bootstrap([5], [0.5], [-1], [0], 2)
    for cand_scan, les_scan in (([2], [0]), ([-1], [0]), ([0], [2]), ([0], [-1])):  # just past each end
        with pytest.raises(ValueError, match=r"scan indices must lie in \[0, 1\]"):
            D.froc_bootstrap(cand_scan, [0.5], [-1], les_scan, 2)
    for bad_id in (1, -2):  # one reference lesion: ids are -1 (false positive) or 0
        with pytest.raises(ValueError, match=r"lesion_ids must lie in \[-1, 0\]"):
            D.froc_bootstrap([0], [0.5], [bad_id], [0], 2)
    with pytest.raises(ValueError, match="same number of samples"):
        D.froc_bootstrap([0, 1], [0.5], [-1], [0], 2)


def test_froc_bootstrap_counts_a_hit_on_lesion_0_and_reads_its_interval_from_the_resamples():
    # two scans; lesion 0 (scan 0) found at 0.9, lesion 1 (scan 1) missed, two false positives
    out = D.froc_bootstrap([0, 0, 1], [0.9, 0.4, 0.3], [0, -1, -1], [0, 1], 2, n_boot=50, seed=0)
    assert out["sens_at_1fp"] == pytest.approx(0.5)  # lesion 0 is a hit, not a false positive
    # the interval, by definition: the alpha/2 and 1 - alpha/2 quantiles over resampled scans
    cs, s, ids, ls, n = _scene(np.random.default_rng(0))
    got = D.froc_bootstrap(cs, s, ids, ls, n, n_boot=120, alpha=0.3, seed=5)
    best = np.full(ls.size, -np.inf)
    np.maximum.at(best, ids[ids >= 0], s[ids >= 0])
    values = []
    for row in np.random.default_rng(5).integers(0, n, size=(120, n)):
        mult = np.bincount(row, minlength=n).astype(float)
        v = D._weighted_froc_summary(best, mult[ls], s[ids < 0], mult[cs[ids < 0]], float(n))
        if np.isfinite(v).all():
            values.append(v)
    lo, hi = np.quantile(np.array(values), [0.15, 0.85], axis=0)
    for j, name in enumerate(("cpm", "sens_at_1fp", "sens_at_4fp")):
        assert got[name + "_ci"] == pytest.approx([lo[j], hi[j]])


# --------------------------------------------------------------------------------------- beats (EC57)
def test_match_events_by_hand():
    ref = [100, 200, 300, 400]
    det = [95, 160, 205, 330, 331, 600]
    r, d = D.match_events(ref, det, tolerance=30)
    # 100<-95, 200<-205 (160 is 40 away), 300<-330, 400 missed; 331 is a duplicate, 600 and 160 are FPs
    np.testing.assert_array_equal(r, [True, True, True, False])
    np.testing.assert_array_equal(d, [True, False, True, True, False, False])


@pytest.mark.parametrize("seed", range(20))
def test_match_events_is_a_maximum_matching(seed):
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.uniform(0, 100, rng.integers(1, 15)))
    det = rng.uniform(0, 100, rng.integers(1, 15))
    tol = rng.uniform(1, 10)
    r, d = D.match_events(ref, det, tol)
    assert r.sum() == d.sum()
    # maximum bipartite matching by the Hungarian algorithm on 0/1 costs
    allowed = np.abs(ref[:, None] - det[None, :]) <= tol
    rows, cols = linear_sum_assignment(-allowed.astype(float))
    assert r.sum() == allowed[rows, cols].sum()
    # every reported pair is feasible: matched counts agree and unmatched events have no free partner
    assert not (allowed & ~r[:, None] & ~d[None, :]).any()


def test_beat_detection_scores_counts():
    fs = 360.0
    ref = np.array([1000, 1300, 1600, 1900])
    det = np.array([1000 + 54, 1300 - 53, 1600 + 60, 2500])  # +150 ms, -147 ms, +167 ms (too late), far
    out = D.beat_detection_scores(ref, det, fs)
    assert (out["tp"], out["fp"], out["fn"]) == (2, 2, 2)
    assert out["sensitivity"] == pytest.approx(0.5) and out["ppv"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx(0.5)
    assert D.beat_detection_scores(ref, det, fs, tolerance_s=0.2)["tp"] == 3


def test_froc_bootstrap_curve_band():
    cs, s, ids, ls, n = _scene(np.random.default_rng(4))
    rates = [0.25, 1.0, 4.0]
    out = D.froc_bootstrap(cs, s, ids, ls, n, n_boot=100, seed=0, curve_rates=rates)
    fps, sens, _ = D.froc_curve(s, ids, ls.size, n)
    np.testing.assert_allclose(out["curve"]["sensitivity"], D.sensitivity_at(fps, sens, rates))
    assert out["curve"]["sensitivity"][1] == pytest.approx(out["sens_at_1fp"])
    assert all(lo <= p <= hi for lo, p, hi in zip(out["curve"]["low"], out["curve"]["sensitivity"],
                                                   out["curve"]["high"]))
