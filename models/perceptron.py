"""The perceptron (Rosenblatt 1958): one artificial neuron, Output = phi(W^T x + b).

Two ways to train it:

* the classic perceptron learning rule, with phi a step function: for each misclassified
  sample, w <- w + lr * (y - y_hat) * x. It converges when the classes are linearly
  separable (Novikoff 1962), and never settles otherwise (XOR);
* gradient descent, with phi the logistic sigmoid and the binary cross-entropy loss, as any
  other network here: ``model(x)`` returns the logit W^T x + b.
"""

from __future__ import annotations

import numpy as np

import engine
from engine import nn


class Perceptron(nn.Module):
    """A single neuron. x: (N, in_features) -> logits (N,) (or (N, out_features) if > 1)."""

    def __init__(self, in_features: int, out_features: int = 1):
        super().__init__()
        self.in_features = in_features
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x):
        z = self.fc(x.reshape(x.shape[0], -1))
        return z.reshape(-1) if z.shape[1] == 1 else z

    def predict(self, x):
        """Class 1 where W^T x + b > 0 (the step activation), else 0."""
        with engine.no_grad():
            return (self.forward(x).data > 0).astype(np.int64)

    def fit_perceptron_rule(self, x, y, epochs: int = 20, lr: float = 1.0, seed: int = 0) -> list[int]:
        """Train with the classic rule; returns the number of mistakes in each epoch.

        x: (N, in_features) host array; y: (N,) labels in {0, 1}. The rule is online by
        definition (each update changes the next prediction), so it visits samples one at
        a time in a shuffled order; this is the algorithm, not a hot path.
        """
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        y = np.asarray(y)
        if set(np.unique(y)) - {0, 1}:
            raise ValueError(f"Perceptron.fit_perceptron_rule: labels must be 0/1, got {np.unique(y)}")
        w = np.zeros(x.shape[1])
        b = 0.0
        rng = np.random.default_rng(seed)
        mistakes = []
        for _ in range(epochs):
            errors = 0
            for i in rng.permutation(len(x)):
                y_hat = 1 if x[i] @ w + b > 0 else 0
                if y_hat != y[i]:
                    w += lr * (y[i] - y_hat) * x[i]
                    b += lr * (y[i] - y_hat)
                    errors += 1
            mistakes.append(errors)
            if errors == 0:
                break
        device = self.fc.weight.device
        dtype = self.fc.weight.dtype
        self.fc.weight.data = engine.backend.to_device(w.reshape(1, -1).astype(dtype), device)
        self.fc.bias.data = engine.backend.to_device(np.array([b], dtype=dtype), device)
        return mistakes
