"""Tensor API: factories, dtypes, conversion, devices, methods with PyTorch names."""

from __future__ import annotations

import numpy as np
import pytest

import engine


def test_factory_dtypes_follow_pytorch():
    assert engine.tensor([1.0, 2.0]).dtype == np.float32
    assert engine.tensor([1, 2]).dtype == np.int64
    assert engine.tensor(np.zeros(2)).dtype == np.float64  # NumPy arrays keep their dtype
    assert engine.zeros(2, 3).dtype == np.float32 and engine.zeros(2, 3).shape == (2, 3)
    assert engine.ones((2, 3), dtype=engine.float64).dtype == np.float64
    assert engine.arange(5).dtype == np.int64 and engine.arange(0, 1, 0.25).dtype == np.float32
    assert engine.linspace(0, 1, 5).shape == (5,)
    assert engine.full((2,), 7.0).dtype == np.float32
    assert engine.randn(3, 4).dtype == np.float32
    assert engine.zeros_like(engine.ones(2, dtype=engine.float64)).dtype == np.float64
    assert engine.eye(3).numpy().trace() == 3


def test_from_numpy_shares_memory():
    a = np.zeros(3, dtype=np.float32)
    t = engine.from_numpy(a)
    a[0] = 5
    assert t.numpy()[0] == 5


def test_scalar_operands_keep_float32():
    x = engine.ones(3)
    for y in (x * 2.0, 2.0 * x, x + np.float64(1.5), x / 3, 1 - x, x**2, 2.0**x):
        assert y.dtype == np.float32


def test_item_numpy_and_requires_grad_guards():
    x = engine.tensor([[3.5]], requires_grad=True)
    assert x.item() == 3.5
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [[3.5]])
    with pytest.raises(ValueError, match="only one-element"):
        engine.ones(2).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(engine.ones(2))


def test_pytorch_style_dims_and_numpy_aliases():
    x = engine.tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(x.sum(dim=1, keepdim=True).numpy(), x.numpy().sum(1, keepdims=True))
    np.testing.assert_array_equal(x.sum(axis=1, keepdims=True).numpy(), x.numpy().sum(1, keepdims=True))
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(1, 2, 0).shape == (3, 4, 2)
    assert x.view(6, 4).shape == (6, 4)
    assert x.flatten().shape == (24,)
    assert x.argmax(dim=2).dtype == np.int64
    np.testing.assert_array_equal(x.argmax(dim=2).numpy(), np.full((2, 3), 3))
    assert engine.cat([x, x], dim=0).shape == (4, 3, 4) and engine.concat([x, x], 1).shape == (2, 6, 4)
    with pytest.raises(TypeError, match="dim= or axis="):
        x.sum(dim=0, axis=1)


def test_setitem_is_refused_inside_the_graph():
    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 2.0
    with engine.no_grad():
        x[0] = 2.0
    assert x.detach().numpy()[0] == 2.0


def test_comparisons_give_boolean_tensors_without_grad():
    x = engine.tensor([1.0, -1.0], requires_grad=True)
    m = x > 0
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal((x == 1.0).numpy(), [True, False])


def test_to_casts_and_moves_differentiably():
    x = engine.tensor([1.0, 2.0], dtype=engine.float64, requires_grad=True)
    y = x.to("strict", dtype=engine.float32)
    assert y.device == "strict" and y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_repr_shows_grad_fn_and_device():
    x = engine.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2.0)
    assert "device='strict'" in repr(x.detach().to("strict"))


def test_parameter_requires_grad_by_default():
    p = engine.Parameter(engine.zeros(2))
    assert p.requires_grad and p.is_leaf and isinstance(p, engine.Tensor)
