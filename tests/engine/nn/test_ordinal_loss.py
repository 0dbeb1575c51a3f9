"""Ordinal losses (CORAL, cumulative link): formulas, gradients, extreme logits, PyTorch oracle."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F

RNG = np.random.default_rng(0)
Y = np.array([0, 1, 2, 3, 3, 0, 1])
G = RNG.normal(size=(7, 3))
F_SCORE = RNG.normal(size=7)
THETA = np.array([-1.0, 0.2, 1.5])
G_ORDERED = F_SCORE[:, None] - THETA[None, :]  # decreasing along k, as the cumulative link head makes them


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_coral_matches_binary_cross_entropy_sum():
    levels = (Y[:, None] > np.arange(3)).astype(float)
    s = _sigmoid(G)
    expected = -(levels * np.log(s) + (1 - levels) * np.log(1 - s)).sum(1)
    np.testing.assert_allclose(F.coral_loss(engine.tensor(G), engine.tensor(Y), reduction="none").numpy(), expected,
                               rtol=1e-12)
    w = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(F.coral_loss(engine.tensor(G), engine.tensor(Y), importance=engine.tensor(w)).numpy(),
                               (-(levels * np.log(s) + (1 - levels) * np.log(1 - s)) * w).sum(1).mean(), rtol=1e-12)


def test_cumulative_link_is_minus_log_class_probability():
    cuts = np.r_[-np.inf, THETA, np.inf]
    expected = -np.log(_sigmoid(cuts[Y + 1] - F_SCORE) - _sigmoid(cuts[Y] - F_SCORE))
    got = F.cumulative_link_loss(engine.tensor(G_ORDERED), engine.tensor(Y), reduction="none").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the K class probabilities sum to 1: the loss of each grade, exponentiated
    all_grades = [F.cumulative_link_loss(engine.tensor(G_ORDERED), engine.tensor(np.full(7, k)), reduction="none")
                  .numpy() for k in range(4)]
    np.testing.assert_allclose(np.exp(-np.array(all_grades)).sum(0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("name", ["coral", "cumulative"])
def test_gradcheck_and_second_derivatives(name, device):
    fn = F.coral_loss if name == "coral" else F.cumulative_link_loss
    g = G if name == "coral" else G_ORDERED
    y = engine.tensor(Y, device=device)
    engine.gradcheck(lambda a: fn(a, y), [engine.tensor(g, device=device, requires_grad=True)])
    engine.gradgradcheck(lambda a: fn(a, y), [engine.tensor(g, device=device, requires_grad=True)])


@pytest.mark.parametrize("name", ["coral", "cumulative"])
def test_confident_float32_logits_stay_finite(name):
    fn = F.coral_loss if name == "coral" else F.cumulative_link_loss
    x = engine.tensor((G_ORDERED + 40.0).astype(np.float32), requires_grad=True)  # every P(y > k) rounds to 1
    loss = fn(x, engine.tensor(Y))
    loss.backward()
    assert loss.dtype == np.float32 and np.isfinite(loss.detach().numpy()) and np.isfinite(x.grad.numpy()).all()
    # grade 1 with g_0 = 40.8, g_1 = 39.6: -log(sigmoid(g_0) - sigmoid(g_1)) = 39.6 + ... (not inf, not 0)
    if name == "cumulative":
        per = F.cumulative_link_loss(engine.tensor(G_ORDERED + 40.0), engine.tensor(Y), reduction="none").numpy()
        a, b = G_ORDERED[1, 0] + 40, G_ORDERED[1, 1] + 40
        np.testing.assert_allclose(per[1], b - np.log1p(-np.exp(b - a)) + np.log1p(np.exp(-a)) + np.log1p(np.exp(-b)),
                                   rtol=1e-9)


@pytest.mark.torch
def test_coral_matches_torch(torch):
    x = engine.tensor(G, requires_grad=True)
    ours = F.coral_loss(x, engine.tensor(Y))
    ours.backward()
    tx = torch.tensor(G, requires_grad=True)
    levels = (torch.tensor(Y)[:, None] > torch.arange(3)[None, :]).double()
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(tx, levels, reduction="none").sum(1).mean()
    theirs.backward()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


def test_bad_targets():
    with pytest.raises(ValueError, match=r"grades must lie in \[0, 4\)"):
        F.coral_loss(engine.tensor(G), engine.tensor(np.array([0, 1, 2, 4, 0, 0, 0])))
    with pytest.raises(TypeError, match="integer grades"):
        F.cumulative_link_loss(engine.tensor(G), engine.tensor(Y.astype(float)))
    with pytest.raises(ValueError, match=r"\(N, K-1\)"):
        F.coral_loss(engine.tensor(G[:, 0]), engine.tensor(Y))
