"""A small CNN with dropout, and Monte-Carlo dropout prediction: the model of active learning.

Gal & Ghahramani ("Dropout as a Bayesian approximation", ICML 2016) read a network trained with
dropout as an approximate Bayesian model: keeping dropout *on* at test time and predicting T times
samples T plausible networks, p_t(y | x), t = 1..T. Their spread is the model's uncertainty, which
BALD uses to choose the images worth labelling (Gal, Islam & Ghahramani, ICML 2017).

DropoutCNN: two conv(3x3)-ReLU-maxpool(2) blocks (``width``, 2 ``width`` channels), then dropout,
Linear(-, 4 width), ReLU, dropout, Linear(4 width, num_classes). 2D or 3D (``dims``); inputs of at
least 8 pixels per side.
"""

from __future__ import annotations

import numpy as np

from engine import nn
from models._layers import layers


class DropoutCNN(nn.Module):
    """x (N, C, *S) -> logits (N, num_classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, spatial_shape=(28, 28), width: int = 8,
                 p: float = 0.3):
        super().__init__()
        dims = len(spatial_shape)
        Conv, _, MaxPool, *_ = layers(dims)
        if min(spatial_shape) < 8:
            raise ValueError(f"DropoutCNN: inputs need at least 8 pixels per side, got {tuple(spatial_shape)}")
        self.features = nn.Sequential(
            Conv(in_channels, width, 3, padding=1), nn.ReLU(), MaxPool(2),
            Conv(width, 2 * width, 3, padding=1), nn.ReLU(), MaxPool(2),
        )
        flat = 2 * width * int(np.prod([s // 4 for s in spatial_shape]))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(p), nn.Linear(flat, 4 * width), nn.ReLU(),
                                        nn.Dropout(p), nn.Linear(4 * width, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def mc_dropout_probabilities(model, x: np.ndarray, samples: int = 10, batch: int = 512) -> np.ndarray:
    """(samples, N, K) softmax probabilities with dropout active (the model is left in eval mode)."""
    import engine

    model.train()  # dropout on; the network has no batch norm whose statistics this would move
    try:
        with engine.no_grad():
            rows = []
            for _ in range(samples):
                logits = np.concatenate([model(engine.tensor(np.ascontiguousarray(x[i:i + batch]))).numpy()
                                         for i in range(0, len(x), batch)])
                e = np.exp(logits - logits.max(1, keepdims=True))
                rows.append(e / e.sum(1, keepdims=True))
    finally:
        model.eval()
    return np.stack(rows)
