"""Linear Cox model (Newton fit) against lifelines and scipy; DeepSurv gradients and learning."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

import engine
import engine.nn.functional as F
from engine.nn.utils import swap_parameters
from models.deepsurv import DeepSurv, LinearCox
from tasks.data.phantoms.survival import make_survival_cohort


def _standardised_cohort(seed=0, n=200, tie_step=None):
    d = make_survival_cohort(n, n_features=4, seed=seed)
    x = d["features"].astype(np.float64)
    x = (x - x.mean(0)) / x.std(0, ddof=1)  # lifelines standardises with ddof=1 internally
    t = d["times"].astype(np.float64)
    if tie_step is not None:
        t = np.ceil(t / tie_step) * tie_step  # coarse follow-up visits: many tied times
    return x, t, d["events"]


@pytest.mark.parametrize("penalizer", [0.0, 0.5])
def test_linear_cox_matches_lifelines(penalizer):
    lifelines = pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    import pandas as pd

    x, t, e = _standardised_cohort(tie_step=1.0)
    assert len(np.unique(t)) < len(t) // 3  # the Efron correction is exercised
    df = pd.DataFrame(x, columns=list("abcd")).assign(T=t, E=e)
    cph = lifelines.CoxPHFitter(penalizer=penalizer).fit(df, "T", "E")
    model = LinearCox(4).fit(x, t, e, l2=penalizer)
    np.testing.assert_allclose(model.coefficients, cph.params_.values, atol=2e-5)


def test_linear_cox_breslow_matches_direct_optimisation():
    x, t, e = _standardised_cohort(seed=1, tie_step=2.0)

    def nll(beta):
        eta = x @ beta
        return sum(-(eta[e & (t == s)].sum() - (e & (t == s)).sum() * np.log(np.exp(eta[t >= s]).sum()))
                   for s in np.unique(t[e])) / len(t)

    expected = optimize.minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    model = LinearCox(4).fit(x, t, e, ties="breslow")
    np.testing.assert_allclose(model.coefficients, expected, atol=1e-4)
    efron = LinearCox(4).fit(x, t, e, ties="efron").coefficients
    assert np.abs(efron - expected).max() > 1e-3  # with heavy ties the two estimators really differ


def test_linear_cox_recovers_the_generating_coefficients():
    d = make_survival_cohort(3000, n_features=4, censoring_fraction=0.3, seed=3)
    model = LinearCox(4).fit(d["features"], d["times"], d["events"])
    np.testing.assert_allclose(model.coefficients, d["coefficients"], atol=0.07)


def test_deepsurv_gradcheck_and_shape():
    model = DeepSurv(3, hidden=(4,), dropout=0.0).to(dtype=np.float64)
    x = engine.tensor(np.random.default_rng(0).normal(size=(6, 3)))
    t = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 4.0])
    e = np.array([1, 1, 0, 1, 1, 0])
    assert model(x).shape == (6, 1)
    engine.gradcheck_module(model, x)  # the network itself
    names = [n for n, _ in model.named_parameters()]

    def loss(*values):  # ... and the loss through it, with respect to every parameter
        with swap_parameters(model, dict(zip(names, values))):
            return F.cox_ph_loss(model(x), t, e)

    engine.gradcheck(loss, [p.detach() for p in model.parameters()])
    assert model.mlp.net[len(model.mlp.net) - 1].bias is None


def test_deepsurv_learns_a_nonlinear_risk():
    # risk = x0^2: a linear Cox model cannot rank it, DeepSurv can
    from tasks.metrics import concordance_index

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2)).astype(np.float32)
    risk = 1.5 * x[:, 0] ** 2
    t = rng.exponential(1.0 / np.exp(risk)).astype(np.float32)
    e = rng.random(600) < 0.8
    engine.manual_seed(0)
    model = DeepSurv(2, hidden=(16, 16), dropout=0.0)
    opt = engine.optim.Adam(model.parameters(), lr=1e-2)
    xt = engine.tensor(x[:400])
    for _ in range(150):
        opt.zero_grad()
        loss = F.cox_ph_loss(model(xt), t[:400], e[:400])
        loss.backward()
        opt.step()
    model.eval()
    with engine.no_grad():
        deep = concordance_index(t[400:], model(engine.tensor(x[400:])).numpy()[:, 0], e[400:])
    linear = LinearCox(2).fit(x[:400], t[:400], e[:400])
    lin = concordance_index(t[400:], x[400:] @ linear.coefficients, e[400:])
    oracle = concordance_index(t[400:], risk[400:], e[400:])  # the true risk: 0.72
    assert deep > oracle - 0.04 and lin < 0.6
