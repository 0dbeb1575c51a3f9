"""Arithmetic: + - * / ** and negation.

Every backward here returns gradients of the *broadcast* shape; the engine sums them back to
each input's shape (see engine.autograd._fit_gradient), so none of these ops handles
broadcasting itself.
"""

from __future__ import annotations

import numbers

from engine.autograd import Function
from engine.ops.math import log, where


class Add(Function):
    """y = a + b.   dy/da = 1,  dy/db = 1."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy

    def backward_arrays(self, gy):
        return gy, gy


class Sub(Function):
    """y = a - b.   dy/da = 1,  dy/db = -1."""

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy

    def backward_arrays(self, gy):
        return gy, -gy if self.inputs[1].requires_grad else None


class Mul(Function):
    """y = a * b.   dy/da = b,  dy/db = a."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b, gy * a

    def backward_arrays(self, gy):
        a, b = self.inputs
        return (gy * b.data if a.requires_grad else None), (gy * a.data if b.requires_grad else None)


class Div(Function):
    """y = a / b.   dy/da = 1 / b,  dy/db = -a / b^2."""

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return ga, -ga * a / b

    def backward_arrays(self, gy):
        a, b = self.inputs
        ga = gy / b.data
        return ga, (-ga * a.data / b.data if b.requires_grad else None)


class Neg(Function):
    """y = -x.   dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy

    def backward_arrays(self, gy):
        return -gy


class PowScalar(Function):
    """y = x^p for a constant Python number p.   dy/dx = p x^(p-1)."""

    def __init__(self, p: float):
        self.p = p

    def forward(self, x):
        return x**self.p

    def backward(self, gy):
        (x,) = self.inputs
        if self.p == 2:
            return gy * x * 2.0
        return gy * self.p * x ** (self.p - 1)


class Pow(Function):
    """y = a^b with a tensor exponent.   dy/da = b a^(b-1),  dy/db = a^b ln a.

    The gradient with respect to b is only defined for a > 0 (ln a); like PyTorch we return
    what the formula gives (nan where a < 0, and 0 where a == 0 and b > 0 would need a limit).
    """

    def forward(self, a, b):
        return a**b

    def backward(self, gy):
        a, b = self.inputs
        y = self.output()
        safe_log = log(where(a.data > 0, a, 1.0))
        return gy * b * a ** (b - 1.0), gy * y * safe_log


class RPowScalar(Function):
    """y = c^x for a constant base c > 0.   dy/dx = c^x ln c."""

    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        return self.xp.power(x.dtype.type(self.c), x)

    def backward(self, gy):
        import math

        return gy * self.output() * math.log(self.c)


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def neg(x):
    return Neg()(x)


def pow(x, exponent):
    """x ** exponent; a Python-number exponent uses the cheaper PowScalar."""
    if isinstance(exponent, numbers.Number):
        return PowScalar(exponent)(x)
    return Pow()(x, exponent)


def rpow(x, base):
    """base ** x for a Python number base."""
    if isinstance(base, numbers.Number) and base > 0:
        return RPowScalar(base)(x)
    return Pow()(base, x)
