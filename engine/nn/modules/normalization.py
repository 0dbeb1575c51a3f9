"""Layer normalisation (Ba et al. 2016) and group normalisation (Wu & He 2018): per-sample
statistics, so the output of a sample never depends on its batch (small 3-D medical batches
of 1-2 volumes are where batch norm's statistics become unreliable and these help)."""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional.normalization import group_norm, layer_norm
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["LayerNorm", "GroupNorm"]


def _affine_pair(shape, affine: bool, bias: bool, device, dtype):
    xp = backend.xp_for_device(backend.normalize_device(device))
    dt = np.dtype(dtype or get_default_dtype())
    w = Parameter(xp.ones(shape, dtype=dt)) if affine else None
    b = Parameter(xp.zeros(shape, dtype=dt)) if affine and bias else None
    return w, b


class LayerNorm(Module):
    """Standardise over the trailing ``normalized_shape`` dims of each sample, then apply an
    elementwise affine map: weight and bias have shape normalized_shape (1 and 0 initially).
    x: (..., *normalized_shape) -> same shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(int(s) <= 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be non-empty and positive, got {normalized_shape}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        w, b = _affine_pair(self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.register_parameter("weight", w)
        self.register_parameter("bias", b)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm(normalized_shape={self.normalized_shape}): the input's trailing dims do not match "
                f"(shape {tuple(input.shape)})"
            )
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the C channels into num_groups groups and standardise each (sample, group) over its
    channels and positions, then apply a per-channel affine map (weight, bias: (C,)).
    x: (N, C, *spatial) -> same shape. num_groups=1 is layer norm over (C, *spatial);
    num_groups=C is instance norm with an affine map."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}"
            )
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, affine
        w, b = _affine_pair((num_channels,), affine, True, device, dtype)
        self.register_parameter("weight", w)
        self.register_parameter("bias", b)

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm(num_groups={self.num_groups}, num_channels={self.num_channels}): expected an input "
                f"(N, {self.num_channels}, ...), got shape {tuple(input.shape)}"
            )
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
