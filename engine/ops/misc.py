"""Type casts and device moves, differentiable so that a model can be cast inside a graph."""

from __future__ import annotations

from engine import backend
from engine.autograd import Function


class Cast(Function):
    """y = x converted to another dtype.   dy/dx = 1 (the gradient is cast back)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.source_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        if gy.dtype.kind != "f" or self.source_dtype.kind != "f":
            return None
        return Cast(self.source_dtype)(gy)


class ToDevice(Function):
    """y = x copied to another device.   The gradient is copied back. The only op that moves data."""

    def __init__(self, device: str):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return ToDevice(self.source)(gy)
