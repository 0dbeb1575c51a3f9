"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d (torch.nn names, layouts, defaults).

A convolution layer slides a small learned filter over the input, so that the same weights
detect the same pattern everywhere (weight sharing) from a local neighbourhood (local
connectivity): far fewer parameters than a fully connected layer, and translation
equivariance. The maths and the implementation are in engine/nn/functional/conv.py.

Parameters (PyTorch's names, shapes and initialisation, so state dicts transfer unchanged):
    Conv:           weight (out_channels, in_channels / groups, *kernel_size)
    ConvTranspose:  weight (in_channels, out_channels / groups, *kernel_size)
    bias            (out_channels,)
Both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * prod(kernel_size)
(kaiming_uniform_ with a = sqrt(5), PyTorch's default).
"""

from __future__ import annotations

import math

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional import conv as F
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


def _parameter(shape, device, dtype) -> Parameter:
    """A zero parameter on ``device``; reset_parameters fills it."""
    xp = backend.xp_for_device(backend.normalize_device(device))
    return Parameter(xp.zeros(shape, dtype=dtype or get_default_dtype()))


class _ConvNd(Module):
    """What convolution and transposed convolution layers share: arguments, parameters, repr."""

    nd: int
    transposed: bool = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = F.ntuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = F.ntuple(stride, self.nd, "stride", name)
        self.dilation = F.ntuple(dilation, self.nd, "dilation", name)
        for what, values in (("kernel_size", self.kernel_size), ("stride", self.stride),
                             ("dilation", self.dilation)):
            if any(v < 1 for v in values):
                raise ValueError(f"{name}: {what} must be positive, got {values}")
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{name}: channel counts must be positive, got in_channels={in_channels}, "
                             f"out_channels={out_channels}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} is not divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} is not divisible by groups={groups}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        if isinstance(padding, str):
            if self.transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
            F.conv_padding(padding, self.kernel_size, self.stride, self.dilation, name)  # validates 'same'
            self.padding = padding
        else:
            self.padding = F.ntuple(padding, self.nd, "padding", name)
            if any(p < 0 for p in self.padding):
                raise ValueError(f"{name}: padding must be non-negative, got {self.padding}")
        self.output_padding = F.ntuple(output_padding, self.nd, "output_padding", name)
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), groups
        self.padding_mode = padding_mode
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _parameter(shape, device, dtype)
        if bias:
            self.bias = _parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias alike."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return F._conv(self.nd, input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                       self.groups, self._name())


class Conv1d(_Conv):
    """1-D convolution over signals: (N, in_channels, L) -> (N, out_channels, L_out) (e.g. ECG leads).
    L_out = floor((L + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1."""

    nd = 1


class Conv2d(_Conv):
    """2-D convolution over images: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out).
    H_out = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1, W_out alike;
    padding='same' keeps H and W (stride 1)."""

    nd = 2


class Conv3d(_Conv):
    """3-D convolution over volumes (CT, MRI): (N, in_channels, D, H, W) -> (N, out_channels, D', H', W')."""

    nd = 3


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding=output_padding, device=device, dtype=dtype)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        """output_size (optional): the wanted spatial size (or full shape), which fixes the
        output_padding — needed to invert a strided convolution of an odd-sized input exactly."""
        return F._conv_transpose(self.nd, input, self.weight, self.bias, self.stride, self.padding,
                                 self.output_padding, self.groups, self.dilation, self._name(),
                                 output_size=output_size)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution: (N, in_channels, L) -> (N, out_channels, L_out),
    L_out = (L - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1."""

    nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution, a learnable upsampling (U-Net decoders):
    (N, in_channels, H, W) -> (N, out_channels, H_out, W_out); kernel 2, stride 2 doubles H and W."""

    nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution: (N, in_channels, D, H, W) -> (N, out_channels, D', H', W')."""

    nd = 3
