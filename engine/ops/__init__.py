"""The differentiable operations, and the Tensor methods and operators that call them.

Each op is a small Function class (forward and backward side by side) in one of:
arithmetic (+ - * / **), math (exp, log, ...), matmul, reduction (sum, max, var, ...),
shape (reshape, cat, pad, ...), indexing (x[key], gather), activation (relu, softmax, ...),
misc (dtype casts, device moves).
"""

from __future__ import annotations

from engine.ops import activation, arithmetic, indexing, math, matmul, misc, reduction, shape  # noqa: F401
from engine.tensor import Tensor

# ---- operators -----------------------------------------------------------------------------------
Tensor.__add__ = lambda a, b: arithmetic.add(a, b)
Tensor.__radd__ = lambda a, b: arithmetic.Add()(b, a)
Tensor.__sub__ = lambda a, b: arithmetic.sub(a, b)
Tensor.__rsub__ = lambda a, b: arithmetic.Sub()(b, a)
Tensor.__mul__ = lambda a, b: arithmetic.mul(a, b)
Tensor.__rmul__ = lambda a, b: arithmetic.Mul()(b, a)
Tensor.__truediv__ = lambda a, b: arithmetic.div(a, b)
Tensor.__rtruediv__ = lambda a, b: arithmetic.Div()(b, a)
Tensor.__pow__ = lambda a, p: arithmetic.pow(a, p)
Tensor.__rpow__ = lambda a, base: arithmetic.rpow(a, base)
Tensor.__neg__ = lambda a: arithmetic.neg(a)
Tensor.__pos__ = lambda a: a
Tensor.__matmul__ = lambda a, b: matmul.matmul(a, b)
Tensor.__rmatmul__ = lambda a, b: matmul.MatMul()(b, a)
Tensor.__abs__ = lambda a: math.abs(a)
Tensor.__getitem__ = lambda a, key: indexing.getitem(a, key)
Tensor.__lt__ = lambda a, b: math.less(a, b)
Tensor.__le__ = lambda a, b: math.less_equal(a, b)
Tensor.__gt__ = lambda a, b: math.greater(a, b)
Tensor.__ge__ = lambda a, b: math.greater_equal(a, b)
Tensor.__eq__ = lambda a, b: math.equal(a, b)
Tensor.__ne__ = lambda a, b: math.not_equal(a, b)


def _setitem(self, key, value):
    """In-place assignment is allowed only outside the graph (no autograd through it)."""
    from engine import autograd

    if self.requires_grad and autograd.is_grad_enabled():
        raise RuntimeError(
            "in-place assignment to a tensor that requires grad would corrupt its gradient; "
            "do it under engine.no_grad() or build a new tensor (e.g. engine.where)"
        )
    if isinstance(value, Tensor):
        value = value.data
    self.data[indexing._normalize_key(key, self._xp)] = value


Tensor.__setitem__ = _setitem


def _invert(self):
    if self.dtype.kind != "b":
        raise TypeError(f"~ is defined for boolean tensors only, got {self.dtype}")
    return Tensor(~self.data)


Tensor.__invert__ = _invert
Tensor.__and__ = lambda a, b: Tensor(a.data & (b.data if isinstance(b, Tensor) else b))
Tensor.__or__ = lambda a, b: Tensor(a.data | (b.data if isinstance(b, Tensor) else b))

# ---- methods (PyTorch names) ---------------------------------------------------------------------
for _name in ("exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "erf", "clip", "clamp", "sign"):
    setattr(Tensor, _name, getattr(math, _name))
for _name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "gelu", "elu", "leaky_relu"):
    setattr(Tensor, _name, getattr(activation, _name))
for _name in ("sum", "mean", "max", "min", "var", "std", "logsumexp", "argmax", "argmin"):
    setattr(Tensor, _name, getattr(reduction, _name))
for _name in (
    "reshape", "view", "permute", "transpose", "flatten", "squeeze", "unsqueeze",
    "expand", "broadcast_to", "flip", "repeat", "split", "chunk", "sum_to",
):
    setattr(Tensor, _name, getattr(shape, _name))
Tensor.matmul = matmul.matmul
Tensor.gather = indexing.gather
Tensor.pow = arithmetic.pow
Tensor.maximum = math.maximum
Tensor.minimum = math.minimum
Tensor.square = lambda x: x * x
Tensor.T = property(lambda x: shape.permute(x, *reversed(range(x.ndim))) if x.ndim > 1 else x)
Tensor.mT = property(lambda x: shape.transpose(x, -2, -1))
Tensor.expand_as = lambda x, other: shape.expand(x, *other.shape)
Tensor.view_as = lambda x, other: shape.reshape(x, *other.shape)
Tensor.reshape_as = Tensor.view_as
Tensor.contiguous = lambda x: x
Tensor.clone = lambda x: x + 0.0 if x.requires_grad else Tensor(x.data.copy())
