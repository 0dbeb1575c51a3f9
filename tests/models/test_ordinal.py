"""Ordinal heads: ordered outputs, gradients, probabilities, and learning an ordinal signal."""

from __future__ import annotations

import numpy as np

import engine
import engine.nn.functional as F
from models.ordinal import CoralHead, CumulativeLinkHead, ordinal_predict, ordinal_probabilities


def test_cumulative_head_keeps_cutpoints_ordered_for_any_parameters():
    head = CumulativeLinkHead(5)
    with engine.no_grad():
        head.log_gaps.data[...] = engine.tensor(np.array([-8.0, 3.0, -1.0], dtype=np.float32)).data
    theta = head.cutpoints().detach().numpy()
    assert np.all(np.diff(theta) > 0)
    g = head(engine.tensor(np.array([[0.3]], dtype=np.float32))).detach().numpy()
    np.testing.assert_allclose(g[0], 0.3 - theta, rtol=1e-6)


def test_heads_gradcheck():
    x = engine.tensor(np.random.default_rng(0).normal(size=(4, 1)))
    engine.gradcheck_module(CumulativeLinkHead(4), x)
    engine.gradcheck_module(CoralHead(4), x)


def test_probabilities_and_prediction():
    logits = np.array([[2.0, 0.0, -2.0], [-3.0, -4.0, -5.0], [5.0, 4.0, 3.0]])
    p = ordinal_probabilities(logits)
    s = 1 / (1 + np.exp(-logits[0]))
    np.testing.assert_allclose(p[0], [1 - s[0], s[0] - s[1], s[1] - s[2], s[2]])
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(ordinal_predict(logits), [1, 0, 3])
    # a non-monotone CORAL output is clipped, never negative
    assert (ordinal_probabilities(np.array([[-1.0, 1.0, 0.0]])) >= 0).all()


def test_cumulative_link_recovers_cutpoints_of_a_proportional_odds_model():
    rng = np.random.default_rng(0)
    n, theta = 4000, np.array([-1.0, 0.5, 2.0])
    x = rng.normal(size=(n, 1))
    latent = 1.5 * x[:, 0] + rng.logistic(size=n)  # P(y > k) = sigmoid(1.5 x - theta_k)
    y = (latent[:, None] > theta[None, :]).sum(1)
    engine.manual_seed(0)
    linear = engine.nn.Linear(1, 1, bias=False).double()
    head = CumulativeLinkHead(4).double()
    params = list(linear.parameters()) + list(head.parameters())
    opt = engine.optim.Adam(params, lr=0.05)
    xt, yt = engine.tensor(x), engine.tensor(y)
    for _ in range(300):
        opt.zero_grad()
        loss = F.cumulative_link_loss(head(linear(xt)), yt)
        loss.backward()
        opt.step()
    np.testing.assert_allclose(linear.weight.detach().numpy()[0, 0], 1.5, atol=0.1)
    np.testing.assert_allclose(head.cutpoints().detach().numpy(), theta, atol=0.12)
