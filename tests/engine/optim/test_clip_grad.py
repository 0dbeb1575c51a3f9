"""Gradient clipping: clip_grad_norm_ and clip_grad_value_."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import backend
from engine.nn import Parameter
from engine.optim import clip_grad_norm_, clip_grad_value_
from engine.tensor import Tensor


def _params(device="cpu", dtype=np.float32, scale=1.0):
    rng = np.random.default_rng(3)
    params = []
    for shape in [(4, 3), (3,), (2, 2, 2)]:
        p = Parameter(backend.to_device(np.zeros(shape, dtype=dtype), device))
        p.grad = Tensor(backend.to_device((scale * rng.standard_normal(shape)).astype(dtype), device))
        params.append(p)
    return params


def _grads(params):
    return [backend.asnumpy(p.grad.data) for p in params]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_total_norm_and_clipped_norm(device, norm_type):
    params = _params(device, scale=5.0)
    flat = np.concatenate([g.ravel() for g in _grads(params)]).astype(np.float64)
    expected = (
        np.abs(flat).max() if norm_type == math.inf else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    )
    total = clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert total.device == device and total.shape == ()
    assert float(total.item()) == pytest.approx(expected, rel=1e-5)
    clipped = np.concatenate([g.ravel() for g in _grads(params)]).astype(np.float64)
    np.testing.assert_allclose(clipped, flat / (expected + 1e-6), rtol=1e-5)  # same direction, norm ~ 1
    assert all(p.grad.device == device and p.grad.dtype == np.float32 for p in params)


def test_small_gradients_are_unchanged():
    params = _params(scale=0.01)
    before = _grads(params)
    clip_grad_norm_(params, max_norm=10.0)
    for a, b in zip(before, _grads(params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.5])
def test_matches_torch(torch, norm_type):
    params = _params(dtype=np.float64, scale=3.0)
    tparams = []
    for p in params:
        t = torch.nn.Parameter(torch.zeros(p.shape, dtype=torch.float64))
        t.grad = torch.tensor(p.grad.data.copy())
        tparams.append(t)
    ours = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tparams, 0.5, norm_type=norm_type)
    assert float(ours.item()) == pytest.approx(float(theirs), rel=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)
    clip_grad_value_(params, 0.05)
    torch.nn.utils.clip_grad_value_(tparams, 0.05)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)
        assert np.abs(p.grad.data).max() <= 0.05


def test_shared_gradient_array_is_clipped_once():
    # the engine may hand the same gradient array to two parameters (both inputs of an addition)
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    shared = np.array([3.0, 4.0])
    a.grad, b.grad = Tensor(shared), Tensor(shared)
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert float(total.item()) == pytest.approx(math.sqrt(50.0))
    np.testing.assert_allclose(a.grad.data, b.grad.data)
    np.testing.assert_allclose(a.grad.data, shared / (math.sqrt(50.0) + 1e-6))
    np.testing.assert_array_equal(shared, [3.0, 4.0])


def test_parameters_without_gradients_and_single_tensors():
    p = Parameter(np.ones(3))
    assert float(clip_grad_norm_([p], 1.0).item()) == 0.0
    p.grad = Tensor(np.array([0.0, 3.0, -4.0]))
    assert float(clip_grad_norm_(p, 100.0).item()) == pytest.approx(5.0)


def test_nonfinite_norm():
    p = Parameter(np.ones(2))
    p.grad = Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(float(clip_grad_norm_([p], 1.0).item()))


def test_clip_grad_value_on_device(device):
    params = _params(device, scale=2.0)
    before = _grads(params)
    clip_grad_value_(params, 0.5)
    for b, p in zip(before, params):
        assert p.grad.device == device
        np.testing.assert_array_equal(backend.asnumpy(p.grad.data), np.clip(b, -0.5, 0.5))


def test_bad_arguments():
    p = Parameter(np.ones(2))
    p.grad = Tensor(np.ones(2))
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=-1)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_([p], -1.0)
    with pytest.raises(TypeError, match="expected a Tensor"):
        clip_grad_norm_([np.ones(2)], 1.0)
