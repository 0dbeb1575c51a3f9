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

Also here: the hit rule itself (``assign_hits``: a candidate within a lesion's radius), the CPM and
sensitivities at 1 and 4 FP/scan with percentile-bootstrap intervals over scans (``froc_bootstrap``),
and event matching in time for beat detection (``match_events``, ``beat_detection_scores``: the
ANSI/AAMI EC57 rule, a detection within 150 ms of an annotated beat, one-to-one).
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


# --------------------------------------------------------------------------------------------------
# Hit rule: which reference lesion (if any) each candidate hits
# --------------------------------------------------------------------------------------------------

def assign_hits(cand_scan, cand_points, les_scan, les_centres, les_radii) -> np.ndarray:
    """LUNA16's hit rule: a candidate hits a lesion of the same scan when it lies within the lesion's
    radius (distance <= radius; 2D or 3D points). Returns (C,) int64 lesion indices, -1 = false positive.

    cand_scan: (C,) int scan index of each candidate; cand_points: (C, d) coordinates (pixels, array-axis
    order). les_scan, les_centres, les_radii: (L,), (L, d), (L,) the reference lesions. A candidate
    inside several lesions is given to the one it is closest to relative to the radius. Several
    candidates may hit the same lesion: froc_curve then keeps the best score and ignores the others
    (neither true nor false positives).
    """
    fn = "assign_hits"
    cs = chk.vector(fn, "cand_scan", cand_scan).astype(np.int64)
    ls = chk.vector(fn, "les_scan", les_scan).astype(np.int64)
    cp = _points(fn, "cand_points", cand_points, cs.size)
    lc = _points(fn, "les_centres", les_centres, ls.size)
    lr = chk.vector(fn, "les_radii", les_radii).astype(np.float64)
    chk.same_length(fn, les_scan=ls, les_centres=lc, les_radii=lr)
    if cs.size and ls.size and cp.shape[1] != lc.shape[1]:
        raise ValueError(f"{fn}: candidates are {cp.shape[1]}-D points but lesions are {lc.shape[1]}-D")
    if (lr < 0).any():
        raise ValueError(f"{fn}: lesion radii must be non-negative, got min {lr.min()}")
    if cs.size == 0 or ls.size == 0:
        return np.full(cs.size, -1, dtype=np.int64)
    # (C, L) relative distances, infinite across scans; candidate and lesion counts per evaluation are
    # thousands by hundreds, so the dense table is small
    rel = np.linalg.norm(cp[:, None, :] - lc[None, :, :], axis=-1) / np.maximum(lr, 1e-12)[None, :]
    rel[cs[:, None] != ls[None, :]] = np.inf
    nearest = np.argmin(rel, axis=1)
    hit = rel[np.arange(cs.size), nearest] <= 1.0
    return np.where(hit, nearest, -1).astype(np.int64)


def _points(fn: str, name: str, a, n: int) -> np.ndarray:
    """(n, d) float64 coordinates; refuses any other layout."""
    p = chk.host(fn, name, a).astype(np.float64)
    if p.ndim != 2 or p.shape[0] != n:
        raise ValueError(f"{fn}: {name} must be ({n}, d) coordinates, got shape {p.shape}")
    return p


def froc_summary(scores, lesion_ids, n_lesions: int, n_scans: int) -> dict:
    """CPM and the mean sensitivity at 1 and 4 false positives per scan, as Python floats."""
    fps, sens, _ = froc_curve(scores, lesion_ids, n_lesions, n_scans)
    at = sensitivity_at(fps, sens, (*LUNA16_FP_RATES, 1.0, 4.0))
    return {"cpm": float(at[:7].mean()), "sens_at_1fp": float(at[7]), "sens_at_4fp": float(at[8])}


def _weighted_sensitivities(best, les_w, fp_scores, fp_w, n_scans_w: float, rates) -> np.ndarray:
    """Sensitivities at FP-per-scan ``rates`` of an FROC curve whose lesions and false positives carry
    weights (the multiplicity of their scan in a bootstrap resample). Unit weights give froc_curve's."""
    keep = les_w > 0
    total = les_w.sum()
    det = keep & np.isfinite(best)
    all_scores = np.r_[best[det], fp_scores[fp_w > 0]]
    w_tp = np.r_[les_w[det], np.zeros(int((fp_w > 0).sum()))]
    w_fp = np.r_[np.zeros(int(det.sum())), fp_w[fp_w > 0]]
    if all_scores.size == 0 or total == 0:
        return np.full(len(rates), np.nan if total == 0 else 0.0)
    order = np.argsort(-all_scores, kind="stable")
    s_sorted = all_scores[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    fps = np.r_[0.0, np.cumsum(w_fp[order])[last_of_run] / n_scans_w]
    sens = np.r_[0.0, np.cumsum(w_tp[order])[last_of_run] / total]
    return sensitivity_at(fps, sens, rates)


def _weighted_froc_summary(best, les_w, fp_scores, fp_w, n_scans_w: float) -> np.ndarray:
    """(cpm, sens@1, sens@4) of a weighted FROC curve (see _weighted_sensitivities)."""
    at = _weighted_sensitivities(best, les_w, fp_scores, fp_w, n_scans_w, (*LUNA16_FP_RATES, 1.0, 4.0))
    return np.array([at[:7].mean(), at[7], at[8]])


def froc_bootstrap(cand_scan, scores, lesion_ids, les_scan, n_scans: int, n_boot: int = 1000,
                   alpha: float = 0.05, seed=0, curve_rates=None) -> dict:
    """CPM, sensitivity at 1 and 4 FP/scan, each with a percentile-bootstrap interval over scans.

    The scan is the unit that is resampled (lesions and candidates of one scan are not independent).
    cand_scan, scores, lesion_ids: (C,) per candidate (lesion_ids from assign_hits, -1 = false
    positive); les_scan: (L,) scan index of each reference lesion; scans are 0 .. n_scans - 1, including
    those without lesions or candidates. A resample that draws a scan k times counts its lesions and
    false positives k times. Returns {"cpm", "cpm_ci", "sens_at_1fp", "sens_at_1fp_ci", "sens_at_4fp",
    "sens_at_4fp_ci"} (intervals as [low, high]); resamples without any lesion are skipped. With
    ``curve_rates`` (FP-per-scan values) also "curve": {"fp_per_scan", "sensitivity", "low", "high"},
    the FROC curve read at those rates with its pointwise band (for plotting).
    """
    fn = "froc_bootstrap"
    cs = chk.vector(fn, "cand_scan", cand_scan).astype(np.int64)
    s = chk.finite(fn, "scores", chk.vector(fn, "scores", scores)).astype(np.float64)
    ids = chk.vector(fn, "lesion_ids", lesion_ids).astype(np.int64)
    ls = chk.vector(fn, "les_scan", les_scan).astype(np.int64)
    chk.same_length(fn, cand_scan=cs, scores=s, lesion_ids=ids)
    n_scans = int(n_scans)
    if ls.size == 0:
        raise ValueError(f"{fn}: there are no reference lesions, so sensitivity is undefined")
    if (cs.size and (cs.min() < 0 or cs.max() >= n_scans)) or ls.min() < 0 or ls.max() >= n_scans:
        raise ValueError(f"{fn}: scan indices must lie in [0, {n_scans - 1}]")
    if ids.size and (ids.min() < -1 or ids.max() >= ls.size):
        raise ValueError(f"{fn}: lesion_ids must lie in [-1, {ls.size - 1}]")
    best = np.full(ls.size, -np.inf)
    hit = ids >= 0
    np.maximum.at(best, ids[hit], s[hit])
    fp_scores, fp_scan = s[~hit], cs[~hit]

    rates = np.asarray((*LUNA16_FP_RATES, 1.0, 4.0) + tuple(curve_rates if curve_rates is not None else ()))

    def summary(les_w, fp_w):
        at = _weighted_sensitivities(best, les_w, fp_scores, fp_w, float(n_scans), rates)
        return np.r_[at[:7].mean(), at[7:]]

    point = summary(np.ones(ls.size), np.ones(fp_scores.size))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = rng.integers(0, n_scans, size=(int(n_boot), n_scans))
    values = []
    for row in draws:  # one FROC per resample; each is a sort of the candidates, vectorised
        mult = np.bincount(row, minlength=n_scans).astype(np.float64)
        v = summary(mult[ls], mult[fp_scan])
        if np.isfinite(v).all():
            values.append(v)
    values = np.asarray(values).reshape(-1, point.size)
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2], axis=0) if len(values) else (point, point)
    out = {}
    for j, name in enumerate(("cpm", "sens_at_1fp", "sens_at_4fp")):
        out[name] = float(point[j])
        out[name + "_ci"] = [float(lo[j]), float(hi[j])]
    if curve_rates is not None:
        out["curve"] = {"fp_per_scan": [float(r) for r in curve_rates], "sensitivity": point[3:].tolist(),
                        "low": np.atleast_1d(lo[3:]).tolist(), "high": np.atleast_1d(hi[3:]).tolist()}
    return out


# --------------------------------------------------------------------------------------------------
# Beat (event) detection in time: ANSI/AAMI EC57 matching
# --------------------------------------------------------------------------------------------------

def match_events(reference, detected, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of detected events to reference events within ``tolerance`` (same unit).

    Returns (ref_matched (R,) bool, det_matched (D,) bool). A detection matches at most one reference
    event and vice versa; the number of matches is the largest possible. Because every reference owns
    an interval of the same width [r - tol, r + tol], scanning references in time order and giving each
    the earliest unused detection inside its interval is optimal (the classic interval-point greedy);
    the scan is one pass over the events, O(R + D).
    """
    fn = "match_events"
    ref = chk.vector(fn, "reference", reference).astype(np.float64)
    det = chk.vector(fn, "detected", detected).astype(np.float64)
    if tolerance < 0:
        raise ValueError(f"{fn}: tolerance must be non-negative, got {tolerance}")
    r_order, d_order = np.argsort(ref, kind="stable"), np.argsort(det, kind="stable")
    r, d = ref[r_order].tolist(), det[d_order].tolist()
    ref_m = np.zeros(len(r), bool)
    det_m = np.zeros(len(d), bool)
    j = 0
    for i, t in enumerate(r):
        while j < len(d) and d[j] < t - tolerance:  # too early for this and every later reference
            j += 1
        if j < len(d) and d[j] <= t + tolerance:
            ref_m[i] = det_m[j] = True
            j += 1
    out_r, out_d = np.zeros(len(r), bool), np.zeros(len(d), bool)
    out_r[r_order], out_d[d_order] = ref_m, det_m
    return out_r, out_d


def beat_detection_scores(reference, detected, fs: float, tolerance_s: float = 0.150) -> dict:
    """Sensitivity (Se), positive predictive value (+P, PPV) and F1 of beat detection (ANSI/AAMI EC57).

    reference, detected: sample indices of annotated and detected beats; fs: sampling rate (Hz). A
    detection within ``tolerance_s`` (EC57: 150 ms) of an annotated beat, matched one-to-one, is a true
    positive. Se = TP / (TP + FN), PPV = TP / (TP + FP), F1 their harmonic mean. Returns floats and counts.
    """
    ref_m, det_m = match_events(reference, detected, tolerance_s * fs)
    tp, fn_, fp = int(ref_m.sum()), int((~ref_m).sum()), int((~det_m).sum())
    se = tp / (tp + fn_) if tp + fn_ else float("nan")
    ppv = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn_) if tp + fp + fn_ else float("nan")
    return {"sensitivity": se, "ppv": ppv, "f1": f1, "tp": tp, "fp": fp, "fn": fn_}
