"""ResNet-18 (He et al. 2016) adapted to 28x28 inputs as in the MedMNIST v2 benchmark.

A residual block learns a correction F(x) added to its input, y = relu(F(x) + x), so that
gradients flow through the identity path and very deep networks still train.
For 28x28 inputs the stem is a single 3x3 convolution with stride 1 and no max-pool (the
ImageNet stem, 7x7 stride 2 + max-pool, would shrink 28x28 to 7x7 at once); stages of
[2, 2, 2, 2] basic blocks with 64, 128, 256, 512 channels; global average pooling; a
linear classifier. ``dims=3`` builds the same network with 3D convolutions (ResNet-18 3D).
Yang et al., "MedMNIST v2", Scientific Data 2023.
"""

from __future__ import annotations

from engine import nn
from models._layers import layers


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input (projected by a 1x1 conv when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int, dims: int):
        super().__init__()
        Conv, BatchNorm, *_ = layers(dims)
        self.conv1 = Conv(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm(c_out)
        self.conv2 = Conv(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm(c_out)
        self.relu = nn.ReLU()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(Conv(c_in, c_out, 1, stride=stride, bias=False), BatchNorm(c_out))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """x: (N, C, 28, 28) (or (N, C, 28, 28, 28) with dims=3) -> logits (N, num_classes).

    width: channels of the first stage (64 in ResNet-18; smaller values make a quick model).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, dims: int = 2, width: int = 64,
                 blocks=(2, 2, 2, 2)):
        super().__init__()
        Conv, BatchNorm, _, _, AdaptiveAvgPool, _ = layers(dims)
        self.stem = nn.Sequential(Conv(in_channels, width, 3, stride=1, padding=1, bias=False),
                                  BatchNorm(width), nn.ReLU())
        stages = []
        c = width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            for j in range(n):
                stages.append(BasicBlock(c, c_out, stride=2 if (j == 0 and i > 0) else 1, dims=dims))
                c = c_out
        self.layers = nn.Sequential(*stages)
        self.pool = AdaptiveAvgPool(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(x.flatten(1))
