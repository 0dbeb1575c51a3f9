"""The op table: every differentiable op, checked the same way on every device.

Each row names an op, how to make its inputs, the op itself (on engine tensors) and a NumPy
or SciPy reference for its forward. One parametrised test per property runs every row:

* forward equals the reference;
* gradcheck: analytic gradients equal central differences (float64, random upstream);
* gradgradcheck: second derivatives too, for ops whose backward is differentiable;
* float32 in gives float32 out (and float32 gradients).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import scipy.special

import engine
from engine import backend


@dataclasses.dataclass
class Op:
    name: str
    fn: Callable  # engine tensors -> tensor(s)
    ref: Callable  # numpy arrays -> array(s)
    shapes: tuple  # one shape per input
    low: float = -2.0
    high: float = 2.0
    second_order: bool = True
    make: Callable | None = None  # rng -> list of arrays, overriding shapes/low/high

    def inputs(self, rng):
        if self.make is not None:
            return self.make(rng)
        return [rng.uniform(self.low, self.high, size=s) for s in self.shapes]


def away_from_zero(shape, low=0.3, high=2.0):
    """Values with |x| in [low, high], random sign: keeps inputs off kinks such as |x| at 0."""
    def make(rng):
        mag = rng.uniform(low, high, size=shape)
        return [mag * rng.choice([-1.0, 1.0], size=shape)]
    return make


def distinct(shape):
    """A random permutation of well-separated values: no ties for max/min/sort."""
    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n).reshape(shape) - n / 2) * 0.1]
    return make


def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


INT_INDEX = np.array([2, 0, 2, 1])

OPS = [
    # arithmetic (with broadcasting pairs)
    Op("add", lambda a, b: a + b, np.add, ((3, 4), (4,))),
    Op("sub", lambda a, b: a - b, np.subtract, ((2, 1, 4), (3, 1))),
    Op("mul", lambda a, b: a * b, np.multiply, ((3, 4), (3, 1))),
    Op("div", lambda a, b: a / b, np.divide, ((3, 4), (4,)),
       make=lambda rng: [rng.uniform(-2, 2, (3, 4)), rng.uniform(0.5, 2, (4,))]),
    Op("neg", lambda a: -a, np.negative, ((3, 4),)),
    Op("pow_scalar", lambda a: a**3, lambda a: a**3, ((3, 4),)),
    Op("pow_fractional", lambda a: a**1.5, lambda a: a**1.5, ((3, 4),), low=0.5, high=2.0),
    Op("pow_tensor", lambda a, b: a**b, np.power, ((3, 4), (3, 4)), low=0.5, high=2.0),
    Op("rpow", lambda a: 2.0**a, lambda a: 2.0**a, ((5,),)),
    Op("scalar_rsub_rdiv", lambda a: (1.0 - a) / (2.0 + a * a), lambda a: (1.0 - a) / (2.0 + a * a), ((4,),)),
    # matmul: matrices, batches, vectors
    Op("matmul_2d", lambda a, b: a @ b, np.matmul, ((3, 4), (4, 5))),
    Op("matmul_batched", lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4, 2))),
    Op("matmul_broadcast_batch", lambda a, b: a @ b, np.matmul, ((2, 1, 3, 4), (3, 4, 2))),
    Op("matmul_vec_mat", lambda a, b: a @ b, np.matmul, ((4,), (4, 3))),
    Op("matmul_mat_vec", lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4,))),
    Op("matmul_vec_vec", lambda a, b: a @ b, np.matmul, ((4,), (4,))),
    # elementwise maths
    Op("exp", engine.exp, np.exp, ((3, 4),)),
    Op("log", engine.log, np.log, ((3, 4),), low=0.2, high=3.0),
    Op("log1p", engine.log1p, np.log1p, ((3, 4),), low=-0.5, high=3.0),
    Op("sqrt", engine.sqrt, np.sqrt, ((3, 4),), low=0.2, high=3.0),
    Op("abs", engine.abs, np.abs, ((3, 4),), make=away_from_zero((3, 4))),
    Op("sin", engine.sin, np.sin, ((3, 4),)),
    Op("cos", engine.cos, np.cos, ((3, 4),)),
    Op("erf", engine.erf, scipy.special.erf, ((3, 4),)),
    Op("clip", lambda a: engine.clip(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), ((4, 5),),
       make=lambda rng: [np.where(np.abs(np.abs(x := rng.uniform(-2, 2, (4, 5))) - 0.6) < 0.15, 1.5, x)]),
    Op("maximum", engine.maximum, np.maximum, ((3, 4), (4,)),
       make=lambda rng: [rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (4,)) + 0.013]),
    Op("minimum", engine.minimum, np.minimum, ((3, 4), (3, 4))),
    Op("where", lambda a, b: engine.where(a.data > 0, a, b), lambda a, b: np.where(a > 0, a, b), ((3, 4), (4,)),
       make=lambda rng: [away_from_zero((3, 4))(rng)[0], rng.uniform(-1, 1, (4,))]),
    # reductions over any axes
    Op("sum_all", lambda a: a.sum(), np.sum, ((3, 4),)),
    Op("sum_axes_keep", lambda a: a.sum(dim=(0, 2), keepdim=True),
       lambda a: a.sum(axis=(0, 2), keepdims=True), ((2, 3, 4),)),
    Op("mean_axis", lambda a: a.mean(dim=1), lambda a: a.mean(axis=1), ((3, 4),)),
    Op("mean_numpy_alias", lambda a: a.mean(axis=-1, keepdims=True),
       lambda a: a.mean(axis=-1, keepdims=True), ((2, 5),)),
    Op("max_axis", lambda a: a.max(dim=1), lambda a: a.max(axis=1), ((3, 4),), make=distinct((3, 4))),
    Op("min_all", lambda a: a.min(), np.min, ((3, 4),), make=distinct((3, 4))),
    Op("var", lambda a: a.var(dim=1), lambda a: a.var(axis=1, ddof=1), ((3, 5),)),
    Op("var_biased", lambda a: a.var(dim=0, correction=0), lambda a: a.var(axis=0), ((4, 3),)),
    Op("std", lambda a: a.std(dim=(0, 1)), lambda a: a.std(axis=(0, 1), ddof=1), ((3, 4, 2),)),
    Op("logsumexp", lambda a: a.logsumexp(dim=1), lambda a: scipy.special.logsumexp(a, axis=1), ((3, 4),)),
    Op("logsumexp_all_keep", lambda a: engine.logsumexp(a, keepdim=True),
       lambda a: scipy.special.logsumexp(a, keepdims=True), ((3, 4),)),
    # shape
    Op("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), ((2, 3, 4),)),
    Op("view_flatten", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), ((2, 3, 4),)),
    Op("transpose", lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2), ((2, 3, 4),)),
    Op("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), ((2, 3, 4),)),
    Op("T", lambda a: a.T, lambda a: a.T, ((2, 3),)),
    Op("squeeze_unsqueeze", lambda a: a.squeeze(1).unsqueeze(-1), lambda a: a.squeeze(1)[..., None], ((3, 1, 4),)),
    Op("expand", lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), ((3, 1),)),
    Op("broadcast_to", lambda a: engine.broadcast_to(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), ((4,),)),
    Op("cat", lambda a, b: engine.cat([a, b, a], dim=1), lambda a, b: np.concatenate([a, b, a], axis=1),
       ((2, 3), (2, 1))),
    Op("stack", lambda a, b: engine.stack([a, b], dim=1), lambda a, b: np.stack([a, b], axis=1), ((2, 3), (2, 3))),
    Op("split", lambda a: engine.split(a, [1, 3], dim=1), lambda a: tuple(np.split(a, [1], axis=1)), ((2, 4),)),
    Op("chunk_partial_use", lambda a: a.chunk(2, dim=0)[1] * 2.0, lambda a: a[2:] * 2.0, ((4, 3),)),
    Op("pad", lambda a: engine.pad(a, (1, 2, 0, 1), value=0.5),
       lambda a: np.pad(a, ((0, 0), (0, 1), (1, 2)), constant_values=0.5), ((2, 3, 2),)),
    Op("flip", lambda a: a.flip((0, 2)), lambda a: np.flip(a, axis=(0, 2)), ((2, 3, 2),)),
    Op("repeat", lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), ((2, 3),)),
    # indexing
    Op("getitem_slices", lambda a: a[1:, ::2, None], lambda a: a[1:, ::2, None], ((3, 4),)),
    Op("getitem_int_array_repeats", lambda a: a[engine.tensor(INT_INDEX, device=a.device)],
       lambda a: a[INT_INDEX], ((3, 2),)),
    Op("getitem_mixed", lambda a: a[engine.tensor(INT_INDEX, device=a.device), 1:],
       lambda a: a[INT_INDEX, 1:], ((3, 3),)),
    Op("getitem_bool_mask", lambda a: a[a.data > 0], lambda a: a[a > 0], ((4, 3),), make=away_from_zero((4, 3))),
    Op("gather", lambda a: engine.gather(a, 1, engine.tensor(np.array([[0, 0, 2], [1, 2, 1]]), device=a.device)),
       lambda a: np.take_along_axis(a, np.array([[0, 0, 2], [1, 2, 1]]), axis=1), ((2, 3),)),
    # activations
    Op("relu", engine.relu, lambda a: np.maximum(a, 0), ((3, 4),), make=away_from_zero((3, 4))),
    Op("leaky_relu", lambda a: a.leaky_relu(0.1), lambda a: np.where(a > 0, a, 0.1 * a), ((3, 4),),
       make=away_from_zero((3, 4))),
    Op("elu", lambda a: a.elu(0.7), lambda a: np.where(a > 0, a, 0.7 * np.expm1(a)), ((3, 4),),
       make=away_from_zero((3, 4))),
    Op("gelu", engine.gelu, lambda a: a * 0.5 * (1 + scipy.special.erf(a / np.sqrt(2))), ((3, 4),)),
    Op("gelu_tanh", lambda a: a.gelu(approximate="tanh"),
       lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3))), ((3, 4),)),
    Op("sigmoid", engine.sigmoid, scipy.special.expit, ((3, 4),), low=-5, high=5),
    Op("tanh", engine.tanh, np.tanh, ((3, 4),)),
    Op("softplus", engine.softplus, lambda a: np.logaddexp(0, a), ((3, 4),), low=-5, high=5),
    Op("softplus_beta", lambda a: a.softplus(beta=2.0, threshold=3.0),
       lambda a: np.where(2 * a > 3, a, np.logaddexp(0, 2 * a) / 2), ((3, 4),),
       make=lambda rng: [np.where(np.abs(2 * (x := rng.uniform(-3, 3, (3, 4)))) - 3 < 0.2, 0.0, x)]),
    Op("softmax", lambda a: a.softmax(dim=1), lambda a: softmax_ref(a, 1), ((3, 4),)),
    Op("softmax_dim0_3d", lambda a: engine.softmax(a, dim=0), lambda a: softmax_ref(a, 0), ((3, 2, 2),)),
    Op("log_softmax", lambda a: a.log_softmax(dim=-1), lambda a: np.log(softmax_ref(a, -1)), ((3, 4),)),
]

IDS = [op.name for op in OPS]


def _to(arrays, device, dtype=np.float64, requires_grad=False):
    return [engine.tensor(a.astype(dtype), device=device, requires_grad=requires_grad) for a in arrays]


def _host(out):
    if isinstance(out, tuple):
        return tuple(backend.asnumpy(o.data) for o in out)
    return backend.asnumpy(out.data)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_matches_reference(op, device):
    arrays = op.inputs(np.random.default_rng(1))
    out = _host(op.fn(*_to(arrays, device)))
    expected = op.ref(*arrays)
    if isinstance(expected, tuple):
        for o, e in zip(out, expected):
            np.testing.assert_allclose(o, e, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradcheck(op, device):
    arrays = op.inputs(np.random.default_rng(2))
    engine.gradcheck(op.fn, _to(arrays, device, requires_grad=True))


@pytest.mark.parametrize("op", [op for op in OPS if op.second_order], ids=[op.name for op in OPS if op.second_order])
def test_gradgradcheck(op, device):
    arrays = op.inputs(np.random.default_rng(3))
    engine.gradgradcheck(op.fn, _to(arrays, device, requires_grad=True), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_float32_in_float32_out(op, device):
    arrays = op.inputs(np.random.default_rng(4))
    xs = _to(arrays, device, dtype=np.float32, requires_grad=True)
    out = op.fn(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert o.dtype == np.float32, f"{op.name} returned {o.dtype} for float32 inputs"
        assert o.device == device
    total = sum((o * 1.0).sum() for o in outs)
    total.backward()
    for x in xs:
        if x.grad is not None:
            assert x.grad.dtype == np.float32 and x.grad.shape == x.shape and x.grad.device == device


def test_every_op_module_function_is_in_the_table():
    """A new Function class in engine/ops must get a row here (or in the non-differentiable list)."""
    import inspect

    from engine import ops
    from engine.autograd import Function

    exercised = {
        "Add", "Sub", "Mul", "Div", "Neg", "PowScalar", "Pow", "RPowScalar", "MatMul", "Exp", "Log", "Log1p",
        "Sqrt", "Abs", "Sin", "Cos", "Erf", "Clip", "Maximum", "Minimum", "Where", "Sum", "MaxMin", "Reshape",
        "Permute", "BroadcastTo", "SumTo", "Concat", "Split", "Pad", "Flip", "Tile", "GetItem", "IndexBackward",
        "Gather", "GatherBackward", "ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "Softplus", "Softmax",
        "LogSoftmax", "Cast", "ToDevice", "StdFromVariance",
    }
    found = set()
    for module in (ops.arithmetic, ops.math, ops.matmul, ops.reduction, ops.shape, ops.indexing, ops.activation,
                   ops.misc):
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Function) and obj is not Function:
                found.add(name)
    assert found <= exercised, f"ops without a table row: {sorted(found - exercised)}"
