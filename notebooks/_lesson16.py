"""Exercise checkers of lesson 16 (hyperparameters). Each prints "Correct" or a hint and returns True/False; an
unanswered exercise (None, or a function that raises NotImplementedError) never stops the notebook."""

from __future__ import annotations

import numpy as np

from _checking import call as _call
from _checking import report as _report


def check_log_uniform(log_uniform) -> bool:
    """Exercise 1: log_uniform(low, high, n, rng) -> n floats with log uniform on [log low, log high]."""
    out, verdict = _call(log_uniform, 1e-4, 1e-1, 20_000, np.random.default_rng(0))
    if verdict is not None:
        return verdict
    out = np.asarray(out, dtype=np.float64)
    if out.shape != (20_000,):
        return _report(False, f"return n = 20000 values, got shape {out.shape}")
    if out.min() < 1e-4 or out.max() > 1e-1:
        return _report(False, f"values must lie in [low, high]; got {out.min():.3g} .. {out.max():.3g}")
    below = np.mean(out < 10 ** -2.5)  # the geometric mean of the range
    if below < 0.1:
        return _report(False, f"only {below:.0%} of the values are below the geometric mean 10^-2.5: that is a "
                              f"uniform draw on [low, high]; draw the *logarithm* uniformly and exponentiate")
    decades = np.histogram(np.log10(out), bins=3, range=(-4, -1))[0] / len(out)
    return _report(bool(np.all(np.abs(decades - 1 / 3) < 0.02)),
                   f"each decade should hold a third of the values, got {np.round(decades, 3)}")


def _halving(curves, r_min, eta):
    n, R = curves.shape
    alive, r = np.arange(n), r_min
    reached = np.zeros(n, int)
    while True:
        reached[alive] = r
        scores = curves[alive, r - 1]
        if len(alive) == 1 or r == R:
            return int(alive[np.argmax(scores)]), int(reached.sum())
        alive = alive[np.argsort(-scores, kind="stable")[:max(1, len(alive) // eta)]]
        r = min(r * eta, R)


def check_successive_halving(successive_halving) -> bool:
    """Exercise 2: successive_halving(curves (n, R), r_min, eta) -> (winner row, epochs trained)."""
    rng = np.random.default_rng(2)
    for n, R, r_min, eta in ((9, 9, 1, 3), (10, 8, 1, 2), (27, 27, 1, 3), (5, 12, 2, 3)):
        # rising curves with crossings: a slow starter can win
        rate = rng.uniform(0.05, 1.0, n)
        final = rng.uniform(0.6, 0.9, n)
        curves = final[:, None] - 0.3 * np.exp(-rate[:, None] * np.arange(1, R + 1)[None, :])
        out, verdict = _call(successive_halving, curves.copy(), r_min, eta)
        if verdict is not None:
            return verdict
        expected = _halving(curves, r_min, eta)
        try:
            winner, epochs = int(out[0]), int(out[1])
        except (TypeError, ValueError, IndexError):
            return _report(False, f"return a pair (winner, epochs), got {out!r}")
        if winner != expected[0]:
            return _report(False, f"n={n}, R={R}, r_min={r_min}, eta={eta}: the winner is row {expected[0]}, you "
                                  f"returned {winner}; rank by curves[i, r - 1] at the current budget r")
        if epochs != expected[1]:
            return _report(False, f"n={n}, R={R}, r_min={r_min}, eta={eta}: {expected[1]} epochs, you counted "
                                  f"{epochs}; a promoted run continues, so each configuration costs the largest "
                                  f"budget it reached")
    return _report(True, "")


def check_mixture_probability(mixture_probability) -> bool:
    """Exercise 3: mixture_probability(weights, means, stds, best) = sum_k w_k (1 - Phi((best - mu_k) / s_k))."""
    from scipy.special import ndtr

    rng = np.random.default_rng(3)
    for k in (1, 3, 4):
        w = rng.uniform(0.1, 1, k)
        w /= w.sum()
        mu, sd, best = rng.uniform(0.7, 0.9, k), rng.uniform(0.01, 0.05, k), 0.82
        out, verdict = _call(mixture_probability, w, mu, sd, best)
        if verdict is not None:
            return verdict
        expected = float(np.sum(w * (1 - ndtr((best - mu) / sd))))
        if abs(float(out) - expected) > 1e-9:
            if abs(float(out) - float(np.sum(w * ndtr((best - mu) / sd)))) < 1e-9:
                hint = "that is P(y_T < best); the run goes on when it can end *above* best: 1 - Phi(...)"
            elif abs(float(out) - float(np.mean(1 - ndtr((best - mu) / sd)))) < 1e-9:
                hint = "weight each member by its w_k (an unweighted mean treats a bad fit like a good one)"
            else:
                hint = "sum_k w_k (1 - Phi((best - mu_k) / sigma_k)), Phi the standard normal CDF"
            return _report(False, f"with {k} members expected {expected:.4f}, got {float(out):.4f}: {hint}")
    return _report(True, "")
