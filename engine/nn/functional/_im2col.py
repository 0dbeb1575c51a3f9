"""im2col / col2im: the sliding-window bookkeeping behind convolution.

A convolution reads, for every output position, a window of ``prod(kernel)`` input values per
channel. ``im2col`` copies those windows into a matrix (the "columns") so that the convolution
becomes ONE matrix product with the weights (Chellapilla et al. 2006, "High performance
convolutional neural networks for document processing"). We use a channel-major layout:

    xpad: (C, N, *padded)             the padded input with channels first
    cols: (C, *kernel, N, *out)       cols[c, ki, kj, n, i, j] = xpad[c, n, i*s + ki*d, j*s + kj*d]

so that ``cols`` viewed as a (C * K, N * P) matrix (K = prod(kernel), P = prod(out)) multiplies
the (O, C * K) weight matrix in a single large GEMM for the whole batch; the product
(O, N * P) is the output with channels first. One large product runs markedly faster in BLAS
than N small per-sample products (measured with OpenBLAS: about 2x for a 3x3 32->64 layer).

``col2im`` is its adjoint (its transpose as a linear map): every column entry is added back
to the input position it was read from. It turns the gradient of the columns into the
gradient of the input, and it is the forward pass of a transposed convolution.

Both loop over the KERNEL OFFSETS only (9 iterations for a 3x3 kernel), never over pixels or
batch items: for a fixed offset (ki, kj) the values read at all output positions form one
strided slice ``xpad[:, :, ki*d : ki*d + (OH-1)*s + 1 : s, kj*d : ...]``, which the array
library copies in one call. col2im adds each offset's slice into a zero buffer with ``+=``;
overlapping windows (stride < kernel) are thereby summed without any scatter.

Stride 1: contiguous runs. For a stride-1 convolution the strided slices above copy short rows
(OW values at a time), which is slow for small images. Viewing each padded image as one flat
row-major vector, kernel offset (ki, kj) reads ``flat[ki*d*Wp + kj*d + i*Wp + j]``: if the output
is computed on the grid (OH, Wp) — every padded column, the last Wp - OW of each row being
discarded afterwards — the values one offset reads form ONE contiguous run of OH * Wp values,
``flat[off : off + OH*Wp]`` ("im2col_flat"). This costs Wp / OW times more columns (3 % for a
padded 64 x 64 image, 40 % for LeNet's 14 -> 10 layer) and is used when that waste is at most
``FLAT_MAX_WASTE``. The same holds in 1-D (no waste at all) and 3-D (grid (OD, Hp, Wp)).

Memory. The columns hold ``prod(kernel)`` copies of the input: a 3x3 convolution of a
(32, 64, 64, 64) float32 batch unfolds to 302 MB. ``batch_chunks`` splits the batch so that
one chunk's columns stay below ``UNFOLD_BUDGET_BYTES`` (64 MB), and a layer keeps its columns
for backward only when they total at most ``KEEP_COLUMNS_BYTES`` (32 MB); otherwise backward
unfolds again, chunk by chunk. For that example the columns are recomputed and the process
peaks at about 305 MB.
"""

from __future__ import annotations

import itertools
import math

from engine.backend import get_array_module
from engine.parallel import split_rows, split_run

__all__ = [
    "UNFOLD_BUDGET_BYTES",
    "KEEP_COLUMNS_BYTES",
    "batch_chunks",
    "im2col",
    "col2im",
    "flat_grid",
    "im2col_flat",
    "col2im_flat",
    "channels_first",
    "pad_spatial",
    "crop_spatial",
    "embed_in_grid",
    "kernel_offsets",
    "window",
    "ntuple",
    "conv_output_size",
]

# Upper bound, in bytes, of one unfolded (im2col) matrix: the batch is unfolded in chunks of
# samples whose columns fit (a single sample larger than the budget is processed alone).
# 64 MB keeps the products large enough for BLAS while avoiding part of the cost of fresh,
# huge allocations (page faults and zeroing by the OS): for the 3x3 32->64 layer on a
# (32, 32, 64, 64) batch, the median step was 1.4x faster than with one 156 MB unfolding.
UNFOLD_BUDGET_BYTES = 64 * 1024**2

# A layer keeps its columns for the weight gradient when all of them together take at most
# this many bytes; a larger layer recomputes them chunk by chunk in backward instead.
# Keeping is not free: the columns are prod(kernel) copies of the input, alive from forward to
# backward, so a deep network kept gigabytes of them (ResNet-18, batch 128 of 28x28: 3.2 GB
# peak) and the recomputation is a copy, cheap beside the products. Measured in CPU time (1
# thread, medgrad benchmark cases): ResNet-18 training step 6.3 s keeping up to 256 MB per layer,
# 5.25 s (peak 1.46 GB) at 32 MB; the 3x3 32->64 layer 0.227 s vs 0.244 s, LeNet-5 and the
# small U-Net within 6 %.
KEEP_COLUMNS_BYTES = 32 * 1024**2

# Largest grid/output size ratio for which stride-1 layers use the contiguous-run unfolding.
FLAT_MAX_WASTE = 1.5


def batch_chunks(n: int, bytes_per_sample: int, budget: int | None = None) -> list[slice]:
    """Split range(n) into consecutive slices whose unfolded size stays within the budget.
    An empty batch is one empty chunk, so that layers return empty outputs (as PyTorch)."""
    if n == 0:
        return [slice(0, 0)]
    budget = UNFOLD_BUDGET_BYTES if budget is None else budget
    per_chunk = max(1, budget // max(1, bytes_per_sample))
    return [slice(i, min(i + per_chunk, n)) for i in range(0, n, per_chunk)]


def ntuple(value, n: int, what: str, op: str) -> tuple:
    """An int or a length-n sequence of ints as an n-tuple (PyTorch's _pair/_triple)."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {what} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    try:
        values = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"{op}: {what} needs {n} values (one per spatial axis), got {value!r}")
    return values


def conv_output_size(in_size, kernel, stride, pads, dilation) -> tuple:
    """out = floor((in + before + after - d*(k-1) - 1) / s) + 1 per spatial axis."""
    return tuple(
        (i + b + a - d * (k - 1) - 1) // s + 1
        for i, k, s, (b, a), d in zip(in_size, kernel, stride, pads, dilation)
    )


def kernel_offsets(kernel):
    """All kernel offsets (ki, kj, ...) in row-major order (the order of the weight's axes)."""
    return itertools.product(*(range(k) for k in kernel))


def window(offset, stride, dilation, out_size):
    """Spatial slices reading, for one kernel offset, the input value of every output position."""
    return tuple(
        slice(o * d, o * d + (m - 1) * s + 1, s) for o, s, d, m in zip(offset, stride, dilation, out_size)
    )


def _is_pointwise(kernel, stride) -> bool:
    # a 1x1 kernel with stride 1 reads each input value exactly once, in order: no copy needed
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride)


def im2col(xpad, kernel, stride, dilation, out_size):
    """Unfold sliding windows.   xpad: (C, N, *padded) -> cols: (C, *kernel, N, *out_size)."""
    c, n = xpad.shape[:2]
    if _is_pointwise(kernel, stride) and tuple(xpad.shape[2:]) == tuple(out_size):
        return xpad.reshape((c,) + (1,) * len(kernel) + (n,) + tuple(out_size))
    xp = get_array_module(xpad)
    cols = xp.empty((c, *kernel, n, *out_size), dtype=xpad.dtype)

    def channels(a, b):
        for offset in kernel_offsets(kernel):
            reads = window(offset, stride, dilation, out_size)
            cols[(slice(a, b),) + offset] = xpad[(slice(a, b), slice(None)) + reads]
    _by_channel(channels, cols)
    return cols


def col2im(cols, padded_size, kernel, stride, dilation, out=None):
    """Fold columns back, summing overlaps (the adjoint of ``im2col``).

    cols: (C, *kernel, N, *out) -> (C, N, *padded_size). Positions no window reads get 0.
    ``out``: an array of that shape (possibly a view into a larger one) to write the result into.
    """
    nk = len(kernel)
    c, n = cols.shape[0], cols.shape[1 + nk]
    out_size = cols.shape[2 + nk :]
    if _is_pointwise(kernel, stride) and tuple(padded_size) == tuple(out_size):
        folded = cols.reshape((c, n) + tuple(out_size))
        if out is None:
            return folded
        out[...] = folded
        return out
    xp = get_array_module(cols)
    xpad = xp.empty((c, n, *padded_size), dtype=cols.dtype) if out is None else out

    def channels(a, b):
        xpad[a:b] = 0
        for offset in kernel_offsets(kernel):
            xpad[(slice(a, b), slice(None)) + window(offset, stride, dilation, out_size)] += \
                cols[(slice(a, b),) + offset]
    _by_channel(channels, cols)
    return xpad


def _row_major_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def flat_grid(padded, kernel, stride, dilation, out_size):
    """For a stride-1 layer: (grid, extra) where grid = (out_1, *padded[1:]) is the output grid
    of the contiguous-run unfolding and extra (0 or 1) the rows of zeros to add after the first
    spatial axis so that the last offset's run stays inside the array; None when the waste
    prod(grid) / prod(out) exceeds FLAT_MAX_WASTE or the stride is not 1."""
    if any(s != 1 for s in stride):
        return None
    grid = (out_size[0],) + tuple(padded[1:])
    if prod(grid) > FLAT_MAX_WASTE * prod(out_size):
        return None
    strides = _row_major_strides(padded)
    tail = sum((k - 1) * d * s for k, d, s in zip(kernel[1:], dilation[1:], strides[1:]))
    return grid, int(tail > 0)


def _flat_offsets(kernel, dilation, padded):
    strides = _row_major_strides(padded)
    return [sum(o * d * s for o, d, s in zip(offset, dilation, strides)) for offset in kernel_offsets(kernel)]


def im2col_flat(xpad, kernel, dilation, grid, span=None):
    """Stride-1 unfolding with contiguous runs.   xpad: (C, N, *padded) -> (C, *kernel, N, *grid).

    xpad must include the ``extra`` row of ``flat_grid``; grid positions outside the true
    output hold values that the caller discards. With ``span`` = (start, stop), only the grid
    positions start..stop-1 (in flat, row-major order) are unfolded, as (C, prod(kernel), N,
    stop - start): a volume too large to unfold at once is unfolded span by span."""
    c, n = xpad.shape[:2]
    flat = xpad.reshape(c, n, prod(xpad.shape[2:]))  # explicit size: -1 is ambiguous for an empty batch
    start, stop = (0, prod(grid)) if span is None else span
    xp = get_array_module(xpad)
    cols = xp.empty((c, prod(kernel), n, stop - start), dtype=xpad.dtype)
    offsets = _flat_offsets(kernel, dilation, xpad.shape[2:])

    def channels(a, b):
        for k, off in enumerate(offsets):
            cols[a:b, k] = flat[a:b, :, off + start : off + stop]
    _by_channel(channels, cols)
    return cols.reshape((c, *kernel, n, *grid)) if span is None else cols


def col2im_flat(cols, padded, kernel, dilation, span=None, out=None):
    """Adjoint of ``im2col_flat``: (C, *kernel, N, *grid) -> (C, N, *padded), padded including
    the extra row. Columns at discarded grid positions must be zero.

    ``out`` (C, N, *padded), possibly a block of a larger array: the result is written into it. With
    ``span`` (the columns of grid positions start..stop-1, shaped (C, prod(kernel), N, stop - start)
    as ``im2col_flat`` gives them) it is instead ADDED into ``out``, which the caller zeroes once:
    the adjoint of unfolding span by span."""
    nk = len(kernel)
    if span is None:
        c, n = cols.shape[0], cols.shape[1 + nk]
        start, stop = 0, prod(cols.shape[2 + nk :])
        cols = cols.reshape(c, prod(kernel), n, stop)
    else:
        (c, _, n, _), (start, stop) = cols.shape, span
    xp = get_array_module(cols)
    # out's spatial axes must be contiguous (true of a channel or batch block of a C-order array),
    # so that this reshape is a view of it
    flat = (xp.empty((c, n, prod(padded)), dtype=cols.dtype) if out is None
            else out.reshape(c, n, prod(padded)))
    offsets = _flat_offsets(kernel, dilation, padded)

    def channels(a, b):
        if span is None or out is None:
            flat[a:b] = 0
        for k, off in enumerate(offsets):
            flat[a:b, :, off + start : off + stop] += cols[a:b, k]
    _by_channel(channels, cols)
    return flat.reshape((c, n, *padded)) if out is None else out


def _by_channel(fn, cols):
    """Run fn(first, last) over the channel axis, split across the cores for large host arrays
    (engine/parallel.py): the copies are independent per channel, so the parts never overlap."""
    split_run(fn, cols.shape[0], cols)


def channels_first(x):
    """(N, C, *spatial) -> (C, N, *spatial) as a view (and back: the map is its own inverse)."""
    return x.swapaxes(0, 1)


def pad_spatial(x, pads, value=0.0):
    """Pad the spatial axes (all but the first two).   pads: ((before, after), ...) per axis."""
    if not any(b or a for b, a in pads):
        return x
    xp = get_array_module(x)
    # a filled buffer and one copy into its interior: 1.6x faster than xp.pad, which writes
    # each border strip separately (measured on a ResNet-18 layer, 64 x 128 x 28 x 28); both
    # passes split by channel over the cores for large arrays
    shape = x.shape[:2] + tuple(size + b + a for size, (b, a) in zip(x.shape[2:], pads))
    out = xp.empty(shape, dtype=x.dtype)
    interior = (slice(None), slice(None)) + tuple(slice(b, b + size) for size, (b, _) in zip(x.shape[2:], pads))

    def channels(block, source):  # block: (channels, N, *padded)
        block[...] = value
        block[interior] = source
    split_rows(channels, out, x)
    return out


def embed_in_grid(y, grid):
    """(C, N, *out) -> (C, N, *grid), y in the leading corner and zeros elsewhere (the gradient of
    cutting the valid part out of a flat grid): only the extra positions are zeroed, not the whole
    array first, and the copy is split by channel over the cores."""
    xp = get_array_module(y)
    full = xp.empty(y.shape[:2] + tuple(grid), dtype=y.dtype)
    valid = (slice(None), slice(None)) + tuple(slice(0, s) for s in y.shape[2:])

    def channels(block, source):  # block: (channels, N, *grid)
        block[valid] = source
        for axis, size in enumerate(y.shape[2:]):  # the strips beyond the valid size, axis by axis
            if size < grid[axis]:
                block[(slice(None), slice(None)) + (slice(None),) * axis + (slice(size, None),)] = 0
    split_rows(channels, full, y)
    return full


def crop_spatial(xpad, pads):
    """Undo ``pad_spatial`` (a view)."""
    if not any(b or a for b, a in pads):
        return xpad
    key = tuple(slice(b, size - a) for (b, a), size in zip(pads, xpad.shape[2:]))
    return xpad[(slice(None), slice(None)) + key]


def prod(values) -> int:
    return math.prod(int(v) for v in values)
