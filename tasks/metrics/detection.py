"""FROC analysis and the CPM score for lesion detection, following the LUNA16 evaluation.

A detector outputs candidate locations with scores. Each candidate either hits a reference
lesion (the matching rule, e.g. "within the nodule's radius", is the caller's) or is a false
positive. The free-response ROC (FROC) curve plots, for decreasing score thresholds,
    sensitivity = (lesions hit by at least one candidate above threshold) / (all lesions)
against the average number of false positives per scan. The competition performance metric
(CPM) is the mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false positives per scan
(Niemeijer et al., IEEE TMI 30, 2011; Setio et al., "Validation, comparison, and combination
of algorithms for automatic detection of pulmonary nodules in CT: the LUNA16 challenge",
Med. Image Anal. 42, 2017).

LUNA16 conventions reproduced here:
* a lesion hit by several candidates counts once, with the highest of their scores; the other
  hits are neither true nor false positives;
* the curve has one point per distinct score (plus the origin), and the sensitivity at a given
  FP rate is read by linear interpolation between those points (numpy.interp in the official
  script). Where the curve rises vertically at exactly that FP rate, the highest sensitivity
  reached there is taken;
* lesions no candidate hits lower the sensitivity ceiling (the curve never reaches 1).
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk

LUNA16_FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def froc_curve(scores, lesion_ids, n_lesions: int, n_scans: int):
    """FROC curve (fp_per_scan, sensitivity, thresholds), each (M + 1,).

    scores: (C,) candidate scores over all scans. lesion_ids: (C,) int, the index in
    [0, n_lesions) of the reference lesion a candidate hits, or -1 for a false positive.
    n_lesions: number of reference lesions in all scans (including those never hit).
    n_scans: number of scans evaluated (including scans without lesions or candidates).
    Thresholds decrease; the first point is the origin at threshold +inf.
    """
    fn = "froc_curve"
    s = chk.finite(fn, "scores", chk.vector(fn, "scores", scores)).astype(np.float64)
    ids = chk.vector(fn, "lesion_ids", lesion_ids)
    chk.same_length(fn, scores=s, lesion_ids=ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{fn}: lesion_ids must be integers (-1 = false positive), got dtype {ids.dtype}")
    if int(n_lesions) != n_lesions or n_lesions < 1 or int(n_scans) != n_scans or n_scans < 1:
        raise ValueError(f"{fn}: n_lesions and n_scans must be positive integers, "
                         f"got {n_lesions!r}, {n_scans!r}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < -1 or ids.max() >= n_lesions):
        raise ValueError(f"{fn}: lesion_ids must lie in [-1, {n_lesions - 1}], got range "
                         f"[{ids.min()}, {ids.max()}]")

    # Each lesion keeps the best score among the candidates that hit it.
    best = np.full(int(n_lesions), -np.inf)
    hit = ids >= 0
    np.maximum.at(best, ids[hit], s[hit])
    detected = best[np.isfinite(best)]
    fp_scores = s[~hit]

    all_scores = np.r_[detected, fp_scores]
    is_tp = np.r_[np.ones(detected.size, bool), np.zeros(fp_scores.size, bool)]
    if all_scores.size == 0:
        return np.zeros(1), np.zeros(1), np.array([np.inf])
    order = np.argsort(-all_scores, kind="stable")
    s_sorted = all_scores[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(is_tp[order])[last_of_run]
    fps = (last_of_run + 1) - tps
    fp_per_scan = np.r_[0.0, fps / n_scans]
    sensitivity = np.r_[0.0, tps / n_lesions]
    return fp_per_scan, sensitivity, np.r_[np.inf, s_sorted[last_of_run]]


def sensitivity_at(fp_per_scan: np.ndarray, sensitivity: np.ndarray, fp_rates) -> np.ndarray:
    """Sensitivity of an FROC curve at the given FP-per-scan rates (linear interpolation).

    Past the last point of the curve the sensitivity stays at its final value. At a rate equal
    to a vertical segment's abscissa the top of the segment is used.
    """
    x = np.asarray(fp_rates, dtype=np.float64)
    j = np.searchsorted(fp_per_scan, x, side="right") - 1  # last curve point with fp <= x
    j = np.clip(j, 0, fp_per_scan.size - 1)
    nxt = np.minimum(j + 1, fp_per_scan.size - 1)
    x0, x1 = fp_per_scan[j], fp_per_scan[nxt]
    y0, y1 = sensitivity[j], sensitivity[nxt]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(x1 > x0, (x - x0) / (x1 - x0), 0.0)
    return y0 + np.clip(frac, 0.0, 1.0) * (y1 - y0)


def froc_cpm(scores, lesion_ids, n_lesions: int, n_scans: int, fp_rates=LUNA16_FP_RATES):
    """LUNA16's competition performance metric: (cpm, sensitivities at fp_rates).

    Arguments as in froc_curve; fp_rates defaults to 1/8 ... 8 false positives per scan.
    """
    fps, sens, _ = froc_curve(scores, lesion_ids, n_lesions, n_scans)
    at = sensitivity_at(fps, sens, fp_rates)
    return float(at.mean()), at
