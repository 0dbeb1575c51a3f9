"""Elementwise mathematical functions, comparisons and selection."""

from __future__ import annotations

import math

from engine.autograd import Function
from engine.backend import scipy_module
from engine.tensor import Tensor, as_tensor


class Exp(Function):
    """y = e^x.   dy/dx = e^x = y."""

    def forward(self, x):
        return self.xp.exp(x)

    def backward(self, gy):
        return gy * self.output()

    def backward_arrays(self, gy):
        return gy * self.output().data


class Log(Function):
    """y = ln x.   dy/dx = 1 / x."""

    def forward(self, x):
        return self.xp.log(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy / x

    def backward_arrays(self, gy):
        return gy / self.inputs[0].data


class Log1p(Function):
    """y = ln(1 + x), accurate for small x.   dy/dx = 1 / (1 + x)."""

    def forward(self, x):
        return self.xp.log1p(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy / (x + 1.0)


class Sqrt(Function):
    """y = sqrt(x).   dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, gy):
        return gy / (self.output() * 2.0)


class Abs(Function):
    """y = |x|.   dy/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * self.xp.sign(x.data)


class Sin(Function):
    """y = sin x.   dy/dx = cos x."""

    def forward(self, x):
        return self.xp.sin(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * cos(x)


class Cos(Function):
    """y = cos x.   dy/dx = -sin x."""

    def forward(self, x):
        return self.xp.cos(x)

    def backward(self, gy):
        (x,) = self.inputs
        return -gy * sin(x)


class Erf(Function):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt.   dy/dx = 2/sqrt(pi) e^(-x^2)."""

    def forward(self, x):
        return scipy_module(self.xp, "special").erf(x).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * exp(-(x * x)) * (2.0 / math.sqrt(math.pi))


class Clip(Function):
    """y = min(max(x, lo), hi).   dy/dx = 1 where lo <= x <= hi, else 0 (as torch.clamp)."""

    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return self.xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        (x,) = self.inputs
        inside = self.xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x.data >= self.lo
        if self.hi is not None:
            inside &= x.data <= self.hi
        return gy * inside.astype(gy.dtype)


class Maximum(Function):
    """y = max(a, b) elementwise.   The gradient goes to the larger input; ties split it in half
    (as PyTorch does)."""

    def forward(self, a, b):
        return self.xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = (a.data > b.data) + 0.5 * (a.data == b.data)
        wa = wa.astype(gy.dtype)
        return gy * wa, gy * (1.0 - wa)


class Minimum(Function):
    """y = min(a, b) elementwise.   The gradient goes to the smaller input; ties split it."""

    def forward(self, a, b):
        return self.xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = (a.data < b.data) + 0.5 * (a.data == b.data)
        wa = wa.astype(gy.dtype)
        return gy * wa, gy * (1.0 - wa)


class Where(Function):
    """y = a where cond else b.   dy/da = cond,  dy/db = not cond.  (cond is a constant mask.)"""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return self.xp.where(self.cond, a, b)

    def backward(self, gy):
        zeros = gy * 0.0
        return where(self.cond, gy, zeros), where(self.cond, zeros, gy)


# --- function forms ---------------------------------------------------------------------------
def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def log1p(x):
    return Log1p()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):
    return Abs()(x)


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def erf(x):
    return Erf()(x)


def clip(x, min=None, max=None):
    """Clamp values into [min, max] (either bound may be None). Alias: clamp."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip(min, max)(x)


clamp = clip


def maximum(a, b):
    return Maximum()(a, b)


def minimum(a, b):
    return Minimum()(a, b)


def where(condition, a, b):
    """Elementwise selection: a where condition is true, b elsewhere (all broadcast together)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if ref is None:
        a = as_tensor(a)
        ref = a
    return Where(condition)(as_tensor(a, like=ref), as_tensor(b, like=ref))


def sign(x):
    """sign(x) in {-1, 0, 1}; not differentiable (returns a constant tensor)."""
    return Tensor(x._xp.sign(x.data))


def _compare(name):
    def compare(a, b):
        ref = a if isinstance(a, Tensor) else b
        a, b = as_tensor(a, like=ref), as_tensor(b, like=ref)
        if a.device != b.device:
            raise RuntimeError(f"{name}: tensors on different devices ({a.device}, {b.device})")
        return Tensor(getattr(ref._xp, name)(a.data, b.data))

    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} (a boolean tensor; comparisons have no gradient)."
    return compare


greater = _compare("greater")
greater_equal = _compare("greater_equal")
less = _compare("less")
less_equal = _compare("less_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")
