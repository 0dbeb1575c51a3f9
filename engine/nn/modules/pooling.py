"""Pooling layers (torch.nn names and arguments); the maths is in engine/nn/functional/pooling.py.

Pooling layers have no parameters: they summarise windows of each channel by their maximum or
mean, shrinking the spatial size (stride defaults to the kernel size: non-overlapping windows).
"""

from __future__ import annotations

from engine.nn.functional import pooling as F
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]


class _MaxPoolNd(Module):
    nd: int

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor):
        """(N, C, *in) -> (N, C, *out), and the flat per-channel indices of the maxima if return_indices."""
        return F._max_pool(self.nd, input, self.kernel_size, self.stride, self.padding, self.dilation,
                           self.ceil_mode, self.return_indices, f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) signals."""

    nd = 1


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) images; MaxPool2d(2) halves H and W."""

    nd = 2


class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W) volumes."""

    nd = 3


class _AvgPoolNd(Module):
    nd: int

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F._avg_pool(self.nd, input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override,
                           f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) signals."""

    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W) images (LeNet's subsampling layers)."""

    nd = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over windows of (N, C, D, H, W) volumes."""

    nd = 3


class _AdaptiveAvgPoolNd(Module):
    nd: int

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F._adaptive_avg(self.nd, input, self.output_size, f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average to a fixed length whatever the input length: (N, C, L) -> (N, C, output_size)."""

    nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average to a fixed size: (N, C, H, W) -> (N, C, *output_size); AdaptiveAvgPool2d(1) is the
    global average pooling before a classifier head."""

    nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average to a fixed size: (N, C, D, H, W) -> (N, C, *output_size)."""

    nd = 3


class _AdaptiveMaxPoolNd(Module):
    nd: int

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor):
        return F._adaptive_max(self.nd, input, self.output_size, self.return_indices,
                               f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max to a fixed length: (N, C, L) -> (N, C, output_size)."""

    nd = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max to a fixed size: (N, C, H, W) -> (N, C, *output_size)."""

    nd = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max to a fixed size: (N, C, D, H, W) -> (N, C, *output_size)."""

    nd = 3


class _MaxUnpoolNd(Module):
    nd: int

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        """Put each value back at the position its max pooling took it from; zeros elsewhere."""
        return F._max_unpool(self.nd, input, indices, self.kernel_size, self.stride, self.padding, output_size,
                             f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of MaxPool1d(return_indices=True)."""

    nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of MaxPool2d(return_indices=True) (SegNet's decoder upsampling)."""

    nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of MaxPool3d(return_indices=True)."""

    nd = 3
