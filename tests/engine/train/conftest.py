"""A tiny classifier, data and loaders shared by the training tests.

The model is built from Module + Parameter + ops directly (no layer library needed). Its forward
pass multiplies the hidden units by noise drawn from the engine's generator in training mode —
like dropout — so the tests also check that the random state is reproduced and resumed.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import backend
from engine.data import DataLoader, TensorDataset
from engine.nn import Module, Parameter
from engine.tensor import Tensor


class TinyNet(Module):
    """x: (N, 4) -> logits (N, 3): one hidden ReLU layer of 8 units, with multiplicative noise."""

    def __init__(self, noise: float = 0.1):
        super().__init__()
        g = engine.random.default_generator()
        self.w1 = Parameter((0.5 * g.standard_normal((4, 8))).astype(np.float32))
        self.b1 = Parameter(np.zeros(8, np.float32))
        self.w2 = Parameter((0.5 * g.standard_normal((8, 3))).astype(np.float32))
        self.b2 = Parameter(np.zeros(3, np.float32))
        self.noise = noise

    def forward(self, x):
        h = engine.relu(x @ self.w1 + self.b1)
        if self.training and self.noise:
            draw = 1.0 + self.noise * engine.random.default_generator().standard_normal(h.shape)
            h = h * Tensor(backend.to_device(draw.astype(np.float32), h.device))
        return h @ self.w2 + self.b2


def accuracy(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(predictions.argmax(axis=1) == targets))


def make_data(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def make_loaders(batch_size: int = 16, seed: int = 5):
    x, y = make_data(64, 0)
    xv, yv = make_data(32, 1)
    train = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    val = DataLoader(TensorDataset(xv, yv), batch_size=batch_size)
    return train, val


def make_model(seed: int = 0, noise: float = 0.1) -> TinyNet:
    engine.manual_seed(seed)
    return TinyNet(noise)


@pytest.fixture
def tiny():
    """Factories: tiny.model(), tiny.loaders(), tiny.data(), tiny.accuracy, tiny.loss."""

    class Kit:
        model = staticmethod(make_model)
        loaders = staticmethod(make_loaders)
        data = staticmethod(make_data)
        accuracy = staticmethod(accuracy)
        loss = staticmethod(F.cross_entropy)
        Net = TinyNet

    return Kit
