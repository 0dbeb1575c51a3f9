"""Exercise checkers of lesson 14 (sequences and auto-encoders). Each prints "Correct" or a hint and returns
True/False; an unanswered exercise (None, or a function that raises NotImplementedError) never stops the notebook."""

from __future__ import annotations

import numpy as np

from _checking import call as _call
from _checking import report as _report


def check_dtw(dtw) -> bool:
    """Exercise 1: dtw(a, b, window) for two 1D series, the Sakoe-Chiba window in samples."""
    from models.classical_sequence import dtw_reference

    rng = np.random.default_rng(0)
    cases = [([0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 2.0], 1), ([0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 2.0], 0)]
    cases += [(rng.normal(size=12), rng.normal(size=12), w) for w in (0, 2, 12)]
    for a, b, w in cases:
        out, verdict = _call(dtw, np.asarray(a), np.asarray(b), w)
        if verdict is not None:
            return verdict
        expected = dtw_reference(a, b, w)
        if not np.isfinite(float(out)) or abs(float(out) - expected) > 1e-6 * max(1.0, expected):
            hint = ("window 0 must give the Euclidean distance" if w == 0 else
                    "D(i, j) = (a_i - b_j)^2 + min(D(i-1, j-1), D(i-1, j), D(i, j-1)), only |i - j| <= window, "
                    "and the distance is sqrt(D(T, T))")
            return _report(False, f"for window {w} the distance is {expected:.4f}, you gave {float(out):.4f}: {hint}")
    return _report(True, "")


def check_kl_sparsity(kl) -> bool:
    """Exercise 2: kl(hidden, rho) = sum_j KL(rho || mean_i hidden[i, j]) on NumPy arrays."""
    rng = np.random.default_rng(1)
    for rho in (0.05, 0.3):
        h = rng.uniform(0.01, 0.99, (16, 7))
        out, verdict = _call(kl, h, rho)
        if verdict is not None:
            return verdict
        r = h.mean(0)
        expected = float((rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))).sum())
        if abs(float(np.sum(out)) - expected) > 1e-6 * max(1.0, abs(expected)):
            per_sample = float((rho * np.log(rho / h) + (1 - rho) * np.log((1 - rho) / (1 - h))).sum())
            hint = ("average each unit over the batch first (rho_hat_j), then take the divergence"
                    if abs(float(np.sum(out)) - per_sample) < 1e-6 * abs(per_sample) or
                    abs(float(np.sum(out)) - per_sample / len(h)) < 1e-6 * abs(per_sample) else
                    "KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r)), summed over units")
            return _report(False, f"for rho = {rho} the penalty is {expected:.4f}, you gave {float(np.sum(out)):.4f}: "
                                  f"{hint}")
    return _report(True, "")
