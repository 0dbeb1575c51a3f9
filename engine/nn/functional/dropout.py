"""Dropout (Srivastava et al. 2014): during training, zero each unit with probability p.

Inverted dropout: the kept units are scaled by 1 / (1 - p) at training time, so that the
expected value of every unit is unchanged and evaluation needs no rescaling (the layer is the
identity in eval mode). The channel-wise variants (dropout1d/2d/3d) drop whole feature maps,
because neighbouring pixels of one map are strongly correlated and dropping single pixels of a
convolutional feature map regularises little (Tompson et al. 2015).

Masks are drawn on the host from the engine's seeded generator (or the ``generator`` passed)
and moved to the input's device, so a seed gives the same mask on every device.
"""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.autograd import Function
from engine.random import default_generator
from engine.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "DropoutFunction"]


class DropoutFunction(Function):
    """y = x * m, with m = 0 (dropped) or 1/(1-p) (kept), broadcast over the input.
    dL/dx = dL/dy * m (linear in x, so the backward is differentiable again)."""

    def __init__(self, mask):
        self.mask = mask  # device array of a shape that broadcasts against x

    def forward(self, x):
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def _check_p(p, op: str):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, got {p}")


def _masked(input: Tensor, p: float, mask_shape: tuple, generator) -> Tensor:
    if p == 0.0:
        return input
    if p == 1.0:
        keep = np.zeros(mask_shape, dtype=input.dtype)  # everything dropped (no 1/0 scale)
    else:
        rng = default_generator() if generator is None else generator
        u = rng.random(mask_shape, dtype=np.float32 if input.dtype == np.float32 else np.float64)
        keep = (u >= p).astype(input.dtype) * input.dtype.type(1.0 / (1.0 - p))
    return DropoutFunction(backend.to_device(keep, input.device))(input)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator=None) -> Tensor:
    """Zero each element independently with probability p and scale the rest by 1/(1-p) when
    ``training``; the identity otherwise. input: any shape."""
    _check_p(p, "dropout")
    if not training:
        return input
    return _masked(input, p, input.shape, generator)


def _channel_dropout(input: Tensor, p: float, training: bool, generator, spatial: int, op: str) -> Tensor:
    """Drop whole channels: the mask has shape (N, C, 1, ...) (or (C, 1, ...) unbatched)."""
    _check_p(p, op)
    if input.ndim not in (spatial + 1, spatial + 2):
        layout = ", ".join(["N", "C"] + ["L", "H, W", "D, H, W"][spatial - 1:spatial])
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D input ({layout}) or an unbatched {spatial + 1}-D one, "
            f"got shape {tuple(input.shape)}"
        )
    if not training:
        return input
    lead = input.ndim - spatial
    return _masked(input, p, tuple(input.shape[:lead]) + (1,) * spatial, generator)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Channel-wise dropout for (N, C, L) or (C, L)."""
    return _channel_dropout(input, p, training, generator, 1, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Channel-wise dropout for (N, C, H, W) or (C, H, W)."""
    return _channel_dropout(input, p, training, generator, 2, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Channel-wise dropout for (N, C, D, H, W) or (C, D, H, W)."""
    return _channel_dropout(input, p, training, generator, 3, "dropout3d")
