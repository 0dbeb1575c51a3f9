"""medgrad's engine: tensors with reverse-mode automatic differentiation on NumPy or CuPy.

    import engine
    x = engine.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad            # tensor([[2., 4.]])

Where to look: engine/tensor.py (Tensor), engine/autograd.py (Function and the backward
pass), engine/ops/ (every differentiable operation, forward and backward side by side),
engine/backend.py (NumPy / CuPy / strict test device), engine/gradcheck.py.
"""

from __future__ import annotations

# first: importing engine.parallel shortens OpenBLAS's idle spin, which only works before NumPy loads
from engine import parallel as _parallel  # noqa: F401

# isort: split
from engine import allocator as _allocator
from engine import cuda, fft, viz
from engine import ops as _ops  # noqa: F401  (attaches operators and methods to Tensor)
from engine.autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from engine.creation import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from engine.dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    int32,
    int64,
    long,
    set_default_dtype,
    uint8,
)
from engine.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_module, gradgradcheck
from engine.ops.activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh
from engine.ops.arithmetic import add, div, mul, neg, pow, sub
from engine.ops.indexing import gather
from engine.ops.math import (
    abs,
    clamp,
    clip,
    cos,
    equal,
    erf,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    maximum,
    minimum,
    not_equal,
    sign,
    sin,
    sqrt,
    where,
)
from engine.ops.matmul import matmul
from engine.ops.reduction import argmax, argmin, logsumexp, max, mean, min, std, sum, var
from engine.ops.shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    flatten,
    flip,
    pad,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    sum_to,
    transpose,
    unsqueeze,
)
from engine.random import default_generator, get_rng_state, manual_seed, set_rng_state
from engine.tensor import Parameter, Tensor, as_tensor

_allocator.keep_freed_memory()  # big temporaries reuse freed memory (engine/allocator.py says why)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]

# subpackages, so that `import engine` is enough for engine.nn, engine.optim, engine.data, engine.train
from engine import data, nn, optim, train  # noqa: E402
