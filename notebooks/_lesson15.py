"""Exercise checkers of lesson 15 (interpretability and the limits as tools). Each prints "Correct" or a hint and
returns True/False; an unanswered exercise (None, or a function that raises NotImplementedError) never stops the
notebook."""

from __future__ import annotations

import numpy as np

from _checking import call as _call
from _checking import report as _report


def check_grad_cam(grad_cam) -> bool:
    """Exercise 1: grad_cam(A, dA) for activations and gradients (N, K, h, w) -> (N, h, w)."""
    rng = np.random.default_rng(0)
    a, da = rng.normal(size=(2, 4, 3, 5)), rng.normal(size=(2, 4, 3, 5))
    out, verdict = _call(grad_cam, a, da)
    if verdict is not None:
        return verdict
    alpha = da.mean(axis=(2, 3), keepdims=True)
    expected = np.maximum((alpha * a).sum(1), 0)
    out = np.asarray(out, dtype=np.float64)
    if out.shape != expected.shape:
        return _report(False, f"the map must have shape (N, h, w) = {expected.shape}, got {out.shape}")
    if np.allclose(out, np.maximum((da * a).sum(1), 0)):
        return _report(False, "alpha_k is the *spatial mean* of the gradient of channel k, one number per channel")
    if np.allclose(out, (alpha * a).sum(1)):
        return _report(False, "keep only the positive evidence: ReLU of the weighted sum")
    return _report(np.allclose(out, expected), "cam = ReLU(sum_k alpha_k A_k), alpha_k = mean over (i, j) of dA_k")


def check_spearman(spearman) -> bool:
    """Exercise 2: spearman(a, b) for two 1D arrays without ties."""
    from scipy import stats

    rng = np.random.default_rng(1)
    for n in (5, 30):
        a, b = rng.normal(size=n), rng.normal(size=n)
        b = b + a  # correlated
        out, verdict = _call(spearman, a, b)
        if verdict is not None:
            return verdict
        expected = stats.spearmanr(a, b)[0]
        if abs(float(out) - expected) > 1e-9:
            pearson = float(np.corrcoef(a, b)[0, 1])
            hint = ("that is Pearson's correlation of the values; rank both first (argsort of argsort)"
                    if abs(float(out) - pearson) < 1e-9 else "the Pearson correlation of the two rank vectors")
            return _report(False, f"for n = {n} expected {expected:.4f}, got {float(out):.4f}: {hint}")
    return _report(True, "")
