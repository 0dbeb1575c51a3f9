"""Kaplan-Meier and the log-rank test: hand-computed examples and lifelines as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.metrics import UndefinedMetricError
from tasks.metrics.survival import kaplan_meier, logrank_test, median_survival, survival_at

RNG = np.random.default_rng(0)
T = RNG.integers(1, 30, 80).astype(float)
E = RNG.random(80) < 0.7
G = RNG.integers(0, 2, 80)
G3 = RNG.integers(0, 3, 80)


def test_kaplan_meier_by_hand():
    # times 1, 2+, 3, 3, 4+ (+ = censored): S drops at 1 (1 - 1/5) and at 3 (1 - 2/3)
    km = kaplan_meier([1, 2, 3, 3, 4], [1, 0, 1, 1, 0])
    np.testing.assert_allclose(km["time"], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(km["survival"], [1, 0.8, 0.8, 0.8 / 3, 0.8 / 3])
    np.testing.assert_array_equal(km["at_risk"], [5, 5, 4, 3, 1])
    np.testing.assert_array_equal(km["censored"], [0, 0, 1, 0, 1])
    # Greenwood: S^2 (1/(5*4) + 2/(3*1)) at t = 3
    np.testing.assert_allclose(km["variance"][3], (0.8 / 3) ** 2 * (1 / 20 + 2 / 3))
    np.testing.assert_allclose(survival_at(km, [0.5, 1.0, 2.9, 3.0, 10.0]), [1, 0.8, 0.8, 0.8 / 3, 0.8 / 3])
    assert median_survival(km) == 3.0


def test_kaplan_meier_matches_lifelines():
    lifelines = pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    km = kaplan_meier(T, E)
    fit = lifelines.KaplanMeierFitter().fit(T, E)
    np.testing.assert_allclose(km["time"], fit.timeline)
    np.testing.assert_allclose(km["survival"], fit.survival_function_.values[:, 0], rtol=1e-12)
    np.testing.assert_array_equal(km["at_risk"], fit.event_table["at_risk"].values)
    assert median_survival(km) == fit.median_survival_time_


def test_logrank_two_groups_matches_lifelines():
    pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    from lifelines.statistics import logrank_test as lr

    ours = logrank_test(T, E, G)
    theirs = lr(T[G == 0], T[G == 1], E[G == 0], E[G == 1])
    np.testing.assert_allclose(ours["statistic"], theirs.test_statistic, rtol=1e-10)
    np.testing.assert_allclose(ours["p_value"], theirs.p_value, rtol=1e-8)
    assert ours["df"] == 1 and ours["observed"].sum() == E.sum()


def test_logrank_k_groups_matches_lifelines():
    pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    from lifelines.statistics import multivariate_logrank_test

    ours = logrank_test(T, E, G3)
    theirs = multivariate_logrank_test(T, G3, E)
    np.testing.assert_allclose(ours["statistic"], theirs.test_statistic, rtol=1e-10)
    np.testing.assert_allclose(ours["p_value"], theirs.p_value, rtol=1e-8)
    assert ours["df"] == 2


def test_logrank_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(1)
    t0, t1 = rng.exponential(1.0, 150), rng.exponential(2.0, 150)  # hazard ratio 2
    t = np.r_[t0, t1]
    g = np.r_[np.zeros(150), np.ones(150)]
    assert logrank_test(t, np.ones(300), g)["p_value"] < 1e-4
    p_null = [logrank_test(rng.exponential(1.0, 100), np.ones(100), np.arange(100) % 2)["p_value"] for _ in range(200)]
    assert 0.02 < np.mean(np.array(p_null) < 0.05) < 0.09  # the test holds its 5% level


def test_undefined_and_bad_inputs():
    with pytest.raises(UndefinedMetricError, match="two groups"):
        logrank_test(T, E, np.zeros(80))
    with pytest.raises(UndefinedMetricError, match="no events"):
        logrank_test(T, np.zeros(80), G)
    with pytest.raises(ValueError, match="non-negative"):
        kaplan_meier([-1.0, 2.0], [1, 1])
    with pytest.raises(ValueError):
        kaplan_meier([1.0, 2.0], [1, 2])


def test_breslow_baseline_and_survival_curves_match_lifelines():
    lifelines = pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    import pandas as pd

    from tasks.metrics.survival import breslow_cumulative_hazard, cox_survival

    x = RNG.normal(size=(80, 2))
    df = pd.DataFrame(x, columns=["a", "b"]).assign(T=T, E=E)
    cph = lifelines.CoxPHFitter(baseline_estimation_method="breslow").fit(df, "T", "E")
    eta = (x - cph._norm_mean.values) @ cph.params_.values  # lifelines centres the covariates
    times, h0 = breslow_cumulative_hazard(T, E, eta)
    ref = cph.baseline_cumulative_hazard_
    np.testing.assert_allclose(h0, ref.loc[times].values[:, 0], rtol=1e-10)
    grid = list(times[[1, 5, 10]])  # on lifelines' timeline: it interpolates linearly between its points
    np.testing.assert_allclose(cox_survival(times, h0, eta[:6], grid),
                               cph.predict_survival_function(df.iloc[:6], times=grid).values.T, rtol=1e-10)


def test_brier_score_without_censoring_is_the_squared_error():
    from tasks.metrics.survival import brier_scores, integrated_brier_score

    t = np.array([1.0, 2.0, 3.0, 4.0])
    s = RNG.random((4, 3))
    grid = np.array([1.5, 2.5, 3.5])
    alive = (t[:, None] > grid[None, :]).astype(float)
    np.testing.assert_allclose(brier_scores(t, np.ones(4), s, grid), ((s - alive) ** 2).mean(0))
    assert integrated_brier_score(t, np.ones(4), alive, grid) == 0.0  # a perfect prediction
    assert abs(integrated_brier_score(t, np.ones(4), np.full((4, 3), 0.5), grid) - 0.25) < 1e-12


def test_brier_score_weights_by_inverse_censoring_probability():
    from tasks.metrics.survival import brier_scores

    # times 1 (event), 2 (censored), 3, 4 (events); at t = 2.5 the censoring survival G is 2/3
    t, e = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1])
    s = np.array([[0.2], [0.5], [0.7], [0.9]])
    expected = (0.2**2 / 1.0 + 0.0 + (1 - 0.7) ** 2 / (2 / 3) + (1 - 0.9) ** 2 / (2 / 3)) / 4
    np.testing.assert_allclose(brier_scores(t, e, s, [2.5]), [expected])


def test_logrank_with_two_patients_left_at_risk_matches_lifelines():
    # the hypergeometric variance's tie factor (n - d) / (n - 1) is exercised at n = 2 and n = 3
    pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    from lifelines.statistics import logrank_test as lr

    t = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0])
    e = np.array([1, 1, 1, 0, 1, 1, 1, 1])
    g = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    ours = logrank_test(t, e, g)
    theirs = lr(t[g == 0], t[g == 1], e[g == 0], e[g == 1])
    np.testing.assert_allclose(ours["statistic"], theirs.test_statistic, rtol=1e-10)


def test_cox_survival_steps_at_each_event_time_and_is_one_before_the_first():
    from tasks.metrics.survival import breslow_cumulative_hazard, cox_survival

    times, h0 = breslow_cumulative_hazard([1.0, 2.0, 3.0], [1, 1, 1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(h0, [1 / 3, 1 / 3 + 1 / 2, 1 / 3 + 1 / 2 + 1])  # Nelson-Aalen when risks are 0
    s = cox_survival(times, h0, [0.0, np.log(2.0)], [0.5, 1.0, 2.5])
    np.testing.assert_allclose(s[0], [1.0, np.exp(-1 / 3), np.exp(-5 / 6)])
    np.testing.assert_allclose(s[1], [1.0, np.exp(-2 / 3), np.exp(-5 / 3)])  # risk doubles the hazard
