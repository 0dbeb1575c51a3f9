"""Cox partial likelihood loss: the textbook formula, gradients, ties, extreme scores, oracles."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine.nn.functional.survival_loss import cox_ph_loss_naive

RNG = np.random.default_rng(0)
N = 24
ETA = RNG.normal(size=N)
TIME_TIED = RNG.integers(1, 7, N).astype(np.float64)  # many ties
TIME = RNG.exponential(5.0, N)  # no ties
EVENT = (RNG.random(N) < 0.7).astype(np.float64)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("times", ["tied", "distinct"])
def test_matches_textbook_formula(ties, times, device):
    t = TIME_TIED if times == "tied" else TIME
    loss = F.cox_ph_loss(engine.tensor(ETA, device=device), engine.tensor(t, device=device),
                         engine.tensor(EVENT, device=device), ties=ties, reduction="sum")
    np.testing.assert_allclose(loss.numpy(), cox_ph_loss_naive(ETA, t, EVENT, ties), rtol=1e-12)
    mean = F.cox_ph_loss(engine.tensor(ETA, device=device), engine.tensor(t, device=device),
                         engine.tensor(EVENT, device=device), ties=ties)
    np.testing.assert_allclose(mean.numpy(), cox_ph_loss_naive(ETA, t, EVENT, ties) / EVENT.sum(), rtol=1e-12)


def test_efron_and_breslow_differ_only_with_ties():
    a = F.cox_ph_loss(engine.tensor(ETA), TIME, EVENT, ties="efron").numpy()
    b = F.cox_ph_loss(engine.tensor(ETA), TIME, EVENT, ties="breslow").numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)
    a = F.cox_ph_loss(engine.tensor(ETA), TIME_TIED, EVENT, ties="efron").numpy()
    b = F.cox_ph_loss(engine.tensor(ETA), TIME_TIED, EVENT, ties="breslow").numpy()
    assert b > a + 0.1  # Breslow's full risk sets give a larger loss


def test_hand_computed_example():
    # times 1 (event), 2 (event), 2 (event), 3 (censored); scores 0, 1, 2, 3
    eta, t, e = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0]), np.array([1, 1, 1, 0])
    ex = np.exp(eta)
    first = -(0.0 - np.log(ex.sum()))
    breslow = first - (1.0 + 2.0 - 2 * np.log(ex[1:].sum()))
    efron = first - (1.0 + 2.0 - np.log(ex[1:].sum()) - np.log(ex[1:].sum() - 0.5 * (ex[1] + ex[2])))
    np.testing.assert_allclose(F.cox_ph_loss(engine.tensor(eta), t, e, ties="breslow", reduction="sum").numpy(),
                               breslow, rtol=1e-12)
    np.testing.assert_allclose(F.cox_ph_loss(engine.tensor(eta), t, e, reduction="sum").numpy(), efron, rtol=1e-12)
    per = F.cox_ph_loss(engine.tensor(eta), t, e, ties="breslow", reduction="none").numpy()
    np.testing.assert_allclose(per, [np.log(ex.sum()), np.log(ex[1:].sum()) - 1.0, np.log(ex[1:].sum()) - 2.0, 0.0],
                               rtol=1e-12)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_and_second_derivatives(ties, reduction, device):
    t = engine.tensor(TIME_TIED, device=device)
    e = engine.tensor(EVENT, device=device)
    x = engine.tensor(ETA, device=device, requires_grad=True)
    engine.gradcheck(lambda a: F.cox_ph_loss(a, t, e, ties=ties, reduction=reduction), [x])
    engine.gradgradcheck(lambda a: F.cox_ph_loss(a, t, e, ties=ties, reduction=reduction), [x])


def test_gradient_is_event_minus_risk_set_shares():
    # d(-log L)/d eta_j = sum over events i with t_j >= t_i of p_ij - e_j (distinct times)
    x = engine.tensor(ETA, requires_grad=True)
    F.cox_ph_loss(x, TIME, EVENT, reduction="sum").backward()
    expected = -EVENT.copy()
    for i in np.flatnonzero(EVENT):
        at_risk = TIME >= TIME[i]
        expected[at_risk] += np.exp(ETA[at_risk]) / np.exp(ETA[at_risk]).sum()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_extreme_scores_stay_finite_and_exact():
    eta = ETA * 1000.0  # risk sets far below the largest score: a single max-shift underflows to log 0
    loss = F.cox_ph_loss(engine.tensor(eta, requires_grad=True), TIME, EVENT, reduction="sum")
    order = np.argsort(-TIME)
    log_risk = np.logaddexp.accumulate(eta[order])
    expected = ((log_risk - eta[order]) * EVENT[order]).sum()
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-12)
    loss.backward()
    assert np.isfinite(loss.detach().numpy())


def test_float32_stays_float32_and_shape_n1_is_accepted():
    x = engine.tensor(ETA.astype(np.float32).reshape(-1, 1), requires_grad=True)
    loss = F.cox_ph_loss(x, TIME, EVENT)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.shape == (N, 1) and x.grad.dtype == np.float32


def test_no_events_gives_zero_loss_and_gradient():
    x = engine.tensor(ETA, requires_grad=True)
    loss = F.cox_ph_loss(x, TIME, np.zeros(N))
    loss.backward()
    assert float(loss.detach().numpy()) == 0.0 and not np.any(x.grad.numpy())


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match=r"cox_ph_loss: input must be \(N,\) or \(N, 1\)"):
        F.cox_ph_loss(engine.tensor(np.zeros((3, 2))), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"time \(2,\) and event \(3,\)"):
        F.cox_ph_loss(engine.tensor(np.zeros(3)), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="ties must be one of"):
        F.cox_ph_loss(engine.tensor(np.zeros(3)), np.ones(3), np.ones(3), ties="exact")


def test_logcumsumexp_and_cumsum(device):
    x = RNG.normal(size=13) * 30
    np.testing.assert_allclose(F.logcumsumexp(engine.tensor(x, device=device)).numpy(),
                               np.logaddexp.accumulate(x), rtol=1e-13)
    engine.gradcheck(F.logcumsumexp, [engine.tensor(x / 30, device=device, requires_grad=True)])
    engine.gradgradcheck(F.logcumsumexp, [engine.tensor(x / 30, device=device, requires_grad=True)])
    m = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(F.cumsum(engine.tensor(m, device=device), dim=1).numpy(), np.cumsum(m, 1))
    engine.gradcheck(lambda a: F.cumsum(a, dim=0), [engine.tensor(m, device=device, requires_grad=True)])
    engine.gradgradcheck(lambda a: F.cumsum(a, dim=-1), [engine.tensor(m, device=device, requires_grad=True)])


@pytest.mark.torch
def test_breslow_matches_torch(torch):
    # the Breslow loss written in PyTorch with torch.logcumsumexp (distinct times), value and gradient
    order = np.argsort(-TIME)
    tx = torch.tensor(ETA, requires_grad=True)
    s = tx[torch.tensor(order)]
    e = torch.tensor(EVENT[order])
    theirs = ((torch.logcumsumexp(s, 0) - s) * e).sum() / e.sum()
    theirs.backward()
    x = engine.tensor(ETA, requires_grad=True)
    ours = F.cox_ph_loss(x, TIME, EVENT, ties="breslow")
    ours.backward()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_efron_matches_lifelines_log_likelihood():
    lifelines = pytest.importorskip("lifelines", reason="lifelines is not installed: oracle comparison skipped")
    import pandas as pd

    x = RNG.normal(size=(60, 2))
    t = RNG.integers(1, 15, 60).astype(float)  # heavy ties: Efron matters
    e = RNG.random(60) < 0.6
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "T": t, "E": e})
    cph = lifelines.CoxPHFitter().fit(df, "T", "E")
    eta = x @ cph.params_.values
    ours = F.cox_ph_loss(engine.tensor(eta), t, e, reduction="sum").numpy()
    np.testing.assert_allclose(-ours, cph.log_likelihood_, rtol=1e-8)


def test_logcumsumexp_array_backward_matches_the_composed_one(device):
    from engine.nn.functional.survival_loss import _logcumsumexp_composed

    x = RNG.normal(size=37) * np.r_[np.ones(30), 400.0 * np.ones(7)]  # some extreme scores
    g = RNG.normal(size=37)  # an upstream gradient of both signs
    a = engine.tensor(x, device=device, requires_grad=True)
    F.logcumsumexp(a).backward(engine.tensor(g, device=device))  # the fast array path
    b = engine.tensor(x, device=device, requires_grad=True)
    _logcumsumexp_composed(b).backward(engine.tensor(g, device=device))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert np.isfinite(a.grad.numpy()).all()
