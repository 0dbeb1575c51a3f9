"""Dropout layers: active in training mode, the identity after ``model.eval()``.
See engine.nn.functional.dropout for the method."""

from __future__ import annotations

from engine.nn.functional.dropout import dropout, dropout1d, dropout2d, dropout3d
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    _fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, got {p}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout(_DropoutNd):
    """Zero each element with probability p (and scale the others by 1/(1-p)) while training."""

    _fn = staticmethod(dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) inputs with probability p while training."""

    _fn = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole feature maps of (N, C, H, W) inputs with probability p while training."""

    _fn = staticmethod(dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole volumes of (N, C, D, H, W) inputs with probability p while training."""

    _fn = staticmethod(dropout3d)
