"""Factories: engine.tensor, zeros, ones, full, arange, linspace, eye, rand, randn, randint, *_like.

Arguments follow PyTorch: ``dtype=None`` means the default float dtype (float32) for floating
factories, ``device=None`` means the CPU, and ``requires_grad`` marks a leaf for gradients.
Random factories draw from the engine's seeded generator on the host (engine.random), then
move the values to the device, so every device sees the same numbers for the same seed.
"""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.dtypes import get_default_dtype
from engine.random import default_generator
from engine.tensor import Tensor, _host_array


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


def _finish(host, device, requires_grad):
    data = backend.to_device(host, backend.normalize_device(device))
    return Tensor(data, requires_grad=requires_grad)


def _on_device(make, device, requires_grad):
    """Build directly with the device's array module (no host round trip for zeros/ones)."""
    xp = backend.xp_for_device(backend.normalize_device(device))
    return Tensor(make(xp), requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, NumPy arrays, tensors).

    Python floats give the default float dtype (float32), Python ints int64; NumPy arrays keep
    their dtype unless ``dtype`` is given (as torch.tensor).
    """
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        arr = data.astype(dtype) if dtype is not None else data.copy()
        if device is not None:
            arr = backend.to_device(arr, device)
        return Tensor(arr, requires_grad=requires_grad)
    host = np.array(_host_array(data, dtype), copy=True)
    return _finish(host, device, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array (no copy, dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _dtype(dtype):
    return np.dtype(get_default_dtype() if dtype is None else dtype)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _shape(size), _dtype(dtype)
    return _on_device(lambda xp: xp.zeros(shape, dtype=dt), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _shape(size), _dtype(dtype)
    return _on_device(lambda xp: xp.ones(shape, dtype=dt), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape((size,)) if isinstance(size, (tuple, list)) else _shape((size,))
    if dtype is None:
        dtype = get_default_dtype() if isinstance(fill_value, float) else np.asarray(fill_value).dtype
    return _on_device(lambda xp: xp.full(shape, fill_value, dtype=np.dtype(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt = _dtype(dtype)
    return _on_device(lambda xp: xp.eye(n, m, dtype=dt), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from start (inclusive) to end (exclusive); integer arguments give int64."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if all_int else get_default_dtype()
    return _on_device(lambda xp: xp.arange(start, end, step, dtype=np.dtype(dtype)), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt = _dtype(dtype)
    return _on_device(lambda xp: xp.linspace(start, end, int(steps), dtype=dt), device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    rng = generator or default_generator()
    host = rng.random(_shape(size)).astype(_dtype(dtype))
    return _finish(host, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples."""
    rng = generator or default_generator()
    host = rng.standard_normal(_shape(size)).astype(_dtype(dtype))
    return _finish(host, device, requires_grad)


def randint(low, high=None, size=(1,), dtype=np.int64, device=None, generator=None) -> Tensor:
    """Integers in [low, high) (``randint(high, size)`` also works, as in torch)."""
    if high is None:
        low, high = 0, low
    rng = generator or default_generator()
    host = rng.integers(low, high, size=_shape((size,)) if isinstance(size, (tuple, list)) else (int(size),))
    return _finish(host.astype(dtype), device, False)


def randperm(n, device=None, generator=None) -> Tensor:
    rng = generator or default_generator()
    return _finish(rng.permutation(n).astype(np.int64), device, False)


def _like(factory):
    def like(other: Tensor, dtype=None, device=None, requires_grad=False, **kwargs):
        return factory(
            *other.shape,
            dtype=dtype if dtype is not None else other.dtype,
            device=device if device is not None else other.device,
            requires_grad=requires_grad,
            **kwargs,
        )

    like.__name__ = factory.__name__ + "_like"
    like.__doc__ = f"``{factory.__name__}`` with the shape, dtype and device of ``other``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
rand_like = _like(rand)
randn_like = _like(randn)
empty_like = _like(empty)


def full_like(other: Tensor, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(other.shape, fill_value, dtype=dtype or other.dtype, device=device or other.device,
                requires_grad=requires_grad)
