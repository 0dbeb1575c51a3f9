"""Reductions over any axes: sum, mean, max, min, var, std, logsumexp, argmax, argmin.

All take PyTorch's ``dim=`` / ``keepdim=`` and accept NumPy's ``axis=`` / ``keepdims=``.
"""

from __future__ import annotations

import numpy as np

from engine.autograd import Function
from engine.ops._axes import keep_shape, normalize_axes, resolve_dim
from engine.ops.math import exp, log, where
from engine.tensor import Tensor


class Sum(Function):
    """y = (sum of x over axes) / divisor (1 for a sum, the count for a mean).
    dy/dx = 1 / divisor: the gradient is broadcast back to x's shape.

    float16 is accumulated in float32 and divided before rounding back, as PyTorch does: the
    mean of [6e4, 6e4] is 6e4, although their sum (1.2e5) exceeds float16's range (65504).
    """

    def __init__(self, axes, keepdims, divisor: float = 1.0):
        self.axes, self.keepdims, self.divisor = axes, keepdims, float(divisor)

    def forward(self, x):
        self.x_shape = x.shape
        accumulate = self.xp.float32 if x.dtype == self.xp.float16 else None
        y = x.sum(axis=self.axes, keepdims=self.keepdims, dtype=accumulate)
        if self.divisor != 1.0:
            y = y / self.divisor
        if accumulate is None:
            return y
        with np.errstate(over="ignore"):  # a float16 sum beyond 65504 is inf, silently, as in PyTorch
            return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        if not self.keepdims:
            gy = gy.reshape(keep_shape(self.x_shape, self.axes))
        g = gy.broadcast_to(self.x_shape)
        return g / self.divisor if self.divisor != 1.0 else g

    def backward_arrays(self, gy):
        if not self.keepdims:
            gy = gy.reshape(keep_shape(self.x_shape, self.axes))
        g = self.xp.broadcast_to(gy, self.x_shape)
        return g / gy.dtype.type(self.divisor) if self.divisor != 1.0 else g


class StdFromVariance(Function):
    """y = sqrt(v) for a variance v >= 0.   dy/dv = 1 / (2 y), taken as 0 where y = 0.

    At a constant input (v = 0) the square root has no derivative; PyTorch defines the gradient
    of std there as 0, so that a blank image patch gives a zero gradient instead of NaN. The
    safe denominator keeps the second derivative finite too.
    """

    def forward(self, v):
        return self.xp.sqrt(v)

    def backward(self, gy):
        y = self.output()
        zero = y.data == 0
        safe = where(zero, 1.0, y)
        return where(zero, 0.0, gy / (safe * 2.0))


class MaxMin(Function):
    """y = max (or min) of x over axes.

    dy/dx is 1 at the position of the extreme and 0 elsewhere; when several elements tie for
    the extreme, the gradient is shared equally among them (as ``torch.amax`` does).
    """

    def __init__(self, axes, keepdims, mode: str):
        self.axes, self.keepdims, self.mode = axes, keepdims, mode

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.mode}: cannot reduce an empty tensor of shape {x.shape}")
        reduce = x.max if self.mode == "max" else x.min
        return reduce(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        (x,) = self.inputs
        kept = keep_shape(x.shape, self.axes)
        y = self.output().data.reshape(kept)
        hit = (x.data == y).astype(gy.dtype)
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return gy.reshape(kept) * share


def _axes_args(x, dim, axis, op):
    return normalize_axes(resolve_dim(dim, axis, op), x.ndim, op)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Sum over ``dim`` (all elements when None)."""
    keepdim = keepdim if keepdims is None else keepdims
    return Sum(_axes_args(x, dim, axis, "sum"), keepdim)(x)


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over ``dim``: the sum divided by the number of elements reduced."""
    keepdim = keepdim if keepdims is None else keepdims
    axes = _axes_args(x, dim, axis, "mean")
    n = x.data.size if axes is None else _prod(x.shape[a] for a in axes)
    if n == 0:
        raise ValueError(f"mean: cannot average over zero elements (shape {x.shape}, dim={dim})")
    return Sum(axes, keepdim, divisor=n)(x)


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Largest value over ``dim``. Unlike ``torch.max(x, dim)`` it returns values only (use
    ``argmax`` for the indices), i.e. it behaves like ``torch.amax``."""
    keepdim = keepdim if keepdims is None else keepdims
    return MaxMin(_axes_args(x, dim, axis, "max"), keepdim, "max")(x)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Smallest value over ``dim`` (values only, like ``torch.amin``)."""
    keepdim = keepdim if keepdims is None else keepdims
    return MaxMin(_axes_args(x, dim, axis, "min"), keepdim, "min")(x)


def var(x, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    """Variance: mean squared deviation, divided by (n - correction) (PyTorch's default, the
    unbiased estimate, is correction=1; NumPy's default is 0)."""
    keepdim = keepdim if keepdims is None else keepdims
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = _axes_args(x, dim, axis, "var")
    n = x.data.size if axes is None else _prod(x.shape[a] for a in axes)
    if n - correction <= 0:
        raise ValueError(f"var: {n} elements are too few for correction={correction} (shape {x.shape})")
    centred = x - mean(x, axes, keepdim=True)
    return Sum(axes, keepdim, divisor=n - correction)(centred * centred)


def std(x, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
    """Standard deviation: the square root of ``var`` (same arguments); its gradient at a
    constant input is 0, as in PyTorch (see StdFromVariance)."""
    return StdFromVariance()(var(x, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis,
                                 keepdims=keepdims))


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) computed stably: m + log(sum(exp(x - m))) with m = max(x) (a constant).

    Subtracting the maximum keeps exp() from overflowing for logits of magnitude 1e4; since m
    is treated as a constant the gradient is still exactly softmax(x).
    """
    keepdim = keepdim if keepdims is None else keepdims
    axes = _axes_args(x, dim, axis, "logsumexp")
    m = x.data.max(axis=axes, keepdims=True)
    m = x._xp.where(x._xp.isfinite(m), m, 0)  # all -inf along an axis: avoid inf - inf
    out = log(Sum(axes, True)(exp(x - m))) + m
    if not keepdim:
        out = out.reshape([s for i, s in enumerate(out.shape) if axes is not None and i not in axes])
    return out


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the largest value (flattened when dim is None); no gradient."""
    return _arg(x, dim, keepdim, axis, keepdims, "argmax")


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the smallest value (flattened when dim is None); no gradient."""
    return _arg(x, dim, keepdim, axis, keepdims, "argmin")


def _arg(x, dim, keepdim, axis, keepdims, op):
    keepdim = keepdim if keepdims is None else keepdims
    d = resolve_dim(dim, axis, op)
    if d is not None:
        d = normalize_axes(d, x.ndim, op)[0]
    out = getattr(x.data, op)(axis=d, keepdims=keepdim).astype("int64")
    return Tensor(out)


def _prod(values):
    out = 1
    for v in values:
        out *= v
    return out
