"""Upsample: resize feature maps (torch.nn names); see engine/nn/functional/upsampling.py."""

from __future__ import annotations

from engine.nn.functional.upsampling import interpolate
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize (N, C, *in) to (N, C, *size), or by scale_factor, with no parameters.

    mode: 'nearest' (default), 'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area';
    align_corners only for the linear modes. A U-Net decoder often uses
    Upsample(scale_factor=2, mode='bilinear') followed by a convolution instead of a
    transposed convolution (no checkerboard artefacts; Odena et al. 2016).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) (PyTorch's legacy layer)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with align_corners=True (PyTorch's legacy layer)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
