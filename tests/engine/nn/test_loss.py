"""Losses: gradient checks on every device, and equality with torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(5, 4)) * 2
LOGITS_2D = RNG.normal(size=(2, 3, 2, 2))
TARGET = np.array([0, 3, 1, 1, 2])
TARGET_IGNORE = np.array([0, -100, 1, 3, 2])
TARGET_2D = np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]])
PROBS = np.exp(RNG.normal(size=(5, 4)))
PROBS /= PROBS.sum(1, keepdims=True)
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
X = RNG.normal(size=(4, 3))
Y = RNG.normal(size=(4, 3))
BIN_T = (RNG.random((4, 3)) > 0.5).astype(float)
P = RNG.uniform(0.05, 0.95, size=(4, 3))

# name: (engine call, torch call); inputs are float64 arrays, first one is differentiated
CASES = {
    "mse": (lambda F, x, t: F.mse_loss(x, t), (X, Y)),
    "mse_sum": (lambda F, x, t: F.mse_loss(x, t, reduction="sum"), (X, Y)),
    "l1": (lambda F, x, t: F.l1_loss(x, t), (X, Y)),
    "huber": (lambda F, x, t: F.huber_loss(x, t, delta=0.8), (X, Y)),
    "smooth_l1": (lambda F, x, t: F.smooth_l1_loss(x, t, beta=0.5), (X, Y)),
    "smooth_l1_sum": (lambda F, x, t: F.smooth_l1_loss(x, t, reduction="sum", beta=0.5), (X, Y)),
    "smooth_l1_none_beta0": (lambda F, x, t: F.smooth_l1_loss(x, t, reduction="none", beta=0.0), (X, Y)),
    "huber_none": (lambda F, x, t: F.huber_loss(x, t, reduction="none", delta=0.8), (X, Y)),
    "l1_sum": (lambda F, x, t: F.l1_loss(x, t, reduction="sum"), (X, Y)),
    "bce": (lambda F, x, t: F.binary_cross_entropy(x, t), (P, BIN_T)),
    "bce_weight_sum": (lambda F, x, t: F.binary_cross_entropy(x, t, weight=t * 2.0 + 0.5, reduction="sum"),
                       (P, BIN_T)),
    "bce_logits": (lambda F, x, t: F.binary_cross_entropy_with_logits(x, t), (X, BIN_T)),
    "bce_logits_pos_weight": (
        lambda F, x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=t[0] * 0 + 3.0), (X, BIN_T)),
    "bce_logits_none": (lambda F, x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"), (X, BIN_T)),
    "kl_div_batchmean": (lambda F, x, t: F.kl_div(x.log_softmax(dim=1), t, reduction="batchmean"), (LOGITS, PROBS)),
    "kl_div_log_target": (
        lambda F, x, t: F.kl_div(x.log_softmax(dim=1), t.log(), reduction="sum", log_target=True), (LOGITS, PROBS)),
    "ce_probs": (lambda F, x, t: F.cross_entropy(x, t), (LOGITS, PROBS)),
    "ce_probs_smoothing": (lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.2), (LOGITS, PROBS)),
}
INDEX_CASES = {
    "ce": (lambda F, x, t, w: F.cross_entropy(x, t), LOGITS, TARGET),
    "ce_weight": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w), LOGITS, TARGET),
    "ce_ignore_index": (lambda F, x, t, w: F.cross_entropy(x, t, ignore_index=-100), LOGITS, TARGET_IGNORE),
    "ce_smoothing_weight_ignore": (
        lambda F, x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.15), LOGITS, TARGET_IGNORE),
    "ce_sum": (lambda F, x, t, w: F.cross_entropy(x, t, reduction="sum"), LOGITS, TARGET),
    "ce_none_smoothing": (lambda F, x, t, w: F.cross_entropy(x, t, reduction="none", label_smoothing=0.1),
                          LOGITS, TARGET),
    "ce_spatial": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w[:3]), LOGITS_2D, TARGET_2D),
    "nll_weight": (lambda F, x, t, w: F.nll_loss(x.log_softmax(dim=1), t, weight=w), LOGITS, TARGET),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_loss(name, device):
    fn, (x, t) = CASES[name]
    engine.gradcheck(lambda a, b: fn(F, a, b), [engine.tensor(x, device=device, requires_grad=True),
                                                engine.tensor(t, device=device)])


@pytest.mark.parametrize("name", list(INDEX_CASES))
def test_gradcheck_index_loss(name, device):
    fn, x, t = INDEX_CASES[name]
    tt = engine.tensor(t, device=device)
    w = engine.tensor(WEIGHT, device=device)
    engine.gradcheck(lambda a: fn(F, a, tt, w), [engine.tensor(x, device=device, requires_grad=True)])


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name, torch):
    fn, (x, t) = CASES[name]
    ours_x = engine.tensor(x, requires_grad=True)
    ours = fn(F, ours_x, engine.tensor(t))
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = fn(torch.nn.functional, theirs_x, torch.tensor(t))
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(INDEX_CASES))
def test_index_losses_match_torch(name, torch):
    fn, x, t = INDEX_CASES[name]
    ours_x = engine.tensor(x, requires_grad=True)
    ours = fn(F, ours_x, engine.tensor(t), engine.tensor(WEIGHT))
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = fn(torch.nn.functional, theirs_x, torch.tensor(t), torch.tensor(WEIGHT))
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_bad_targets_are_reported():
    x = engine.tensor(LOGITS)
    with pytest.raises(ValueError, match=r"class 7 outside \[0, 4\)"):
        F.cross_entropy(x, engine.tensor([0, 7, 1, 1, 2]))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(x, engine.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(4, 3\) and target shape \(3,\)"):
        F.mse_loss(engine.tensor(X), engine.tensor(Y[0]))
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(engine.tensor(X), engine.tensor(BIN_T))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(engine.tensor(X), engine.tensor(Y), reduction="avg")
    for outside in (1.5, -0.5):  # either side of [0, 1] alone
        with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
            F.binary_cross_entropy(engine.tensor([0.2, outside]), engine.tensor([0.0, 1.0]))


def test_binary_cross_entropy_clamps_each_log_at_minus_100_as_pytorch_does():
    p = engine.tensor(np.array([0.0, 1e-45, 1.0, 0.5]), requires_grad=True)  # float64: log(1e-45) = -103.6
    loss = F.binary_cross_entropy(p, engine.tensor([1.0, 1.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, 100.0, 100.0, np.log(2)])
    loss.sum().backward()
    assert np.isfinite(p.grad.numpy()).all()
