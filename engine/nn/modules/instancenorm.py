"""Instance normalisation layers (Ulyanov et al. 2016): each sample's channel maps are
standardised over their own positions, so contrast differences between images (common across
scanners and sites) are removed. PyTorch's defaults: affine=False, track_running_stats=False."""

from __future__ import annotations

from engine.nn.functional.normalization import instance_norm
from engine.nn.modules.batchnorm import _NormBase
from engine.tensor import Tensor

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


class _InstanceNorm(_NormBase):
    _spatial: int = 0
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        d = self._spatial
        if input.ndim not in (d + 1, d + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a {d + 2}-D input {self._layout} or an unbatched "
                f"{d + 1}-D one, got a {input.ndim}-D input of shape {tuple(input.shape)}"
            )
        unbatched = input.ndim == d + 1
        x = input.unsqueeze(0) if unbatched else input
        self._check_channels(x)
        # as PyTorch: no batch counting here, and momentum=None freezes the running statistics
        momentum = 0.0 if self.momentum is None else self.momentum
        use_input_stats = self.training or not self.track_running_stats
        track = self.track_running_stats
        y = instance_norm(x, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_input_stats, momentum, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) (or unbatched (C, L)) sequences."""

    _spatial = 1
    _layout = "(N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) (or unbatched (C, H, W)) images."""

    _spatial = 2
    _layout = "(N, C, H, W)"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) (or unbatched (C, D, H, W)) volumes."""

    _spatial = 3
    _layout = "(N, C, D, H, W)"
