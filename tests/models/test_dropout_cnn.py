"""DropoutCNN and Monte-Carlo dropout prediction."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from models.dropout_cnn import DropoutCNN, mc_dropout_probabilities


def test_mc_dropout_samples_differ_and_eval_mode_is_restored():
    engine.manual_seed(0)
    model = DropoutCNN(1, 3, (12, 12), width=4, p=0.5)
    model.eval()
    x = np.random.default_rng(0).random((5, 1, 12, 12)).astype(np.float32)
    mc = mc_dropout_probabilities(model, x, samples=6)
    assert mc.shape == (6, 5, 3)
    np.testing.assert_allclose(mc.sum(-1), 1.0, rtol=1e-5)
    assert np.ptp(mc[:, 0, 0]) > 1e-4  # dropout is active: the samples are different networks
    assert not model.training
    with engine.no_grad():
        a, b = model(engine.tensor(x)).numpy(), model(engine.tensor(x)).numpy()
    np.testing.assert_array_equal(a, b)  # eval mode: deterministic


def test_3d_inputs_and_small_inputs():
    assert DropoutCNN(2, 2, (8, 8, 8), width=2)(engine.zeros((1, 2, 8, 8, 8))).shape == (1, 2)
    with pytest.raises(ValueError, match=r"at least 8 pixels per side, got \(6, 6\)"):
        DropoutCNN(1, 2, (6, 6))
