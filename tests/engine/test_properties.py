"""Hypothesis property tests: random shapes, broadcasting pairs, axes and magnitudes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-10, 10, allow_nan=False, width=64)


@st.composite
def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    a = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=finite))
    b = draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=finite))
    return a, b


@SETTINGS
@given(broadcast_pair(), st.sampled_from(["add", "sub", "mul"]))
def test_binary_ops_broadcast_like_numpy_with_correct_gradients(pair, op):
    a, b = pair
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}[op]
    out = fn(engine.tensor(a), engine.tensor(b))
    np.testing.assert_allclose(out.numpy(), fn(a, b))
    engine.gradcheck(fn, [engine.tensor(a, requires_grad=True), engine.tensor(b, requires_grad=True)])


@st.composite
def array_and_axes(draw):
    arr = draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=finite))
    axes = draw(st.none() | st.lists(st.integers(0, arr.ndim - 1), min_size=1, max_size=arr.ndim, unique=True))
    keep = draw(st.booleans())
    return arr, None if axes is None else tuple(axes), keep


@SETTINGS
@given(array_and_axes(), st.sampled_from(["sum", "mean", "logsumexp"]))
def test_reductions_over_random_axes(case, name):
    arr, axes, keep = case
    x = engine.tensor(arr, requires_grad=True)
    out = getattr(x, name)(dim=axes, keepdim=keep)
    if name == "logsumexp":
        import scipy.special

        expected = scipy.special.logsumexp(arr, axis=axes, keepdims=keep)
    else:
        expected = getattr(arr, name)(axis=axes, keepdims=keep)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    engine.gradcheck(lambda t: getattr(t, name)(dim=axes, keepdim=keep), [x])


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, max_side=4),
                  elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_softmax_family_is_finite_and_normalised_for_large_magnitudes(arr):
    x = engine.tensor(arr.astype(np.float32), requires_grad=True)
    p = x.softmax(dim=-1)
    logp = x.log_softmax(dim=-1)
    assert np.isfinite(p.detach().numpy()).all() and np.isfinite(logp.detach().numpy()).all()
    np.testing.assert_allclose(p.detach().numpy().sum(-1), 1.0, rtol=1e-5)
    (logp * engine.tensor(np.random.default_rng(0).normal(size=arr.shape).astype(np.float32))).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=finite),
       st.sampled_from(["exp", "tanh", "sigmoid", "sin", "softplus", "gelu"]))
def test_elementwise_gradients_on_random_shapes(arr, name):
    arr = np.clip(arr, -5, 5)
    engine.gradcheck(getattr(engine, name), [engine.tensor(arr, requires_grad=True)])


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2))
def test_matmul_random_batch_shapes(n, k, m, batch):
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    lead = (2,) * batch
    a, b = rng.normal(size=lead + (n, k)), rng.normal(size=(k, m))
    out = engine.tensor(a) @ engine.tensor(b)
    np.testing.assert_allclose(out.numpy(), a @ b)
    engine.gradcheck(lambda x, y: x @ y, [engine.tensor(a, requires_grad=True), engine.tensor(b, requires_grad=True)])


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite), st.data())
def test_getitem_with_random_integer_indices(arr, data):
    idx = data.draw(st.lists(st.integers(0, arr.shape[0] - 1), min_size=1, max_size=6))
    x = engine.tensor(arr, requires_grad=True)
    np.testing.assert_array_equal(x[engine.tensor(np.array(idx))].detach().numpy(), arr[idx])
    engine.gradcheck(lambda t: t[engine.tensor(np.array(idx))], [x])
