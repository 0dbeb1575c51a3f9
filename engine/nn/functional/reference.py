"""Readable references for the fast layers, composed from engine operations.

Every function here computes exactly what its fast twin computes (the tests assert equal outputs
and gradients), but in a few lines of differentiable engine operations that read like the
textbook, so that a student can follow the forward AND the backward pass. The engine uses the
fast versions; these are for reading, for testing, and for derivatives of any order.

    convolution             y = W @ unfold(x) + b                       conv_reference
    its backward            dL/dx = fold(W^T @ dL/dy)    (a transposed convolution)
                            dL/dW = dL/dy @ unfold(x)^T  (the weight-gradient product)
                            (conv.conv_input_grad and conv.conv_weight_grad, which the fast
                            layer's differentiable backward calls)
    transposed convolution  y = fold(W^T @ x) + b                       conv_transpose_reference
    max / average pooling   y = max / mean over the window of unfold(x)  max_pool_reference, avg_pool_reference
    resizing                y = sum over taps of weight * x[source]     interpolate_reference
    batch normalisation     y = (x - mean) / sqrt(var + eps) * w + b   batch_norm_reference
    RNN / LSTM / GRU        the step equations in a Python loop         recurrent.composed_recurrence
                                                                        (and fused=False everywhere)

The backward of each follows from the engine's rules for the few primitives they use (unfold,
fold, matmul, reshape, max, sum, indexing, elementwise arithmetic): nothing is hand-written here.
"""

from __future__ import annotations

from engine import backend
from engine.nn.functional import pooling
from engine.nn.functional._im2col import conv_output_size, ntuple
from engine.nn.functional.conv import conv_padding, conv_transpose_output_size
from engine.nn.functional.fold import Fold, Unfold
from engine.nn.functional.upsampling import _output_sizes, _source_index
from engine.ops.shape import pad as pad_op
from engine.tensor import Tensor

__all__ = [
    "conv_reference",
    "conv_transpose_reference",
    "max_pool_reference",
    "avg_pool_reference",
    "interpolate_reference",
    "batch_norm_reference",
]


def _spatial_ones(nd):
    return (1,) * nd


def conv_reference(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """Convolution in 1, 2 or 3 dimensions as unfold + matrix product (same arguments as conv2d).

    input: (N, C, *in), weight: (O, C/G, *k), bias: (O,) -> (N, O, *out).
    Each column of unfold(x) is one window; one row of W holds one filter: their product is the
    filter's response at every window.
    """
    nd = input.ndim - 2
    n, c = input.shape[:2]
    o, kernel = weight.shape[0], tuple(weight.shape[2:])
    stride, dilation = ntuple(stride, nd, "stride", "conv"), ntuple(dilation, nd, "dilation", "conv")
    pads = conv_padding(padding, kernel, stride, dilation, "conv")
    out = conv_output_size(input.shape[2:], kernel, stride, pads, dilation)
    cols = Unfold(kernel, stride, dilation, pads, out)(input)  # (N, C*K, L): one window per column
    cols = cols.reshape(n, groups, -1, cols.shape[-1])  # (N, G, C/G*K, L)
    w = weight.reshape(groups, o // groups, -1)  # (G, O/G, C/G*K): one filter per row
    y = (w @ cols).reshape((n, o) + out)  # (N, G, O/G, L) -> (N, O, *out)
    return y if bias is None else y + bias.reshape((1, o) + _spatial_ones(nd))


def conv_transpose_reference(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                             dilation=1) -> Tensor:
    """Transposed convolution as a product and fold (same arguments as conv_transpose2d).

    input: (N, C_in, *in), weight: (C_in, C_out/G, *k) -> (N, C_out, *out). Every input pixel
    spreads W^T x over a window of the output; fold adds the overlapping windows up.
    """
    nd = input.ndim - 2
    n, c_in = input.shape[:2]
    in_size, kernel = tuple(input.shape[2:]), tuple(weight.shape[2:])
    c_out = weight.shape[1] * groups
    stride = ntuple(stride, nd, "stride", "conv_transpose")
    dilation = ntuple(dilation, nd, "dilation", "conv_transpose")
    padding = ntuple(padding, nd, "padding", "conv_transpose")
    output_padding = ntuple(output_padding, nd, "output_padding", "conv_transpose")
    out = conv_transpose_output_size(in_size, kernel, stride, padding, output_padding, dilation)
    x = input.reshape(n, groups, c_in // groups, -1)  # (N, G, C_in/G, P_in)
    wt = weight.reshape(groups, c_in // groups, -1).transpose(-1, -2)  # (G, C_out/G*K, C_in/G)
    cols = (wt @ x).reshape(n, -1, x.shape[-1])  # (N, C_out*K, P_in): one window per input pixel
    y = Fold(kernel, stride, dilation, tuple((p, p) for p in padding), in_size, out)(cols)
    return y if bias is None else y + bias.reshape((1, c_out) + _spatial_ones(nd))


def _padded(x, pads, value):
    """x padded on its spatial axes with ((before, after), ...) of ``value``."""
    flat = [v for before_after in reversed(pads) for v in before_after]  # torch order: last axis first
    return pad_op(x, flat, value=value) if any(flat) else x


def max_pool_reference(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max pooling as the maximum over each window of unfold(x) (padding with -inf, never chosen)."""
    nd = input.ndim - 2
    kernel, stride, _, dilation, out, pads = pooling._pool_geometry(input, nd, kernel_size, stride, padding,
                                                                    dilation, ceil_mode, "max_pool")
    n, c = input.shape[:2]
    xpad = _padded(input, pads, float("-inf"))
    cols = Unfold(kernel, stride, dilation, ((0, 0),) * nd, out)(xpad)  # (N, C*K, L)
    return cols.reshape(n, c, -1, cols.shape[-1]).max(dim=2).reshape((n, c) + out)


def avg_pool_reference(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                       divisor_override=None) -> Tensor:
    """Average pooling as the sum over each window of unfold(x), divided by PyTorch's divisor."""
    nd = input.ndim - 2
    kernel, stride, padding, _, out, pads = pooling._pool_geometry(input, nd, kernel_size, stride, padding, 1,
                                                                   ceil_mode, "avg_pool")
    n, c = input.shape[:2]
    divisor = pooling._avg_divisor(input._xp, input.dtype, tuple(input.shape[2:]), kernel, stride, padding, out,
                                   count_include_pad, divisor_override)
    cols = Unfold(kernel, stride, _spatial_ones(nd), pads, out)(input)  # (N, C*K, L)
    total = cols.reshape(n, c, -1, cols.shape[-1]).sum(dim=2).reshape((n, c) + out)
    return total / Tensor(divisor)


def interpolate_reference(input, size=None, scale_factor=None, mode="nearest", align_corners=None) -> Tensor:
    """Resizing, one axis at a time, as a weighted sum of gathered source positions
    (modes nearest, nearest-exact, linear, bilinear, trilinear; PyTorch's coordinate rules)."""
    nd = input.ndim - 2
    sizes, scales = _output_sizes(input, nd, size, scale_factor, None, "interpolate")
    y = input
    for a, (n_in, n_out, s) in enumerate(zip(input.shape[2:], sizes, scales)):
        taps = _source_index(input.dtype, n_in, n_out, mode, bool(align_corners), s)
        head = (slice(None),) * (2 + a)
        along = [1] * input.ndim
        along[2 + a] = n_out
        resized = None
        for index, weight in taps:
            index = Tensor(backend.to_device(index, y.device))
            v = y[head + (index,)]  # the source value of every output position
            if weight is not None:
                v = v * Tensor(backend.to_device(weight.reshape(along), y.device))
            resized = v if resized is None else resized + v
        y = resized
    return y


def batch_norm_reference(input, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Batch normalisation in training mode, as the formula: per channel, over batch and positions,

        y = (x - mean) / sqrt(var + eps) * w + b,     var the biased variance.
    """
    axes = (0,) + tuple(range(2, input.ndim))
    mean = input.mean(dim=axes, keepdim=True)
    var = ((input - mean) ** 2).mean(dim=axes, keepdim=True)
    y = (input - mean) / (var + eps) ** 0.5
    view = (1, input.shape[1]) + _spatial_ones(input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(view)
    if bias is not None:
        y = y + bias.reshape(view)
    return y
