"""Losses and activations stay finite (and correct) for logits of magnitude 1e4."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F

BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32)


def _finite_value_and_grad(fn, dtype=np.float32):
    x = engine.tensor(BIG.astype(dtype), requires_grad=True)
    y = fn(x)
    y.sum().backward() if y.ndim else y.backward()
    assert np.isfinite(y.detach().numpy()).all(), y
    assert np.isfinite(x.grad.numpy()).all(), x.grad
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize(
    "fn",
    [
        engine.sigmoid,
        engine.tanh,
        engine.softplus,
        lambda x: x.softmax(dim=1),
        lambda x: x.log_softmax(dim=1),
        lambda x: x.logsumexp(dim=1),
        lambda x: F.cross_entropy(x, engine.tensor([1, 2])),
        lambda x: F.cross_entropy(x, engine.tensor([1, 2]), label_smoothing=0.1),
        lambda x: F.binary_cross_entropy_with_logits(x, engine.ones(2, 3)),
        lambda x: F.binary_cross_entropy_with_logits(x, engine.zeros(2, 3), pos_weight=engine.tensor([3.0] * 3)),
        lambda x: F.kl_div(x.log_softmax(dim=1), engine.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]),
                           reduction="batchmean"),
        engine.gelu,
        engine.elu,
    ],
)
def test_finite_at_magnitude_1e4(fn):
    _finite_value_and_grad(fn)


def test_large_logit_values_are_exact():
    y, g = _finite_value_and_grad(lambda x: x.log_softmax(dim=1))
    np.testing.assert_allclose(y[0], [0.0, -2e4, -1e4])
    loss, grad = _finite_value_and_grad(lambda x: F.cross_entropy(x, engine.tensor([1, 2])))
    assert loss == pytest.approx(1e4)  # (2e4 + 0) / 2
    np.testing.assert_allclose(grad[0], [0.5, -0.5, 0.0], atol=1e-6)


def test_sigmoid_saturates_without_overflow_warnings():
    x = engine.tensor([-1e4, 1e4])
    np.testing.assert_array_equal(engine.sigmoid(x).numpy(), [0.0, 1.0])


def test_binary_cross_entropy_clamps_log_like_pytorch():
    p = engine.tensor([0.0, 1.0])
    y = engine.tensor([1.0, 0.0])
    assert F.binary_cross_entropy(p, y).item() == pytest.approx(100.0)
