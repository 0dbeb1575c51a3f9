"""LeNet-5 (LeCun et al. 1998): the first successful convolutional network.

C1 6@5x5 -> S2 2x2 subsampling -> C3 16@5x5 -> S4 2x2 -> F5 120 -> F6 84 -> output.
Classic sizes on a 32x32 input; a 28x28 input (MNIST, MedMNIST) is padded by 2 in C1 so that
every later size is the classic one. Parameters: 61,706 for 10 classes and 1 channel.
Differences from 1998, stated: average pooling without trainable coefficients, full C3
connectivity, and a plain linear output instead of RBF units.
"""

from __future__ import annotations

from engine import nn
from models.mlp import ACTIVATIONS


class LeNet5(nn.Module):
    """x: (N, in_channels, 28 or 32, 28 or 32) -> logits (N, num_classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28, activation: str = "tanh"):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5: input_size must be 28 or 32, got {input_size}")
        act = ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0), act(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), act(),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
