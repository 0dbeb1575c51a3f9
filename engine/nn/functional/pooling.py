"""Pooling in 1, 2 and 3 dimensions: max, average, adaptive, and max-unpooling (torch names).

A pooling layer summarises each window of the input by one number: its maximum (max pooling,
which keeps the strongest response and gives a little translation invariance) or its mean
(average pooling). Windows are placed like a convolution's (kernel k, stride s, padding p,
dilation d), channel by channel, with no weights:

    out = floor((in + 2p - d*(k-1) - 1) / s) + 1        (ceil instead of floor in ceil_mode)

Implementation. As in im2col (engine/nn/functional/_im2col.py), the loop runs over the KERNEL
OFFSETS only: for one offset the values of all windows form a single strided slice of the
padded input. Max pooling keeps a running maximum and the offset that produced it (ties keep
the FIRST maximum in row-major kernel order, NaN wins, as PyTorch); its backward adds the
gradient back through the same slices, masked to the windows whose maximum came from that
offset. Average pooling sums the slices; its backward spreads gradient/divisor back.

Adaptive pooling (fixed output size, any input size) uses PyTorch's bins: output cell i of an
axis covers input positions start = floor(i * in / out) to end = ceil((i + 1) * in / out).
"""

from __future__ import annotations

import itertools
import math

from engine import backend
from engine.autograd import Function
from engine.nn.functional import _im2col as im2col
from engine.nn.functional._im2col import ntuple
from engine.nn.functional.fold import Fold
from engine.ops.indexing import gather
from engine.tensor import Tensor, as_tensor

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "pool_output_size",
]

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def _check_input(x, nd, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim != nd + 2:
        raise ValueError(
            f"{op}: expected a {nd + 2}-D input of shape (N, C, {_SPATIAL[nd]}), got a {x.ndim}-D tensor of shape "
            f"{tuple(x.shape)}" + (" (add the batch axis with x.unsqueeze(0))" if x.ndim == nd + 1 else "")
        )


def pool_output_size(in_size, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    """PyTorch's pooling output size. In ceil_mode a last, partial window is kept, unless it
    would start in the right padding (then it would see no input at all)."""
    out = []
    for i, k, s, p, d in zip(in_size, kernel, stride, padding, dilation):
        span = i + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        out.append(o)
    return tuple(out)


def _pool_geometry(x, nd, kernel_size, stride, padding, dilation, ceil_mode, op):
    """Normalise the arguments, check them against the input, return (kernel, stride, padding,
    dilation, out_size, pads) with pads the ((before, after), ...) padding that makes every
    window lie inside the padded input (ceil_mode may need extra after)."""
    _check_input(x, nd, op)
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        ntuple(stride, nd, "stride", op)
    padding = ntuple(padding, nd, "padding", op)
    dilation = ntuple(dilation, nd, "dilation", op)
    for what, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if any(v < 1 for v in values):
            raise ValueError(f"{op}: {what} must be positive, got {values}")
    for p, k, d in zip(padding, kernel, dilation):
        if p < 0 or p > (d * (k - 1) + 1) // 2:
            raise ValueError(
                f"{op}: padding {padding} must be non-negative and at most half of the (dilated) kernel "
                f"size {kernel} (PyTorch's rule: a window must never lie entirely in the padding)"
            )
    in_size = tuple(x.shape[2:])
    out = pool_output_size(in_size, kernel, stride, padding, dilation, ceil_mode)
    if any(o < 1 for o in out):
        raise ValueError(
            f"{op}: input {tuple(x.shape)} is too small for kernel {kernel} (dilation {dilation}, padding "
            f"{padding}): the output size would be {out}"
        )
    pads = []
    for i, k, s, p, d, o in zip(in_size, kernel, stride, padding, dilation, out):
        needed = (o - 1) * s + d * (k - 1) + 1  # extent the windows read, from the left padding on
        pads.append((p, max(p, needed - i - p)))
    return kernel, stride, padding, dilation, out, tuple(pads)


def _lowest(dtype, xp):
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
class MaxPoolNd(Function):
    """y[n, c, i] = max over the window of i of xpad[n, c, .] (padding is -inf, never chosen).

    dL/dx: each output's gradient goes to the input position that held its maximum (added up
    where windows overlap); every other position gets 0. ``backward`` writes that with
    ``Fold``: the gradient, placed in each window's winning slot of a column of zeros, folded
    back onto the input. ``backward_arrays`` adds it through the same strided slices as forward.
    """

    def __init__(self, kernel, stride, dilation, out_size, pads):
        self.kernel, self.stride, self.dilation, self.out_size, self.pads = kernel, stride, dilation, out_size, pads

    def forward(self, x):
        xp = self.xp
        xpad = im2col.pad_spatial(x, self.pads, value=_lowest(x.dtype, xp))
        self.padded_shape = xpad.shape
        head = (slice(None), slice(None))
        offsets = list(im2col.kernel_offsets(self.kernel))
        # order="K" keeps the input's memory order (e.g. the channel-major output of a convolution)
        best = xpad[head + im2col.window(offsets[0], self.stride, self.dilation, self.out_size)].copy(order="K")
        # which kernel offset (row-major number) holds each window's maximum
        self.arg = xp.zeros(best.shape, dtype=xp.int8 if len(offsets) < 128 else xp.int32)
        for number, offset in enumerate(offsets[1:], start=1):
            v = xpad[head + im2col.window(offset, self.stride, self.dilation, self.out_size)]
            better = v > best  # strict: a tie keeps the first maximum
            if x.dtype.kind == "f":
                better |= v != v  # NaN (the only value unequal to itself) wins, as in PyTorch
            xp.maximum(best, v, out=best)  # propagates NaN too
            # arg = where(better, number, arg), as integer arithmetic (several times faster in NumPy)
            self.arg += better.astype(self.arg.dtype) * (number - self.arg)
        return best

    def backward(self, gy):
        n, c = gy.shape[:2]
        k = im2col.prod(self.kernel)
        xp = self.xp
        # one-hot (N, C, K, *out): 1 in the kernel slot that held each window's maximum
        winner = Tensor((self.arg[:, :, None] == xp.arange(k).reshape((1, 1, k) + (1,) * len(self.kernel)))
                        .astype(gy.dtype))
        cols = (winner * gy.unsqueeze(2)).reshape(n, c * k, im2col.prod(self.out_size))
        size = tuple(s - b - a for s, (b, a) in zip(self.padded_shape[2:], self.pads))
        return Fold(self.kernel, self.stride, self.dilation, self.pads, self.out_size, size)(cols)

    def backward_arrays(self, gy):
        xp = self.xp
        gxpad = xp.zeros(self.padded_shape, dtype=gy.dtype)
        head = (slice(None), slice(None))
        # disjoint windows (stride >= dilated kernel): each input position is written once
        overlap = any(s < d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))
        for number, offset in enumerate(im2col.kernel_offsets(self.kernel)):
            key = head + im2col.window(offset, self.stride, self.dilation, self.out_size)
            # gy * mask rather than where(mask, gy, 0): several times faster in NumPy; it differs
            # only for a non-finite upstream gradient, which then also reaches its window's
            # other positions (as NaN)
            routed = gy * (self.arg == number).astype(gy.dtype)
            if overlap:
                gxpad[key] += routed
            else:
                gxpad[key] = routed
        return im2col.crop_spatial(gxpad, self.pads)

    def indices(self, in_size):
        """PyTorch's return_indices: for every output, the flat position (within its channel's
        un-padded input, row-major) of the chosen maximum."""
        xp = self.xp
        nd = len(self.kernel)
        flat = xp.zeros(self.arg.shape, dtype=xp.int64)
        arg = self.arg.astype(xp.int64)
        inner_kernel, inner_size = 1, 1
        for a in reversed(range(nd)):
            offset = (arg // inner_kernel) % self.kernel[a]
            view = [1] * (nd + 2)
            view[2 + a] = self.out_size[a]
            start = (xp.arange(self.out_size[a], dtype=xp.int64) * self.stride[a] - self.pads[a][0]).reshape(view)
            flat += (start + offset * self.dilation[a]) * inner_size
            inner_kernel *= self.kernel[a]
            inner_size *= in_size[a]
        return flat


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, op):
    kernel, stride, _, dilation, out, pads = _pool_geometry(input, nd, kernel_size, stride, padding, dilation,
                                                            ceil_mode, op)
    fn = MaxPoolNd(kernel, stride, dilation, out, pads)
    y = fn(input)
    if return_indices:
        return y, Tensor(fn.indices(tuple(input.shape[2:])))
    return y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of a (N, C, L) signal -> (N, C, L_out); with return_indices also the
    position (0..L-1) of each maximum. stride defaults to kernel_size; padding is -inf."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, H, W) -> (N, C, H_out, W_out); indices are flat h * W + w per channel."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, D, H, W); indices are flat (d * H + h) * W + w per channel."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool3d")


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
class AvgPoolNd(Function):
    """y[n, c, i] = (sum of the window of i over the zero-padded input) / divisor[i].

    dL/dx: every position of window i receives dL/dy[i] / divisor[i] (summed over overlaps):
    ``backward`` copies gy / divisor into every slot of a column and folds it back (``Fold``).
    """

    def __init__(self, kernel, stride, out_size, pads, divisor):
        self.kernel, self.stride, self.out_size, self.pads, self.divisor = kernel, stride, out_size, pads, divisor

    def forward(self, x):
        xpad = im2col.pad_spatial(x, self.pads)
        self.padded_shape = xpad.shape
        head = (slice(None), slice(None))
        ones = (1,) * len(self.kernel)
        total = None
        for offset in im2col.kernel_offsets(self.kernel):
            v = xpad[head + im2col.window(offset, self.stride, ones, self.out_size)]
            if total is None:
                total = v.copy(order="K")
            else:
                total += v
        total /= self.divisor
        return total

    def backward(self, gy):
        n, c = gy.shape[:2]
        k = im2col.prod(self.kernel)
        g = gy / Tensor(self.xp.asarray(self.divisor, dtype=gy.dtype))
        cols = g.unsqueeze(2).expand(n, c, k, *self.out_size).reshape(n, c * k, im2col.prod(self.out_size))
        size = tuple(s - b - a for s, (b, a) in zip(self.padded_shape[2:], self.pads))
        ones = (1,) * len(self.kernel)
        return Fold(self.kernel, self.stride, ones, self.pads, self.out_size, size)(cols)

    def backward_arrays(self, gy):
        g = gy / self.divisor
        gxpad = self.xp.zeros(self.padded_shape, dtype=gy.dtype)
        head = (slice(None), slice(None))
        ones = (1,) * len(self.kernel)
        for offset in im2col.kernel_offsets(self.kernel):
            gxpad[head + im2col.window(offset, self.stride, ones, self.out_size)] += g
        return im2col.crop_spatial(gxpad, self.pads)


def _avg_divisor(xp, dtype, in_size, kernel, stride, padding, out, count_include_pad, divisor_override):
    """The number each window's sum is divided by, as a broadcastable (1, 1, *out) array.

    count_include_pad: the window's size clipped to the padded input (PyTorch's default);
    otherwise only the real input positions it covers. Both are products of per-axis counts.
    """
    if divisor_override is not None:
        return xp.asarray(divisor_override, dtype=dtype)
    nd = len(kernel)
    divisor = xp.ones((1, 1) + (1,) * nd, dtype=dtype)
    for a in range(nd):
        start = xp.arange(out[a]) * stride[a] - padding[a]
        end = xp.minimum(start + kernel[a], in_size[a] + padding[a])
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, in_size[a])
        view = [1] * (nd + 2)
        view[2 + a] = out[a]
        divisor = divisor * (end - start).astype(dtype).reshape(view)
    return divisor


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, op):
    kernel, stride, padding, _, out, pads = _pool_geometry(input, nd, kernel_size, stride, padding, 1, ceil_mode, op)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating-point, got {input.dtype}")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    divisor = _avg_divisor(input._xp, input.dtype, tuple(input.shape[2:]), kernel, stride, padding, out,
                           count_include_pad, divisor_override)
    return AvgPoolNd(kernel, stride, out, pads, divisor)(input)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of a (N, C, L) signal -> (N, C, L_out). Zero padding counts in the mean
    unless count_include_pad=False."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows of (N, C, H, W) -> (N, C, H_out, W_out)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     "avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows of (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     "avg_pool3d")


# --------------------------------------------------------------------------------------------
# Adaptive pooling
# --------------------------------------------------------------------------------------------
def _adaptive_sizes(x, nd, output_size, op) -> tuple:
    _check_input(x, nd, op)
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{op}: output_size needs {nd} values, got {output_size}")
    sizes = tuple(int(i) if o is None else int(o) for o, i in zip(output_size, x.shape[2:]))
    if any(o < 1 for o in sizes):
        raise ValueError(f"{op}: output_size must be positive, got {output_size}")
    if any(i < 1 for i in x.shape[2:]):
        raise ValueError(f"{op}: input {tuple(x.shape)} has an empty spatial axis")
    return sizes


def adaptive_bins(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """PyTorch's bins: cell i covers [floor(i * in / out), ceil((i + 1) * in / out))."""
    return [((i * in_size) // out_size, -(-((i + 1) * in_size) // out_size)) for i in range(out_size)]


def _averaging_matrix(xp, dtype, in_size, out_size):
    """A (out, in) matrix whose row i averages bin i: A[i, start:end] = 1 / (end - start)."""
    a = xp.zeros((out_size, in_size), dtype=dtype)
    for i, (start, end) in enumerate(adaptive_bins(in_size, out_size)):  # loop over out cells: tiny
        a[i, start:end] = 1.0 / (end - start)
    return a


def _adaptive_avg(nd, input, output_size, op):
    """Average pooling over a box is separable: average along one axis at a time. An axis whose
    size is a multiple of the output's is a reshape and a mean (the bins are equal and disjoint);
    any other axis multiplies by the (out, in) averaging matrix. Built from differentiable ops."""
    sizes = _adaptive_sizes(input, nd, output_size, op)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating-point, got {input.dtype}")
    y = input
    for a, out in enumerate(sizes):
        axis = 2 + a
        n_in = y.shape[axis]
        if n_in == out:
            continue
        if n_in % out == 0:
            y = y.reshape(y.shape[:axis] + (out, n_in // out) + y.shape[axis + 1 :]).mean(dim=axis + 1)
        else:
            matrix = Tensor(_averaging_matrix(input._xp, input.dtype, n_in, out))
            lead, rest = y.shape[:axis], y.shape[axis + 1 :]
            flat = y.reshape(lead + (n_in, math.prod(rest)))  # (..., in, rest)
            y = (matrix @ flat).reshape(lead + (out,) + rest)
    return y


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed length: (N, C, L) -> (N, C, output_size)."""
    return _adaptive_avg(1, input, output_size, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed size: (N, C, H, W) -> (N, C, *output_size); output_size=1 is
    global average pooling. A None entry keeps that axis's size."""
    return _adaptive_avg(2, input, output_size, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed size: (N, C, D, H, W) -> (N, C, *output_size)."""
    return _adaptive_avg(3, input, output_size, "adaptive_avg_pool3d")


class AdaptiveMaxPoolNd(Function):
    """y[n, c, i] = max over bin i (PyTorch's adaptive bins) of x[n, c, .].

    Bins along an axis have at most L positions; for each combination of bin offsets
    (j_1, ..., j_nd), j_a < L_a, the values at position start_a + j_a (clamped to the bin's
    last position, which repeats an already-seen value and so never changes the maximum) are
    gathered for all bins at once, and a running maximum is kept. dL/dx: scatter-add of dL/dy
    to each bin's argmax (bins may overlap, so one position can receive several gradients),
    which ``backward`` writes as ``ScatterAddFlat`` (whose own derivative is a gather).
    """

    def __init__(self, out_size):
        self.out_size = out_size

    def forward(self, x):
        xp = self.xp
        nd = len(self.out_size)
        in_size = x.shape[2:]
        per_axis = []  # per axis: (out, L) positions, bin offsets clamped to the bin
        for n_in, n_out in zip(in_size, self.out_size):
            bins = adaptive_bins(n_in, n_out)
            longest = max(end - start for start, end in bins)
            start = xp.asarray([s for s, _ in bins], dtype=xp.int64)
            last = xp.asarray([e - 1 for _, e in bins], dtype=xp.int64)
            per_axis.append(xp.minimum(start[:, None] + xp.arange(longest, dtype=xp.int64)[None, :], last[:, None]))
        best, flat = None, None
        for combo in itertools.product(*(range(p.shape[1]) for p in per_axis)):
            key, pos = [slice(None), slice(None)], xp.zeros((1, 1) + (1,) * nd, dtype=xp.int64)
            for a, j in enumerate(combo):
                view = [1] * nd
                view[a] = self.out_size[a]
                idx = per_axis[a][:, j].reshape(view)
                key.append(idx)
                pos = pos * in_size[a] + idx.reshape([1, 1] + view)
            v = x[tuple(key)]
            if best is None:
                best, flat = v.copy(), xp.broadcast_to(pos, v.shape).copy()
                continue
            better = v > best
            if x.dtype.kind == "f":
                better |= xp.isnan(v)
            best = xp.where(better, v, best)
            flat = xp.where(better, pos, flat)
        self.flat = flat
        return best

    def backward(self, gy):
        return ScatterAddFlat(self.flat, tuple(self.inputs[0].shape[2:]))(gy)


class ScatterAddFlat(Function):
    """y: (N, C, *size) zeros with x[n, c, i] added at the flat position index[n, c, i] of its
    channel (repeated positions add up): the adjoint of gathering at those positions.

    dL/dx[n, c, i] = dL/dy[n, c, index[n, c, i]] (a gather, itself differentiable).
    """

    def __init__(self, index, size):
        self.index, self.size = index, tuple(size)

    def forward(self, x):
        xp = self.xp
        n, c = x.shape[:2]
        y = xp.zeros((n * c, math.prod(self.size)), dtype=x.dtype)
        rows = xp.arange(n * c, dtype=xp.int64)[:, None]
        per_channel = math.prod(x.shape[2:])  # explicit sizes: -1 is ambiguous for an empty batch
        backend.scatter_add(y, (rows, self.index.reshape(n * c, per_channel)), x.reshape(n * c, per_channel))
        return y.reshape((n, c) + self.size)

    def backward(self, gy):
        x = self.inputs[0]
        n, c = x.shape[:2]
        size, per_channel = math.prod(self.size), math.prod(x.shape[2:])
        index = Tensor(self.index.reshape(n, c, per_channel))
        return gather(gy.reshape(n, c, size), 2, index).reshape(x.shape)


def _adaptive_max(nd, input, output_size, return_indices, op):
    sizes = _adaptive_sizes(input, nd, output_size, op)
    in_size = tuple(input.shape[2:])
    if all(i % o == 0 for i, o in zip(in_size, sizes)):
        # equal, disjoint bins: plain max pooling with kernel = stride = in / out
        kernel = tuple(i // o for i, o in zip(in_size, sizes))
        fn = MaxPoolNd(kernel, kernel, (1,) * nd, sizes, ((0, 0),) * nd)
        y = fn(input)
        return (y, Tensor(fn.indices(in_size))) if return_indices else y
    fn = AdaptiveMaxPoolNd(sizes)
    y = fn(input)
    return (y, Tensor(fn.flat)) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to a fixed length: (N, C, L) -> (N, C, output_size)."""
    return _adaptive_max(1, input, output_size, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed size: (N, C, H, W) -> (N, C, *output_size); indices flat h * W + w."""
    return _adaptive_max(2, input, output_size, return_indices, "adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling to a fixed size: (N, C, D, H, W) -> (N, C, *output_size)."""
    return _adaptive_max(3, input, output_size, return_indices, "adaptive_max_pool3d")


# --------------------------------------------------------------------------------------------
# Max unpooling
# --------------------------------------------------------------------------------------------
class MaxUnpoolNd(Function):
    """y = zeros(N, C, *out) with y[n, c, indices[n, c, i]] = x[n, c, i] (the flat positions
    max pooling returned): a partial inverse of max pooling, used by SegNet-style decoders.

    dL/dx[n, c, i] = dL/dy[n, c, indices[n, c, i]] (a gather, written with engine ops, so the
    backward is itself differentiable).
    """

    def __init__(self, indices, out_size):
        self.indices_, self.out_size = indices, out_size

    def forward(self, x):
        xp = self.xp
        n, c = x.shape[:2]
        y = xp.zeros((n * c, math.prod(self.out_size)), dtype=x.dtype)
        rows = xp.arange(n * c, dtype=xp.int64)[:, None]
        per_channel = math.prod(x.shape[2:])
        y[rows, self.indices_.reshape(n * c, per_channel)] = x.reshape(n * c, per_channel)
        return y.reshape((n, c) + tuple(self.out_size))

    def backward(self, gy):
        (x,) = self.inputs
        n, c = x.shape[:2]
        flat_index = Tensor(self.indices_.reshape(n, c, math.prod(x.shape[2:])))
        return gather(gy.reshape(n, c, math.prod(self.out_size)), 2, flat_index).reshape(x.shape)


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size, op):
    _check_input(input, nd, op)
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None else ntuple(stride, nd, "stride", op)
    padding = ntuple(padding, nd, "padding", op)
    in_size = tuple(input.shape[2:])
    if output_size is None:
        out = tuple((i - 1) * s - 2 * p + k for i, s, p, k in zip(in_size, stride, padding, kernel))
    else:
        out = tuple(int(v) for v in output_size)[-nd:]
        if len(out) != nd:
            raise ValueError(f"{op}: output_size {tuple(output_size)} needs {nd} spatial sizes")
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is not positive (input {tuple(input.shape)})")
    index = indices.data if isinstance(indices, Tensor) else as_tensor(indices, like=input).data
    if tuple(index.shape) != tuple(input.shape):
        raise ValueError(f"{op}: indices shape {tuple(index.shape)} differs from the input shape {tuple(input.shape)}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got {index.dtype}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= math.prod(out)):
        raise ValueError(
            f"{op}: indices must lie in [0, {math.prod(out)}) for the output size {out}, got values in "
            f"[{int(index.min())}, {int(index.max())}]; pass output_size= matching the pooled input"
        )
    return MaxUnpoolNd(index.astype(input._xp.int64), out)(input)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Place (N, C, L) values at the positions max_pool1d(return_indices=True) reported."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Place (N, C, H, W) values at the positions max_pool2d(return_indices=True) reported; the
    output is (N, C, *output_size), by default (in - 1) * stride - 2 * padding + kernel_size."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Place (N, C, D, H, W) values at the positions max_pool3d(return_indices=True) reported."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size, "max_unpool3d")
