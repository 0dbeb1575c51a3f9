"""Metrics on continuous predictions: errors and correlations.

Used for regression targets (bone age, ejection fraction, a continuous severity score) and for
comparing two measurement methods. Correlation measures association, not agreement: a method
that reads every value twice too high has Pearson r = 1 but a large MAE (Bland & Altman,
Lancet 1986), so report an error together with any correlation.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics._checks import UndefinedMetricError


def _pair(fn: str, a, b, names=("y_true", "y_pred")) -> tuple[np.ndarray, np.ndarray]:
    x = chk.finite(fn, names[0], chk.host(fn, names[0], a)).astype(np.float64)
    y = chk.finite(fn, names[1], chk.host(fn, names[1], b)).astype(np.float64)
    chk.same_shape(fn, **{names[0]: x, names[1]: y})
    chk.nonempty(fn, **{names[0]: x})
    return x, y


def mean_absolute_error(y_true, y_pred) -> float:
    """MAE = mean |y_true - y_pred| over all elements (any shape, both the same)."""
    t, p = _pair("mean_absolute_error", y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mean_squared_error(y_true, y_pred) -> float:
    """MSE = mean (y_true - y_pred)^2 over all elements (any shape, both the same)."""
    t, p = _pair("mean_squared_error", y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rankdata(x) -> np.ndarray:
    """Ranks 1..N of a 1-D array, tied values sharing the average of their ranks (float64).

    Equivalent to scipy.stats.rankdata(x, method="average").
    """
    x = chk.vector("rankdata", "x", x)
    n = x.size
    order = np.argsort(x, kind="stable")
    xs = x[order]
    # Runs of equal values: start index of each run and its length.
    starts = np.r_[0, np.flatnonzero(xs[1:] != xs[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    # A run occupying sorted positions s..s+L-1 (ranks s+1..s+L) has average rank s + (L+1)/2.
    avg = starts + (lengths + 1) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(avg, lengths)
    return ranks


def pearson_r(x, y) -> float:
    """Pearson's correlation coefficient r = cov(x, y) / (std(x) std(y)) of two (N,) vectors.

    Raises UndefinedMetricError when either input is constant (zero variance) or N < 2.
    """
    fn = "pearson_r"
    a, b = _pair(fn, chk.vector(fn, "x", x), chk.vector(fn, "y", y), names=("x", "y"))
    if a.size < 2:
        raise UndefinedMetricError(f"{fn}: needs at least 2 samples, got {a.size}")
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    if den == 0.0:
        raise UndefinedMetricError(f"{fn}: an input is constant, correlation is undefined")
    # Clip the rounding error that can push |r| a hair above 1.
    return float(np.clip(np.sum(a * b) / den, -1.0, 1.0))


def spearman_r(x, y) -> float:
    """Spearman's rank correlation: Pearson's r of the average ranks (ties share their mean rank)."""
    fn = "spearman_r"
    a = chk.finite(fn, "x", chk.vector(fn, "x", x))
    b = chk.finite(fn, "y", chk.vector(fn, "y", y))
    chk.same_length(fn, x=a, y=b)
    chk.nonempty(fn, x=a)
    try:
        return pearson_r(rankdata(a), rankdata(b))
    except UndefinedMetricError as err:
        raise UndefinedMetricError(str(err).replace("pearson_r", fn, 1)) from None
