"""``unfold`` and ``fold``: sliding windows as columns, and back (torch.nn.functional names).

``unfold`` (im2col) copies every sliding window of a (N, C, *spatial) input into a column:

    cols[n, c * K + k, l] = xpad[n, c, start(l) + offset(k) * dilation]      K = prod(kernel)

with l running over the window positions (row-major over the output grid, start(l) = its
position times the stride) and k over the kernel offsets (row-major). The result is
(N, C * K, L). ``fold`` (col2im) is its adjoint, the transposed linear map: it adds every
column entry back to the position it was read from (overlapping windows are summed) and crops
the padding, (N, C * K, L) -> (N, C, *output_size).

Because each is the other's transpose, each one's backward is the other one, and both are
differentiable any number of times. With them the textbook forms of the window operations
read as one line each (engine/nn/functional/reference.py):

    convolution          y = W @ unfold(x)                     (+ bias)
    its input gradient   dL/dx = fold(W^T @ dL/dy)             (a transposed convolution)
    its weight gradient  dL/dW = dL/dy @ unfold(x)^T
    max / avg pooling    y = max / mean over k of unfold(x)

PyTorch's ``unfold``/``fold`` accept 4-D (2-D spatial) inputs only; these accept 1, 2 or 3
spatial dims with the same argument order. The arrays are built by engine/nn/functional/_im2col.py.
"""

from __future__ import annotations

from engine.autograd import Function
from engine.nn.functional import _im2col as im2col
from engine.nn.functional._im2col import conv_output_size, ntuple
from engine.tensor import Tensor

__all__ = ["unfold", "fold", "Unfold", "Fold"]


class Unfold(Function):
    """x: (N, C, *size) -> cols: (N, C * K, prod(grid)): the window at every grid position.

    pads: ((before, after), ...) zero padding per spatial axis; grid: the window positions per
    axis (the output size of the matching convolution). dL/dx = Fold(dL/dcols).
    """

    def __init__(self, kernel, stride, dilation, pads, grid):
        self.kernel, self.stride, self.dilation = tuple(kernel), tuple(stride), tuple(dilation)
        self.pads, self.grid = tuple(pads), tuple(grid)

    def forward(self, x):
        n, c = x.shape[:2]
        self.size = tuple(x.shape[2:])
        xpad = im2col.pad_spatial(im2col.channels_first(x), self.pads)
        cols = im2col.im2col(xpad, self.kernel, self.stride, self.dilation, self.grid)  # (C, *k, N, *grid)
        cols = cols.reshape(c * im2col.prod(self.kernel), n, im2col.prod(self.grid))
        return cols.swapaxes(0, 1)  # (N, C*K, L), a view

    def backward(self, gcols):
        return Fold(self.kernel, self.stride, self.dilation, self.pads, self.grid, self.size)(gcols)


class Fold(Function):
    """cols: (N, C * K, prod(grid)) -> (N, C, *size): every entry added back where Unfold read it.

    The adjoint of ``Unfold`` with the same geometry; dL/dcols = Unfold(dL/dy).
    """

    def __init__(self, kernel, stride, dilation, pads, grid, size):
        self.kernel, self.stride, self.dilation = tuple(kernel), tuple(stride), tuple(dilation)
        self.pads, self.grid, self.size = tuple(pads), tuple(grid), tuple(size)

    def forward(self, cols):
        n, ck = cols.shape[:2]
        c = ck // im2col.prod(self.kernel)
        cols = cols.swapaxes(0, 1).reshape((c,) + self.kernel + (n,) + self.grid)
        padded = tuple(s + b + a for s, (b, a) in zip(self.size, self.pads))
        xpad = im2col.col2im(cols, padded, self.kernel, self.stride, self.dilation)  # (C, N, *padded)
        return im2col.channels_first(im2col.crop_spatial(xpad, self.pads))

    def backward(self, gy):
        return Unfold(self.kernel, self.stride, self.dilation, self.pads, self.grid)(gy)


def _geometry(nd, kernel_size, dilation, padding, stride, op):
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    dilation = ntuple(dilation, nd, "dilation", op)
    padding = ntuple(padding, nd, "padding", op)
    stride = ntuple(stride, nd, "stride", op)
    for what, values in (("kernel_size", kernel), ("dilation", dilation), ("stride", stride)):
        if any(v < 1 for v in values):
            raise ValueError(f"{op}: {what} must be positive, got {values}")
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    return kernel, dilation, tuple((p, p) for p in padding), stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding windows: (N, C, *spatial) -> (N, C * prod(kernel_size), L).

    L = prod over axes of floor((size + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.
    Column l holds, channel by channel, the window at the l-th position in row-major order.
    """
    op = "unfold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{op}: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape {tuple(input.shape)}")
    kernel, dilation, pads, stride = _geometry(nd, kernel_size, dilation, padding, stride, op)
    grid = conv_output_size(input.shape[2:], kernel, stride, pads, dilation)
    if any(g < 1 for g in grid):
        raise ValueError(
            f"{op}: kernel {kernel} (dilation {dilation}) does not fit the padded input (shape "
            f"{tuple(input.shape)}, padding {padding}): no window position"
        )
    return Unfold(kernel, stride, dilation, pads, grid)(input)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding windows back into an image: (N, C * prod(kernel_size), L) -> (N, C, *output_size).

    The adjoint of ``unfold`` with the same arguments (fold(unfold(x)) multiplies every pixel by
    the number of windows that contain it). L must equal the number of window positions.
    """
    op = "fold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    size = (output_size,) if isinstance(output_size, int) else tuple(int(s) for s in output_size)
    nd = len(size)
    if nd not in (1, 2, 3):
        raise ValueError(f"{op}: output_size must have 1, 2 or 3 values, got {output_size!r}")
    if input.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D input (N, C * prod(kernel_size), L), got shape {tuple(input.shape)}")
    kernel, dilation, pads, stride = _geometry(nd, kernel_size, dilation, padding, stride, op)
    k = im2col.prod(kernel)
    grid = conv_output_size(size, kernel, stride, pads, dilation)
    if input.shape[1] % k:
        raise ValueError(
            f"{op}: input has {input.shape[1]} rows (shape {tuple(input.shape)}), not a multiple of "
            f"prod(kernel_size) = {k}"
        )
    if any(g < 1 for g in grid) or input.shape[2] != im2col.prod(grid):
        raise ValueError(
            f"{op}: input has {input.shape[2]} columns (shape {tuple(input.shape)}) but output_size {size}, "
            f"kernel {kernel}, dilation {dilation}, padding {padding}, stride {stride} give {grid} = "
            f"{max(im2col.prod(grid), 0)} window positions"
        )
    return Fold(kernel, stride, dilation, pads, grid, size)(input)
