"""Resizing feature maps: ``interpolate`` with nearest, (bi/tri)linear and area modes.

Every mode here is separable: resizing an image is resizing its rows, then its columns (and
its slices in 3-D). Along one axis, output position j reads input positions through
PyTorch's coordinate conventions (``scale`` = in/out, or 1/scale_factor when a scale factor
was given):

    nearest         src = min(floor(j * scale), in - 1)
    nearest-exact   src = min(floor((j + 0.5) * scale), in - 1)
    linear          x = (j + 0.5) * scale - 0.5, clamped at 0     (align_corners=False: pixel
                                                                   centres line up)
                    x = j * (in - 1) / (out - 1)                  (align_corners=True: the corner
                                                                   pixels line up)
                    y[j] = (1 - t) * x[i0] + t * x[i1],  i0 = floor(x), i1 = min(i0 + 1, in - 1),
                    t = x - i0

Coordinates are computed in the input's dtype, as PyTorch does, so float32 results match.

Each axis is a gather with at most two taps and weights. Its backward is the transposed map:
every output's gradient, times its weight, is added back to the input position it was read
from. Several outputs read the same input (upsampling), so this is a scatter-add; because the
source positions are sorted along the axis, it is split into a few rounds (the k-th output of
every run of equal positions, k = 0, 1, ...) whose positions are all distinct, so each round
is a plain ``+=``. Within a round, outputs and sources usually advance by constant steps (for
an integer scale factor, all but the ends), so a round is a few strided-slice additions —
an order of magnitude faster in NumPy than a general scatter-add or fancy indexing.

The index arithmetic depends only on the sizes: it runs on the host (NumPy) and the index and
weight vectors are copied to the input's device once per call.
"""

from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.autograd import Function
from engine.nn.functional.pooling import _adaptive_avg
from engine.tensor import Tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "trilinear": 3, "area": None}


class Resample1d(Function):
    """y = sum over taps t of weight_t * x.take(index_t, axis): a sparse linear map along one axis.

    taps: [(index, weight)] as host (NumPy) arrays: index (out,) non-decreasing source
    positions, weight (out,) or None (weight 1). They are copied to the input's device once.
    dL/dx = sum over taps of the scatter-add of weight_t * dL/dy to index_t: the transposed map,
    ``ResampleTranspose1d``, whose own derivative is this map again (both are linear).
    """

    # a round whose (output, source) pairs need more arithmetic runs than this uses fancy indexing
    MAX_RUNS = 8

    def __init__(self, axis, taps):
        self.axis, self.host_taps = axis, taps

    def forward(self, x):
        self.taps = _device_taps(self.host_taps, backend.device_of(x))
        y = None
        for index, weight in self.taps:
            v = self.xp.take(x, index, axis=self.axis)
            if weight is not None:
                v *= _along(weight, self.axis, x.ndim)
            if y is None:
                y = v
            else:
                y += v
        return y

    def backward(self, gy):
        return ResampleTranspose1d(self.axis, self.host_taps, self.inputs[0].shape[self.axis])(gy)

    def backward_arrays(self, gy):
        return _resample_transpose(self.xp, gy, self.axis, self.taps, self.host_taps, self.inputs[0].shape[self.axis],
                                   self.MAX_RUNS)


class ResampleTranspose1d(Function):
    """The transpose of ``Resample1d`` along ``axis``: each value, times its tap weight, added to
    its source position (an input of size n_in). Its derivative is ``Resample1d`` again."""

    def __init__(self, axis, taps, n_in):
        self.axis, self.host_taps, self.n_in = axis, taps, n_in

    def forward(self, gy):
        taps = _device_taps(self.host_taps, backend.device_of(gy))
        return _resample_transpose(self.xp, gy, self.axis, taps, self.host_taps, self.n_in, Resample1d.MAX_RUNS)

    def backward(self, g):
        return Resample1d(self.axis, self.host_taps)(g)


def _resample_transpose(xp, gy, axis, taps, host_taps, n_in, max_runs):
    """sum over taps of the scatter-add of weight_t * gy to index_t along axis (see the module
    docstring for the rounds of distinct positions)."""
    shape = list(gy.shape)
    shape[axis] = n_in
    gx = xp.zeros(tuple(shape), dtype=gy.dtype)
    head = (slice(None),) * axis
    for (_, weight), (host_index, _) in zip(taps, host_taps):
        v = gy * _along(weight, axis, gy.ndim) if weight is not None else gy
        # rank of each output within its run of equal source positions (index is sorted):
        # the outputs of one rank have distinct sources, so ``+=`` adds them all correctly
        rank = np.arange(host_index.shape[0]) - np.searchsorted(host_index, host_index, side="left")
        for r in range(int(rank.max()) + 1):  # a handful of rounds: about out / in + 1
            chosen = np.nonzero(rank == r)[0]
            runs = _arithmetic_runs(chosen, host_index[chosen])
            if len(runs) <= max_runs:  # strided slices: much faster than fancy indexing
                for out_slice, in_slice in runs:
                    gx[head + (in_slice,)] += v[head + (out_slice,)]
            else:
                device = backend.device_of(gy)
                targets = backend.to_device(host_index[chosen], device)
                gx[head + (targets,)] += xp.take(v, backend.to_device(chosen, device), axis=axis)
    return gx


def _along(vector, axis, ndim):
    """A (out,) vector shaped to broadcast along ``axis`` of an ndim-D array."""
    shape = [1] * ndim
    shape[axis] = vector.shape[0]
    return vector.reshape(shape)


def _device_taps(host_taps, device):
    """The host (index, weight) taps copied to ``device``."""
    return [(backend.to_device(i, device), None if w is None else backend.to_device(w, device)) for i, w in host_taps]


def _arithmetic_runs(src, dst) -> list[tuple[slice, slice]]:
    """Cut the increasing pairs (src[k], dst[k]) into maximal runs in which both advance by
    constant steps, as (slice of src positions, slice of dst positions). Host integers only."""
    runs, k, n = [], 0, len(src)
    while k < n:
        end = k
        if k + 1 < n:
            step_s, step_d = int(src[k + 1] - src[k]), int(dst[k + 1] - dst[k])
            end = k + 1
            while end + 1 < n and src[end + 1] - src[end] == step_s and dst[end + 1] - dst[end] == step_d:
                end += 1
        else:
            step_s = step_d = 1
        runs.append((slice(int(src[k]), int(src[end]) + 1, step_s), slice(int(dst[k]), int(dst[end]) + 1, step_d)))
        k = end + 1
    return runs


def _source_index(dtype, n_in, n_out, mode, align_corners, scale_factor):
    """(out,) taps [(index, weight)] for one axis as host arrays, following PyTorch's arithmetic
    (see the module docstring) in the input's floating-point dtype."""
    if mode == "nearest" and n_out in (n_in, 2 * n_in):
        # PyTorch's shortcuts, taken whatever the scale factor: copy, or halve the index
        return [(np.arange(n_out, dtype=np.int64) * n_in // n_out, None)]
    if mode in ("nearest", "nearest-exact"):
        scale = np.float32((1.0 / scale_factor) if scale_factor else n_in / n_out)
        j = np.arange(n_out, dtype=np.float32)
        if mode == "nearest-exact":
            j = j + np.float32(0.5)
        src = np.floor(j * scale).astype(np.int64)
        return [(np.minimum(src, n_in - 1), None)]
    dtype = np.dtype(dtype)
    if align_corners:
        scale = dtype.type((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        real = np.arange(n_out, dtype=dtype) * scale
    else:
        scale = dtype.type((1.0 / scale_factor) if scale_factor else n_in / n_out)
        half = dtype.type(0.5)
        real = np.maximum((np.arange(n_out, dtype=dtype) + half) * scale - half, dtype.type(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    t = np.clip(real - i0.astype(dtype), 0, 1).astype(dtype)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return [(i0, (1 - t).astype(dtype)), (i1, t)]


def _output_sizes(x, nd, size, scale_factor, recompute_scale_factor, op):
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor (got size={size!r}, "
                         f"scale_factor={scale_factor!r})")
    in_size = tuple(x.shape[2:])
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(int(s) for s in size)
        if len(sizes) != nd:
            raise ValueError(f"{op}: size {size!r} needs {nd} values for an input of shape {tuple(x.shape)}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"{op}: size must be positive, got {size!r}")
        return sizes, (None,) * nd
    scales = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
        tuple(float(s) for s in scale_factor)
    if len(scales) != nd:
        raise ValueError(f"{op}: scale_factor {scale_factor!r} needs {nd} values for an input of shape "
                         f"{tuple(x.shape)}")
    if any(s <= 0 for s in scales):
        raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
    sizes = tuple(math.floor(i * s) for i, s in zip(in_size, scales))
    if any(s < 1 for s in sizes):
        raise ValueError(f"{op}: scale_factor {scale_factor!r} shrinks the input {tuple(x.shape)} to nothing")
    # PyTorch maps coordinates with 1/scale_factor unless asked to recompute it from the sizes
    return sizes, ((None,) * nd if recompute_scale_factor else scales)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize the spatial axes of x: (N, C, *in) -> (N, C, *size) (``torch.nn.functional.interpolate``).

    size: int or tuple (the output size), or scale_factor: float or tuple (output =
    floor(in * scale_factor)). mode: 'nearest', 'nearest-exact', 'linear' (3-D input),
    'bilinear' (4-D), 'trilinear' (5-D) or 'area' (adaptive average pooling).
    align_corners (linear modes only, default False): see the module docstring.
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {sorted(_MODES)}, got {mode!r}")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{op}: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape {tuple(input.shape)}")
    if _MODES[mode] is not None and _MODES[mode] != nd:
        raise ValueError(
            f"{op}: mode {mode!r} needs a {_MODES[mode] + 2}-D input, got a {input.ndim}-D tensor of shape "
            f"{tuple(input.shape)} (use 'linear' for 3-D, 'bilinear' for 4-D, 'trilinear' for 5-D)"
        )
    linear = _MODES[mode] is not None
    if align_corners is not None and not linear:
        raise ValueError(f"{op}: align_corners can only be set with the linear modes, not mode={mode!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating-point, got {input.dtype}")
    sizes, scales = _output_sizes(input, nd, size, scale_factor, recompute_scale_factor, op)
    if mode == "area":
        return _adaptive_avg(nd, input, sizes, op)
    y = input
    for a, (n_in, n_out, s) in enumerate(zip(input.shape[2:], sizes, scales)):
        if n_in == n_out and (s is None or s == 1.0 or mode == "nearest"):
            continue  # the identity map
        taps = _source_index(input.dtype, n_in, n_out, mode, bool(align_corners), s)
        y = Resample1d(2 + a, taps)(y)
    return y


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated PyTorch alias of ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Bilinear resizing with align_corners=True (PyTorch's legacy UpsamplingBilinear2d)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
