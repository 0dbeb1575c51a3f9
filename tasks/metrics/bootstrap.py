"""Percentile-bootstrap confidence intervals for any metric.

A test set of a few hundred patients gives a noisy AUC; the bootstrap estimates that noise by
re-evaluating the metric on B resamples of the test set, each drawn with replacement and of
the original size, and reporting the alpha/2 and 1 - alpha/2 quantiles of the B values
(Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13).

Some resamples make a metric undefined (a resample of a small test set can hold no positive
case, and then the AUC does not exist). Those are skipped and counted; if too many are, the
interval would describe a biased subset of resamples, so bootstrap_ci refuses.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics._checks import UndefinedMetricError


class BootstrapCI(tuple):
    """(point, low, high); also carries ``n_boot`` and ``n_undefined`` (resamples skipped)."""

    def __new__(cls, point: float, low: float, high: float, n_boot: int, n_undefined: int):
        self = super().__new__(cls, (point, low, high))
        self.n_boot = n_boot
        self.n_undefined = n_undefined
        return self

    point = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])

    def __repr__(self) -> str:
        return (f"BootstrapCI(point={self[0]!r}, low={self[1]!r}, high={self[2]!r}, "
                f"n_boot={self.n_boot}, n_undefined={self.n_undefined})")


def resample_indices(n: int, n_boot: int, rng: np.random.Generator, stratify=None) -> np.ndarray:
    """(n_boot, n) int64 indices of bootstrap resamples, all drawn in one call per stratum.

    stratify: optional (n,) group labels; each resample then keeps every group's size (e.g. the
    number of positive cases), drawing with replacement within each group.
    """
    if stratify is None:
        return rng.integers(0, n, size=(n_boot, n))
    groups = chk.vector("resample_indices", "stratify", stratify)
    if groups.shape[0] != n:
        raise ValueError(f"resample_indices: stratify has {groups.shape[0]} entries for {n} samples")
    idx = np.empty((n_boot, n), dtype=np.int64)
    for g in np.unique(groups):  # loop over the few strata; each stratum is drawn vectorised
        members = np.flatnonzero(groups == g)
        idx[:, members] = members[rng.integers(0, members.size, size=(n_boot, members.size))]
    return idx


def bootstrap_ci(
    metric_fn,
    *arrays,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | np.random.Generator = 0,
    stratify=None,
    batched: bool = False,
    max_undefined: float = 0.1,
) -> BootstrapCI:
    """Point estimate and percentile-bootstrap (1 - alpha) interval of ``metric_fn(*arrays)``.

    arrays: one or more arrays sharing their first dimension N (samples are resampled along it,
    e.g. ``bootstrap_ci(roc_auc, y_true, y_score)``).
    n_boot: number of resamples B. alpha: 0.05 gives a 95 % interval.
    seed: int or numpy Generator; the result is deterministic for a given seed.
    stratify: optional (N,) labels kept in the same proportion in every resample (resampling
    within each class keeps the AUC defined on small, unbalanced test sets).
    batched: when True, metric_fn is called once with arrays of shape (B, N, ...) and must
    return (B,) values (NaN where undefined), e.g. ``lambda t, p: (t == p).mean(axis=1)``;
    otherwise it is called once per resample.
    max_undefined: largest tolerated fraction of resamples where the metric is undefined
    (raises UndefinedMetricError or returns NaN); beyond it a ValueError is raised.
    Returns BootstrapCI (point, low, high) with ``.n_undefined`` resamples skipped.
    """
    fn = "bootstrap_ci"
    if not callable(metric_fn):
        raise TypeError(f"{fn}: metric_fn must be callable, got {type(metric_fn).__name__}")
    if not arrays:
        raise ValueError(f"{fn}: pass at least one array to resample")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"{fn}: n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{fn}: alpha must lie in (0, 1), got {alpha!r}")
    if not 0.0 <= max_undefined < 1.0:
        raise ValueError(f"{fn}: max_undefined must lie in [0, 1), got {max_undefined!r}")
    data = [chk.host(fn, f"arrays[{i}]", a) for i, a in enumerate(arrays)]
    n = chk.same_length(fn, **{f"arrays[{i}]": a for i, a in enumerate(data)})
    chk.nonempty(fn, **{"arrays[0]": data[0]})
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if batched:  # the full data set is a batch of one "resample"
        point = float(np.asarray(metric_fn(*(a[None] for a in data))).reshape(-1)[0])
    else:
        point = float(metric_fn(*data))
    idx = resample_indices(n, int(n_boot), rng, stratify)
    if batched:
        values = np.asarray(metric_fn(*(a[idx] for a in data)), dtype=np.float64)
        if values.shape != (n_boot,):
            raise ValueError(f"{fn}: batched metric_fn must return shape ({n_boot},), got {values.shape}")
    else:
        values = np.empty(int(n_boot))
        for b in range(int(n_boot)):  # arbitrary metrics: one call per resample
            try:
                values[b] = metric_fn(*(a[idx[b]] for a in data))
            except UndefinedMetricError:
                values[b] = np.nan
    defined = np.isfinite(values)
    n_undefined = int(n_boot - defined.sum())
    if n_undefined > max_undefined * n_boot:
        raise ValueError(
            f"{fn}: metric undefined on {n_undefined} of {n_boot} resamples (more than "
            f"max_undefined={max_undefined:.0%}); use stratify=y_true or a larger test set"
        )
    low, high = np.quantile(values[defined], [alpha / 2.0, 1.0 - alpha / 2.0])
    return BootstrapCI(point, float(low), float(high), int(n_boot), n_undefined)
