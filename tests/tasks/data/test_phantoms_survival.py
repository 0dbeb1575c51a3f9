"""tasks.data.phantoms.survival: Cox proportional-hazards cohorts with independent censoring."""

import numpy as np
import pytest
from scipy import optimize

from tasks.data.phantoms.survival import censoring_rate, cox_event_times, make_survival_cohort


def _concordance(risk, times):
    """Fraction of comparable pairs (all pairs, no censoring) where higher risk has the shorter time."""
    i, j = np.triu_indices(len(risk), k=1)
    higher_first = (risk[i] > risk[j]) == (times[i] < times[j])
    return higher_first.mean()


def _fit_cox(x, times, events):
    """Maximum partial likelihood (Breslow; continuous times have no ties)."""
    order = np.argsort(-times)  # descending: risk sets are prefixes
    x, events = x[order].astype(np.float64), events[order]

    def nll(beta):
        eta = x @ beta
        log_risk_set = np.logaddexp.accumulate(eta)
        w = np.exp(eta - log_risk_set[-1])
        cum_w = np.cumsum(w)
        cum_wx = np.cumsum(w[:, None] * x, axis=0)
        grad = -(x - cum_wx / cum_w[:, None])[events].sum(0)
        return -(eta - log_risk_set)[events].sum(), grad

    return optimize.minimize(nll, np.zeros(x.shape[1]), jac=True, method="BFGS").x


def test_contract_and_observation_model():
    d = make_survival_cohort(300, n_features=4, seed=0)
    assert d["features"].shape == (300, 4) and d["features"].dtype == np.float32
    assert d["times"].shape == d["events"].shape == d["risk"].shape == (300,)
    assert d["events"].dtype == bool
    assert np.allclose(d["times"], np.minimum(d["event_times"], d["censoring_times"]))
    assert np.array_equal(d["events"], d["event_times"] <= d["censoring_times"])
    assert np.allclose(d["risk"], d["features"] @ d["coefficients"], atol=1e-5)
    assert np.allclose(d["coefficients"], [0.8, 0.6, 0.3, 0.0])


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_censoring_fraction_is_near_the_requested_one(fraction):
    d = make_survival_cohort(4000, censoring_fraction=fraction, seed=1)
    assert 1 - d["events"].mean() == pytest.approx(fraction, abs=0.03)


def test_no_censoring():
    d = make_survival_cohort(100, censoring_fraction=0.0, seed=2)
    assert d["events"].all() and np.isinf(d["censoring_times"]).all()
    assert censoring_rate(np.ones(5), 0.0) == 0.0


def test_higher_risk_means_shorter_survival():
    d = make_survival_cohort(1500, censoring_fraction=0.0, seed=3)
    assert _concordance(d["risk"], d["event_times"]) > 0.7
    high = d["risk"] > np.median(d["risk"])
    assert np.median(d["event_times"][high]) < np.median(d["event_times"][~high])


def test_exponential_baseline_gives_exponential_times():
    # T exp(eta) / scale ~ Exp(1) exactly under the model
    risk = np.random.default_rng(0).normal(size=20000)
    t = cox_event_times(risk, "exponential", scale=5.0, seed=4)
    z = t * np.exp(risk) / 5.0
    assert z.mean() == pytest.approx(1.0, abs=0.03) and z.std() == pytest.approx(1.0, abs=0.03)
    # Weibull: (T / s)^nu exp(eta) ~ Exp(1)
    w = cox_event_times(risk, "weibull", shape=2.0, scale=3.0, seed=4)
    assert ((w / 3.0) ** 2 * np.exp(risk)).mean() == pytest.approx(1.0, abs=0.03)


def test_cox_fit_recovers_the_coefficients():
    d = make_survival_cohort(
        3000, n_features=3, coefficients=[0.7, -0.4, 0.0], censoring_fraction=0.3, seed=5
    )
    beta = _fit_cox(d["features"], d["times"], d["events"])
    assert np.allclose(beta, [0.7, -0.4, 0.0], atol=0.1)


def test_images_whose_lesion_size_drives_the_risk():
    d = make_survival_cohort(60, with_images=True, image_size=32, seed=6)
    assert d["images"].shape == (60, 1, 32, 32) and d["masks"].shape == (60, 32, 32)
    area = d["masks"].sum(axis=(1, 2))
    assert np.corrcoef(area, d["lesion_radius"] ** 2)[0, 1] > 0.95
    assert np.corrcoef(d["features"][:, 0], d["lesion_radius"])[0, 1] == pytest.approx(1.0)
    assert set(np.unique(d["features"][:, 1])) == {0.0, 1.0}


def test_determinism_and_errors():
    a, b, c = (make_survival_cohort(50, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a["times"], b["times"]) and not np.array_equal(a["times"], c["times"])
    with pytest.raises(ValueError, match="coefficients"):
        make_survival_cohort(10, n_features=3, coefficients=[1.0])
    with pytest.raises(ValueError, match="baseline"):
        cox_event_times(np.zeros(3), "gompertz")
