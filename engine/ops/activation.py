"""Activation functions phi in a neuron's output phi(W^T x + b), and softmax / log-softmax.

Each is written to stay finite for inputs of any magnitude (|x| = 1e4 included): sigmoid via
tanh, softplus via log1p(exp(-|x|)), softmax after subtracting the maximum.
"""

from __future__ import annotations

import math

from engine.autograd import Function
from engine.backend import scipy_module
from engine.ops._axes import normalize_axes, resolve_dim
from engine.ops.math import erf, exp, minimum, where
from engine.parallel import map_rows


class ReLU(Function):
    """y = max(x, 0).   dy/dx = 1 for x > 0, else 0 (0 at the kink, as in PyTorch)."""

    def forward(self, x):
        xp = self.xp
        return map_rows(xp, lambda out, x: xp.maximum(x, 0, out=out), x)  # over the cores when large

    def backward(self, gy):
        return gy * (self.output().data > 0).astype(gy.dtype)

    def backward_arrays(self, gy):
        xp = self.xp
        return map_rows(xp, lambda out, g, y: xp.multiply(g, y > 0, out=out), gy, self.output().data)


class LeakyReLU(Function):
    """y = x for x > 0, else slope * x.   dy/dx = 1 or slope."""

    def __init__(self, negative_slope=0.01):
        self.slope = negative_slope

    def _select(self, out, positive, v):
        """out = v where positive, slope * v elsewhere (in place: no temporaries but the mask)."""
        self.xp.multiply(v, self.slope, out=out)
        self.xp.copyto(out, v, where=positive > 0)

    def forward(self, x):
        return map_rows(self.xp, lambda out, x: self._select(out, x, x), x)  # over the cores when large

    def backward(self, gy):
        (x,) = self.inputs
        return gy * self.xp.where(x.data > 0, 1.0, self.slope).astype(gy.dtype)

    def backward_arrays(self, gy):
        return map_rows(self.xp, lambda out, g, x: self._select(out, x, g), gy, self.inputs[0].data)


class ELU(Function):
    """y = x for x > 0, else alpha (e^x - 1).   dy/dx = 1, or alpha e^x = y + alpha."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        xp = self.xp
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(self, gy):
        (x,) = self.inputs
        positive = x.data > 0
        return where(positive, gy, gy * exp(minimum(x, 0.0)) * self.alpha)


class GELU(Function):
    """y = x Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel 2016).

    dy/dx = Phi(x) + x phi(x), phi the normal density. ``approximate="tanh"`` uses
    Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2, as PyTorch does.
    """

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        xp = self.xp
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + xp.tanh(inner))
        erf = scipy_module(xp, "special").erf
        return (0.5 * x * (1 + erf(x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.inputs
        if self.approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            t = tanh((x + x * x * x * 0.044715) * c)
            dinner = (x * x * (3 * 0.044715) + 1.0) * c
            return gy * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * dinner)
        cdf = (erf(x * (1 / math.sqrt(2))) + 1.0) * 0.5
        pdf = exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
        return gy * (cdf + x * pdf)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 so it never overflows.
    dy/dx = y (1 - y)."""

    def forward(self, x):
        return 0.5 * (self.xp.tanh(0.5 * x) + 1)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1.0 - y)

    def backward_arrays(self, gy):
        xp = self.xp

        def rows(out, g, y):  # in place in the output: no temporaries, over the cores when large
            xp.subtract(1.0, y, out=out)
            out *= y
            out *= g
        return map_rows(xp, rows, gy, self.output().data)


class Tanh(Function):
    """y = tanh x.   dy/dx = 1 - y^2."""

    def forward(self, x):
        xp = self.xp
        return map_rows(xp, lambda out, x: xp.tanh(x, out=out), x)  # over the cores when large

    def backward(self, gy):
        y = self.output()
        return gy * (1.0 - y * y)

    def backward_arrays(self, gy):
        xp = self.xp

        def rows(out, g, y):  # in place in the output: no temporaries, over the cores when large
            xp.multiply(y, y, out=out)
            xp.subtract(1.0, out, out=out)
            out *= g
        return map_rows(xp, rows, gy, self.output().data)


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, linear (y = x) where beta x > threshold, as PyTorch.

    Computed as max(z, 0) + log1p(e^-|z|) with z = beta x.  dy/dx = sigmoid(beta x).
    """

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = self.xp
        z = x * self.beta
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / self.beta
        return xp.where(z > self.threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.inputs
        linear = x.data * self.beta > self.threshold
        return where(linear, gy, gy * sigmoid(x * self.beta))


class Softmax(Function):
    """y_i = e^(x_i) / sum_j e^(x_j) along ``axis`` (after subtracting the max, for stability).

    Jacobian dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx = y * (g - sum(g * y)).
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output()
        return y * (gy - (gy * y).sum(dim=self.axis, keepdim=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``.   dL/dx = g - softmax(x) * sum(g)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y = self.output()
        return gy - exp(y) * gy.sum(dim=self.axis, keepdim=True)


# --- function forms (torch.nn.functional names) -------------------------------------------------
def relu(x):
    return ReLU()(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU(negative_slope)(x)


def elu(x, alpha=1.0):
    return ELU(alpha)(x)


def gelu(x, approximate="none"):
    return GELU(approximate)(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus(beta, threshold)(x)


def _softmax_dim(x, dim, axis, op):
    d = resolve_dim(dim, axis, op)
    if d is None:
        raise TypeError(f"{op}: pass dim= (PyTorch no longer guesses it)")
    return normalize_axes(d, x.ndim, op)[0]


def softmax(x, dim=None, *, axis=None):
    return Softmax(_softmax_dim(x, dim, axis, "softmax"))(x)


def log_softmax(x, dim=None, *, axis=None):
    return LogSoftmax(_softmax_dim(x, dim, axis, "log_softmax"))(x)
