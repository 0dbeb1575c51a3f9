"""The Tensor: an array that remembers how it was computed, and Parameter, a trainable one.

A Tensor wraps a raw array (``.data``: NumPy on the CPU, CuPy on a GPU) and, when it was
produced by an operation on tensors that require gradients, a link to that operation
(``.grad_fn``). Calling ``.backward()`` on a scalar result fills ``.grad`` of every leaf
tensor that requires grad. Names and behaviour follow PyTorch's ``torch.Tensor``.

Where we differ from PyTorch:
* ``.data`` is the raw array itself (NumPy/CuPy), not another Tensor;
* ``Tensor.T`` reverses all axes as in NumPy (PyTorch deprecates ``.T`` on non-2-D tensors);
* the methods cover what a course and the medical tasks need, not all of torch.

Where things are: the operators (+, *, @, [], <, ...) are methods of the class below, each
calling the function of engine/ops that implements it; the PyTorch-named methods (x.exp(),
x.sum(dim), x.reshape(...)) are listed in one table, ``METHODS``, at the end of this file.

The one import cycle of the engine: a Tensor's operations are Functions (engine/autograd.py,
engine/ops/) and Functions create Tensors. This module therefore imports autograd and the ops
at its END, once Tensor and as_tensor exist; every other engine module imports at its top.
"""

from __future__ import annotations

import numbers

import numpy as np

from engine import backend
from engine.dtypes import get_default_dtype, is_floating

__all__ = ["Tensor", "Parameter", "as_tensor", "METHODS"]


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation.

    data: the raw array; requires_grad: whether gradients with respect to this tensor are
    wanted (only floating-point tensors can require gradients).
    """

    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "generation", "name", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__, not an object array

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        if not backend.is_array(data):
            data = _host_array(data, None)
        self.data = data
        self.grad = None
        self.grad_fn = None
        self.generation = 0
        self.name = name
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_op(cls, data, requires_grad: bool):
        """Fast constructor used by Function.__call__ for its outputs."""
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t.grad_fn = None
        t.generation = 0
        t.name = None
        t._retains_grad = False
        # integer/bool outputs (argmax, comparisons) never carry gradients
        t._requires_grad = requires_grad and data.dtype.kind in "fc"
        return t

    # --- gradient bookkeeping ---------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool):
        if value and not is_floating(self.data.dtype):
            raise RuntimeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype} "
                f"(shape {self.shape}); convert with .float() first"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; use .detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: tensor does not require grad")
        self._retains_grad = True

    def _accumulate_grad(self, g: Tensor, create_graph: bool) -> None:
        if not create_graph:
            g = g.detach()
        self.grad = g if self.grad is None else self.grad + g

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Back-propagate from this tensor, accumulating into ``.grad`` of the leaves.

        gradient: d(final)/d(self), needed when self is not a scalar. The graph is freed
        afterwards unless ``retain_graph``; with ``create_graph`` the backward pass is itself
        recorded, so the gradients can be differentiated again.
        """
        autograd.backward([self], None if gradient is None else [gradient], retain_graph, create_graph)

    def detach(self) -> Tensor:
        """A tensor sharing the same data, cut from the graph."""
        return Tensor(self.data)

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    # --- array attributes ---------------------------------------------------------------------
    @property
    def _xp(self):
        return backend.get_array_module(self.data)

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (an explicit copy when the tensor is on a device)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): tensor requires grad; call .detach().numpy() (as in PyTorch)")
        return backend.asnumpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item() if self.device == "cpu" else backend.asnumpy(self.data).item()

    def tolist(self):
        return backend.asnumpy(self.data).tolist()

    def to(self, device=None, dtype=None) -> Tensor:
        """Move to a device ("cpu", "cuda", "strict") and/or cast; differentiable like PyTorch's."""
        if isinstance(device, (type, np.dtype)) and dtype is None:
            device, dtype = None, device
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = misc.Cast(np.dtype(dtype))(out)
        if device is not None and backend.normalize_device(device) != self.device:
            out = misc.ToDevice(backend.normalize_device(device))(out)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtype=np.float32)

    def double(self) -> Tensor:
        return self.to(dtype=np.float64)

    def long(self) -> Tensor:
        return self.to(dtype=np.int64)

    def int(self) -> Tensor:
        return self.to(dtype=np.int32)

    def bool(self) -> Tensor:
        return self.to(dtype=np.bool_)

    def type(self, dtype) -> Tensor:
        return self.to(dtype=dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous (shape {self.shape})"
            )
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __repr__(self):
        values = np.array2string(backend.asnumpy(self.data), separator=", ", prefix="tensor(", precision=4)
        extra = []
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype != get_default_dtype() and self.dtype.kind not in "b":
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{type(self.grad_fn).__name__}Backward>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + values + "".join(", " + e for e in extra) + ")"

    __hash__ = object.__hash__  # == is elementwise, so hash by identity (as PyTorch does)

    # --- operators: each is the engine function of the same meaning (engine/ops/) ------------------
    # a + b and b + a with a Python number or array b both end in the same Function (Add(a, b)
    # or Add(b, a)), so that gradients and dtypes follow the same rules either way round.
    def __add__(self, other):
        return arithmetic.add(self, other)

    def __radd__(self, other):
        return arithmetic.Add()(other, self)

    def __sub__(self, other):
        return arithmetic.sub(self, other)

    def __rsub__(self, other):
        return arithmetic.Sub()(other, self)

    def __mul__(self, other):
        return arithmetic.mul(self, other)

    def __rmul__(self, other):
        return arithmetic.Mul()(other, self)

    def __truediv__(self, other):
        return arithmetic.div(self, other)

    def __rtruediv__(self, other):
        return arithmetic.Div()(other, self)

    def __pow__(self, exponent):
        return arithmetic.pow(self, exponent)

    def __rpow__(self, base):
        return arithmetic.rpow(self, base)

    def __neg__(self):
        return arithmetic.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return math_ops.abs(self)

    def __matmul__(self, other):
        return matmul.matmul(self, other)

    def __rmatmul__(self, other):
        return matmul.MatMul()(other, self)

    def __getitem__(self, key):
        return indexing.getitem(self, key)

    def __setitem__(self, key, value):
        """In-place assignment is allowed only outside the graph (no autograd through it)."""
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad would corrupt its gradient; "
                "do it under engine.no_grad() or build a new tensor (e.g. engine.where)"
            )
        if isinstance(value, Tensor):
            value = value.data
        self.data[indexing._normalize_key(key, self._xp)] = value

    # comparisons are elementwise and give boolean tensors (no gradient)
    def __lt__(self, other):
        return math_ops.less(self, other)

    def __le__(self, other):
        return math_ops.less_equal(self, other)

    def __gt__(self, other):
        return math_ops.greater(self, other)

    def __ge__(self, other):
        return math_ops.greater_equal(self, other)

    def __eq__(self, other):
        return math_ops.equal(self, other)

    def __ne__(self, other):
        return math_ops.not_equal(self, other)

    # logical operators, for boolean masks
    def __invert__(self):
        if self.dtype.kind != "b":
            raise TypeError(f"~ is defined for boolean tensors only, got {self.dtype}")
        return Tensor(~self.data)

    def __and__(self, other):
        return Tensor(self.data & (other.data if isinstance(other, Tensor) else other))

    def __or__(self, other):
        return Tensor(self.data | (other.data if isinstance(other, Tensor) else other))

    # --- small methods built on the ones in METHODS -------------------------------------------------
    @property
    def T(self) -> Tensor:
        """All axes reversed (NumPy's .T)."""
        return shape_ops.permute(self, *reversed(range(self.ndim))) if self.ndim > 1 else self

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of matrices transposed)."""
        return shape_ops.transpose(self, -2, -1)

    def square(self) -> Tensor:
        return self * self

    def expand_as(self, other) -> Tensor:
        return shape_ops.expand(self, *other.shape)

    def view_as(self, other) -> Tensor:
        return shape_ops.reshape(self, *other.shape)

    reshape_as = view_as

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return self + 0.0 if self.requires_grad else Tensor(self.data.copy())


class Parameter(Tensor):
    """A Tensor that is a trainable parameter of a Module: it requires grad by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def to_numpy(value) -> np.ndarray:
    """An engine Tensor, a raw array of any device, a torch.Tensor or Python data as a NumPy
    array (device data is copied to the host explicitly)."""
    if isinstance(value, Tensor):
        return backend.asnumpy(value.data)
    if backend.is_array(value):
        return backend.asnumpy(value)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _host_array(data, dtype):
    """Python data (numbers, nested lists, NumPy arrays) as a NumPy array with PyTorch's dtype rules:
    Python floats become the default float dtype, Python ints int64, bools bool."""
    if isinstance(data, np.ndarray):
        return data.astype(dtype, copy=False) if dtype is not None else data
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: ragged or non-numeric data")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f" and not isinstance(data, (np.generic, np.ndarray)):
        return arr.astype(get_default_dtype(), copy=False)
    return arr


def as_tensor(value, like: Tensor | None = None, dtype=None) -> Tensor:
    """Turn a scalar or array into a (constant) Tensor, on ``like``'s device.

    Python scalars take the dtype of ``like`` (so ``x * 2.0`` stays float32, as in PyTorch),
    except that a float scalar with an integer tensor gives the default float dtype.
    Raw arrays are kept as they are (a host array next to a device tensor is refused later).
    """
    if isinstance(value, Tensor):
        return value
    if backend.is_array(value):
        return Tensor(value if dtype is None else value.astype(dtype))
    if like is not None and isinstance(value, (numbers.Number, np.generic)):
        if dtype is None:
            dtype = like.dtype
            if isinstance(value, (float, np.floating)) and not is_floating(dtype):
                dtype = get_default_dtype()
        return Tensor(like._xp.asarray(value, dtype=dtype))
    data = _host_array(value, dtype)
    if like is not None and like.device != "cpu":
        data = backend.to_device(data, like.device)
    return Tensor(data)


# ------------------------------------------------------------------------------------------------
# The one cycle (see the module docstring): imported here, after Tensor and as_tensor exist.
# ------------------------------------------------------------------------------------------------
from engine import autograd  # noqa: E402
from engine.ops import activation, arithmetic, indexing, matmul, misc, reduction  # noqa: E402
from engine.ops import math as math_ops  # noqa: E402
from engine.ops import shape as shape_ops  # noqa: E402

# The PyTorch-named methods: x.name(*args) calls the engine function with x as its first argument,
# e.g. x.sum(dim=1) is engine.ops.reduction.sum(x, dim=1) and x.exp() is engine.ops.math.exp(x).
METHODS = {
    # elementwise maths (engine/ops/math.py)
    **{name: getattr(math_ops, name) for name in ("exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "erf",
                                                 "clip", "clamp", "sign", "maximum", "minimum")},
    "pow": arithmetic.pow,
    # activations (engine/ops/activation.py)
    **{name: getattr(activation, name) for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax",
                                                   "softplus", "gelu", "elu", "leaky_relu")},
    # reductions (engine/ops/reduction.py)
    **{name: getattr(reduction, name) for name in ("sum", "mean", "max", "min", "var", "std", "logsumexp",
                                                  "argmax", "argmin")},
    # shapes (engine/ops/shape.py)
    **{name: getattr(shape_ops, name) for name in ("reshape", "view", "permute", "transpose", "flatten",
                                                  "squeeze", "unsqueeze", "expand", "broadcast_to", "flip",
                                                  "repeat", "split", "chunk", "sum_to")},
    "matmul": matmul.matmul,
    "gather": indexing.gather,
}
for _name, _function in METHODS.items():
    setattr(Tensor, _name, _function)
