"""Pick 2D or 3D versions of layers, so one network definition serves images and volumes."""

from __future__ import annotations

from engine import nn


def layers(dims: int):
    """(Conv, BatchNorm, MaxPool, AvgPool, AdaptiveAvgPool, Dropout) for 2 or 3 spatial dimensions."""
    if dims == 2:
        return nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Dropout
    if dims == 3:
        return nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.Dropout
    raise ValueError(f"dims must be 2 (images) or 3 (volumes), got {dims}")
