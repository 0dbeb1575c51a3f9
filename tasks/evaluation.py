"""Test-split evaluation shared by every experiment: point estimates with bootstrap 95% intervals.

Two shapes of metric cover the tasks:

* per-case metrics (Dice of each segmented image, PSNR of each denoised slice, TRE of each
  registered pair): the reported value is the mean over cases, and its interval comes from
  resampling cases — ``summarize_cases``;
* set-level metrics (AUC, C-index, FROC's CPM) that exist only for a whole set of cases: the
  metric is recomputed on each resample — ``metric_ci``.

Both use percentile-bootstrap intervals (tasks/metrics/bootstrap.py), seeded, so a rerun gives the
same interval.
"""

from __future__ import annotations

import numpy as np

from tasks import metrics as M


def metric_ci(fn, *arrays, n_boot: int = 1000, seed: int = 0, stratify=None, alpha: float = 0.05):
    """[low, high] of ``fn(*arrays)`` by resampling cases, or None when too many resamples leave the
    metric undefined (e.g. a tiny test split whose resamples lack a class)."""
    try:
        r = M.bootstrap_ci(fn, *arrays, n_boot=n_boot, seed=seed, stratify=stratify, alpha=alpha)
    except ValueError:
        return None
    return [float(r.low), float(r.high)]


def summarize_cases(values: dict, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """{metric: per-case values} -> {metric: mean, metric_ci: [low, high], "n": cases}.

    Non-finite per-case values (an HD95 of an empty prediction, say) are counted, reported as
    ``<metric>_undefined`` and left out of that metric's mean, rather than silently turned into 0.
    All metrics are resampled with the same case indices, so their intervals are comparable.
    """
    arrays = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in values.items()}
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"summarize_cases: metrics have different numbers of cases {sorted(sizes)}")
    n = sizes.pop()
    if n == 0:
        raise ValueError("summarize_cases: no cases to summarise")
    idx = M.resample_indices(n, n_boot, np.random.default_rng(seed))
    out: dict = {"n": int(n)}
    for name, a in arrays.items():
        finite = np.isfinite(a)
        if not finite.any():
            out[name], out[f"{name}_ci"] = None, None
            out[f"{name}_undefined"] = int(n)
            continue
        out[name] = float(a[finite].mean())
        # the mean of the finite values of each resample (resamples without any are skipped)
        sample = np.where(finite[idx], a[idx], 0.0)
        counts = finite[idx].sum(1)
        means = sample.sum(1)[counts > 0] / counts[counts > 0]
        lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        out[f"{name}_ci"] = [float(lo), float(hi)]
        if not finite.all():
            out[f"{name}_undefined"] = int((~finite).sum())
    return out


def format_ci(section: dict, key: str, digits: int = 3) -> str:
    """"0.912 (0.871-0.950)" for a summary line; "n/a" when the value is missing."""
    value = section.get(key)
    if value is None:
        return "n/a"
    ci = section.get(f"{key}_ci")
    if not ci:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"
