"""A small AlexNet-style network (Krizhevsky et al. 2012) for 28x28 images or volumes.

The ideas kept from AlexNet: stacked convolutions with ReLU, overlapping max-pooling, and
a fully connected head regularised by dropout; widths and kernels are scaled down for
28x28 inputs (the original works on 224x224 with 11x11 strides).
"""

from __future__ import annotations

from engine import nn
from models._layers import layers


class AlexNetSmall(nn.Module):
    """x: (N, C, H, W) or (N, C, D, H, W) -> logits (N, num_classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, dims: int = 2, width: int = 32,
                 dropout: float = 0.5):
        super().__init__()
        Conv, _, MaxPool, _, AdaptiveAvgPool, Dropout = layers(dims)
        w = width
        self.features = nn.Sequential(
            Conv(in_channels, w, 5, padding=2), nn.ReLU(), MaxPool(3, stride=2, padding=1),
            Conv(w, 2 * w, 3, padding=1), nn.ReLU(), MaxPool(3, stride=2, padding=1),
            Conv(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            Conv(4 * w, 4 * w, 3, padding=1), nn.ReLU(),
            Conv(4 * w, 2 * w, 3, padding=1), nn.ReLU(), MaxPool(3, stride=2, padding=1),
            AdaptiveAvgPool(2),
        )
        flat = 2 * w * 2**dims
        self.classifier = nn.Sequential(
            nn.Flatten(), Dropout(dropout), nn.Linear(flat, 8 * w), nn.ReLU(),
            Dropout(dropout), nn.Linear(8 * w, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
