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
    """x: (N, in_channels, S, S) (or (N, C, S, S, S) with dims=3) -> logits (N, num_classes).

    input_size S: 32 uses the classic unpadded C1; any other size (at least 12) pads C1 by 2, so
    28 gives the classic 28 -> 14 -> 10 -> 5 sizes. dims=3 is the same network with 3D
    convolutions and pooling (our extension, for volumes such as the 24^3 lesion phantoms).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28, activation: str = "tanh",
                 dims: int = 2):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"LeNet5: dims must be 2 or 3, got {dims}")
        pad = 0 if input_size == 32 else 2
        side = ((input_size + 2 * pad - 4) // 2 - 4) // 2  # after C1, S2, C3, S4
        if side < 1:
            raise ValueError(f"LeNet5: input_size must be at least 12, got {input_size}")
        act = ACTIVATIONS[activation]
        conv, pool = (nn.Conv2d, nn.AvgPool2d) if dims == 2 else (nn.Conv3d, nn.AvgPool3d)
        self.features = nn.Sequential(
            conv(in_channels, 6, 5, padding=pad), act(),
            pool(2),
            conv(6, 16, 5), act(),
            pool(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side**dims, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
