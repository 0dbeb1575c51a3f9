"""The strict backend refuses what CuPy refuses, so CPU-only CI catches device bugs."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import backend
from engine.strict import StrictArray, StrictDeviceError
from engine.strict import xp as sxp


def test_arithmetic_with_host_arrays_is_refused():
    a = sxp.ones(3)
    with pytest.raises(StrictDeviceError, match="host NumPy array of shape \\(3,\\)"):
        a + np.ones(3)
    assert isinstance(a + 1.0, StrictArray)  # Python scalars are fine, as in CuPy


def test_numpy_functions_on_device_arrays_are_refused():
    a = sxp.ones(3)
    with pytest.raises(StrictDeviceError, match="numpy.concatenate was called on a device array"):
        np.concatenate([a, a])
    with pytest.raises(StrictDeviceError, match="implicit conversion"):
        np.asarray(a)
    assert isinstance(sxp.concatenate([a, a]), StrictArray)


def test_host_index_arrays_are_refused():
    a = sxp.arange(5)
    with pytest.raises(StrictDeviceError):
        a[np.array([0, 1])]
    np.testing.assert_array_equal(a[sxp.asarray([0, 1])].get(), [0, 1])


def test_namespace_functions_refuse_host_arrays():
    with pytest.raises(StrictDeviceError):
        sxp.exp(np.ones(2))
    with pytest.raises(StrictDeviceError):
        sxp.asarray(np.ones(2))  # a silent host-to-device copy
    assert isinstance(sxp.from_host(np.ones(2)), StrictArray)


def test_reductions_return_zero_dim_arrays_like_cupy():
    s = sxp.ones(3).sum()
    assert isinstance(s, StrictArray) and s.shape == ()
    assert float(s) == 3.0


def test_tensor_round_trip_through_the_strict_device():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict" and isinstance(y.data, StrictArray)
    (y * y).sum().backward()
    assert x.grad.device == "cpu"  # the gradient came back through ToDevice
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(y.detach().numpy(), [1.0, 2.0])  # numpy() is an explicit copy


def test_backend_helpers():
    a = backend.to_device(np.arange(3.0), "strict")
    assert backend.device_of(a) == "strict" and backend.get_array_module(a) is sxp
    np.testing.assert_array_equal(backend.asnumpy(a), [0, 1, 2])
    target = sxp.zeros(3)
    backend.scatter_add(target, sxp.asarray([0, 0, 2]), sxp.asarray([1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(target.get(), [3.0, 0.0, 5.0])
    nd = backend.scipy_module(sxp, "ndimage")
    assert isinstance(nd.gaussian_filter(sxp.ones((4, 4)), 1.0), StrictArray)


def test_cuda_absence_is_reported_clearly():
    if engine.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        engine.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        engine.zeros(2, device="tpu")


@pytest.mark.gpu
def test_cuda_tensors_match_cpu():  # pragma: no cover - runs where CuPy finds a GPU
    import cupy

    x = engine.randn(4, 5, requires_grad=True)
    w = engine.randn(5, 3, requires_grad=True)
    xc, wc = x.detach().to("cuda").requires_grad_(), w.detach().to("cuda").requires_grad_()
    assert isinstance(xc.data, cupy.ndarray)
    (x @ w).tanh().sum().backward()
    (xc @ wc).tanh().sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wc.grad.numpy(), w.grad.numpy(), rtol=1e-5, atol=1e-6)
