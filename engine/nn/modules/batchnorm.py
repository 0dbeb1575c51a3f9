"""Batch normalisation layers (Ioffe & Szegedy 2015): BatchNorm1d, BatchNorm2d, BatchNorm3d.

In training mode every channel is standardised with the statistics of the current batch and
running averages of those statistics are kept; in eval mode the running averages are used,
so a single sample's output no longer depends on the rest of its batch.
See engine.nn.functional.normalization for the equations and the backward.
"""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional.normalization import batch_norm
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _NormBase(Module):
    """Per-channel affine parameters and running statistics, with PyTorch's names:
    weight (C,) = 1, bias (C,) = 0, running_mean (C,) = 0, running_var (C,) = 1 and
    num_batches_tracked (an int64 scalar) — the last three only when track_running_stats."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        xp = backend.xp_for_device(backend.normalize_device(device))
        dt = np.dtype(dtype or get_default_dtype())
        if affine:
            self.weight = Parameter(xp.ones(num_features, dtype=dt))
            self.bias = Parameter(xp.zeros(num_features, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(xp.zeros(num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(xp.ones(num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(xp.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        raise NotImplementedError

    def _check_channels(self, input: Tensor) -> None:
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}(num_features={self.num_features}): input has {input.shape[1]} channels "
                f"(shape {tuple(input.shape)})"
            )
        dtype = self.weight.dtype if self.affine else (self.running_mean.dtype if self.track_running_stats else None)
        if dtype is not None and input.dtype != dtype:
            raise TypeError(
                f"{type(self).__name__}: input dtype {input.dtype} differs from the layer's dtype {dtype} "
                f"(convert the input with .float() / .double(), or the layer with .to(dtype))"
            )

    def _momentum_for_step(self) -> float:
        """Count the batch and return the averaging factor: ``momentum``, or 1/t for the
        cumulative (equal-weight) average over all t batches seen when momentum is None."""
        if not (self.training and self.track_running_stats):
            return 0.0 if self.momentum is None else self.momentum
        self.num_batches_tracked.data[...] = self.num_batches_tracked.data + 1
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked.item())
        return self.momentum

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    _dims: tuple = ()
    _layout: str = ""

    def _check_input(self, input: Tensor) -> None:
        if input.ndim not in self._dims:
            raise ValueError(
                f"{type(self).__name__}: expected a {' or '.join(f'{d}-D' for d in self._dims)} input "
                f"{self._layout}, got a {input.ndim}-D input of shape {tuple(input.shape)}"
            )
        self._check_channels(input)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        momentum = self._momentum_for_step()
        # batch statistics while training, or always when there are no running statistics
        use_batch_stats = self.training or not self.track_running_stats
        # eval mode never touches the running statistics; training without tracking has none
        track = self.track_running_stats and self.training
        return batch_norm(
            input,
            self.running_mean if track or not use_batch_stats else None,
            self.running_var if track or not use_batch_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, per channel C."""

    _dims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images (N, C, H, W), per channel C."""

    _dims = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of volumes (N, C, D, H, W), per channel C."""

    _dims = (5,)
    _layout = "(N, C, D, H, W)"
