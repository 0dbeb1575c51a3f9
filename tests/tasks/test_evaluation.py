"""Case-level evaluation: means with bootstrap intervals, undefined cases counted, not hidden."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.evaluation import format_ci, metric_ci, summarize_cases


def test_mean_and_interval_of_per_case_values():
    rng = np.random.default_rng(0)
    dice = rng.normal(0.8, 0.05, size=400)
    out = summarize_cases({"dice": dice}, n_boot=2000, seed=1)
    assert out["n"] == 400 and out["dice"] == pytest.approx(dice.mean())
    low, high = out["dice_ci"]
    # the percentile interval of a mean is close to mean +- 1.96 standard errors
    se = dice.std(ddof=1) / np.sqrt(400)
    assert low == pytest.approx(dice.mean() - 1.96 * se, abs=0.25 * se)
    assert high == pytest.approx(dice.mean() + 1.96 * se, abs=0.25 * se)
    assert summarize_cases({"dice": dice}, n_boot=2000, seed=1) == out  # seeded


def test_undefined_cases_are_counted_and_excluded():
    hd = np.array([1.0, 2.0, np.inf, 3.0])
    out = summarize_cases({"hd95": hd, "dice": [0.5, 0.6, 0.0, 0.7]}, n_boot=500)
    assert out["hd95"] == pytest.approx(2.0) and out["hd95_undefined"] == 1
    assert out["dice"] == pytest.approx(0.45) and "dice_undefined" not in out
    assert summarize_cases({"x": [np.nan, np.nan]})["x"] is None


def test_mismatched_and_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="different numbers of cases"):
        summarize_cases({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="no cases"):
        summarize_cases({"a": []})


def test_metric_ci_of_a_set_metric():
    from tasks.metrics import roc_auc

    y = np.array([0, 1] * 50)
    s = y + np.random.default_rng(0).normal(0, 0.8, 100)
    low, high = metric_ci(roc_auc, y, s, n_boot=500, stratify=y)
    assert low < roc_auc(y, s) < high and high - low < 0.3
    assert metric_ci(roc_auc, np.zeros(10, int), np.arange(10.0), n_boot=100) is None  # undefined everywhere


def test_format_ci():
    assert format_ci({"auc": 0.9123, "auc_ci": [0.85, 0.95]}, "auc") == "0.912 (0.850-0.950)"
    assert format_ci({"auc": None}, "auc") == "n/a"


def test_summary_interval_is_the_percentile_interval_of_the_resampled_finite_means():
    # the definition, written as a plain loop over the same resamples
    from tasks.metrics import resample_indices

    values = np.array([0.9, 0.2, np.nan, 0.75, 0.4, np.inf, 0.65, 0.8, 0.1, 0.55])
    out = summarize_cases({"all_undefined": [np.nan] * 10, "hd": values[:, None]}, n_boot=300, seed=3, alpha=0.2)
    idx = resample_indices(10, 300, np.random.default_rng(3))
    means = [values[row][np.isfinite(values[row])].mean() for row in idx if np.isfinite(values[row]).any()]
    assert out["hd_ci"] == pytest.approx(list(np.quantile(means, [0.1, 0.9])))
    assert out["hd"] == pytest.approx(np.mean(values[np.isfinite(values)])) and out["hd_undefined"] == 2
    assert out["all_undefined"] is None and out["all_undefined_undefined"] == 10  # and "hd" after it is summarised


def test_metric_ci_passes_its_settings_to_the_bootstrap():
    from tasks.metrics import bootstrap_ci, roc_auc

    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 30)
    s = y + rng.normal(0, 1.0, 60)
    for settings in (dict(n_boot=50, seed=1, alpha=0.2), dict(n_boot=80, seed=2, alpha=0.05, stratify=y)):
        r = bootstrap_ci(roc_auc, y, s, **settings)
        assert metric_ci(roc_auc, y, s, **settings) == [r.low, r.high]
    # stratified resampling keeps both classes in every resample of a tiny, skewed split
    y_small = np.array([0] + [1] * 19)
    s_small = y_small + rng.normal(0, 0.5, 20)
    assert metric_ci(roc_auc, y_small, s_small, n_boot=300) is None  # 36% of plain resamples lack the negative
    assert metric_ci(roc_auc, y_small, s_small, n_boot=300, stratify=y_small) is not None
