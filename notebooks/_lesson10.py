"""Exercise checkers of lesson 10 (detection). Each prints "Correct" or a hint and returns True/False; an
unanswered exercise (a function returning None or raising NotImplementedError) never stops the notebook."""

from __future__ import annotations

import numpy as np

from _checking import attempt as _call
from _checking import report as _report


def check_peaks(fn) -> bool:
    """fn(heatmap (H, W), k, threshold) -> (P, 2) int array of peak positions (row, col), sorted."""
    from models.heatmap_detector import heatmap_peaks

    rng = np.random.default_rng(7)
    ok = True
    for shape, k, thr in (((12, 15), 3, 0.5), ((20, 20), 5, 0.2)):
        h = rng.random(shape).astype(np.float32)
        out, err = _call(fn, h, k, thr)
        if err:
            return _report(False, err)
        _, ref, _ = heatmap_peaks(h[None, None], kernel_size=k, threshold=thr)
        got = np.asarray(out).reshape(-1, 2)
        got = got[np.lexsort((got[:, 1], got[:, 0]))]
        if got.shape != ref.shape or not (got == ref).all():
            ok = False
            hint = (f"for a {shape} map, k={k}, threshold {thr}: expected {len(ref)} peaks, got {len(got)}; "
                    f"a peak equals the maximum of its k x k window (windows cut at the border) and is >= threshold")
    return _report(ok, hint if not ok else "")


def check_cpm(fn) -> bool:
    """fn(scores, hit, n_lesions, n_scans) -> CPM, for candidates that each hit a distinct lesion or not."""
    from tasks.metrics.detection import froc_cpm

    rng = np.random.default_rng(3)
    for trial in range(3):
        n_scans, n_lesions = 5 + trial, 12
        hit = rng.random(40) < 0.3
        hit[np.flatnonzero(hit)[n_lesions:]] = False  # at most one candidate per lesion
        scores = rng.random(40)
        ids = np.where(hit, np.cumsum(hit) - 1, -1)
        ref, _ = froc_cpm(scores, ids, n_lesions, n_scans)
        out, err = _call(fn, scores, hit, n_lesions, n_scans)
        if err:
            return _report(False, err)
        if not np.isclose(float(out), ref, atol=1e-9):
            return _report(False, f"expected CPM {ref:.4f}, got {float(out):.4f}: sort by decreasing score, count "
                                  "hits and false positives cumulatively, divide by lesions and scans, start the curve "
                                  "at (0, 0) and read it by linear interpolation at 1/8 ... 8 FP per scan")
    return _report(True, "")
