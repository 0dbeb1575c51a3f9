"""A small VGG-style network (Simonyan & Zisserman 2015): blocks of 3x3 convolutions.

VGG's lesson: depth from small 3x3 kernels (two 3x3 layers see a 5x5 field with fewer
weights), doubling the width after each 2x2 max-pool. Batch normalisation after each
convolution, as in the VGG-BN variants.
"""

from __future__ import annotations

from engine import nn
from models._layers import layers


class VGGSmall(nn.Module):
    """x: (N, C, H, W) or (N, C, D, H, W) -> logits (N, num_classes).

    config: widths of the conv layers, "M" for a 2x2 max-pool; by default
    (w, w, M, 2w, 2w, M, 4w, 4w, M) with w = ``width``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, dims: int = 2, width: int = 32,
                 config=None, batchnorm: bool = True, dropout: float = 0.3):
        super().__init__()
        if config is None:
            config = (width, width, "M", 2 * width, 2 * width, "M", 4 * width, 4 * width, "M")
        Conv, BatchNorm, MaxPool, _, AdaptiveAvgPool, Dropout = layers(dims)
        blocks = []
        c = in_channels
        for v in config:
            if v == "M":
                blocks.append(MaxPool(2))
                continue
            blocks.append(Conv(c, v, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                blocks.append(BatchNorm(v))
            blocks.append(nn.ReLU())
            c = v
        blocks.append(AdaptiveAvgPool(1))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Flatten(), Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
