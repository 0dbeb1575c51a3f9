"""Spatial transformer layers for registration: warp by a displacement, integrate a velocity field.

See engine/nn/functional/sampling.py for the conventions (displacements in voxels, array-axis order,
pull-back: warped(x) = moving(x + u(x))) and the mathematics.
"""

from __future__ import annotations

from engine.nn.functional.sampling import integrate_velocity, warp
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["SpatialTransformer", "VecInt"]


class SpatialTransformer(Module):
    """warped = moving(x + flow(x)) (Jaderberg et al. 2015; VoxelMorph's layer, MONAI's ``Warp``).

    forward(moving (N, C, *spatial), flow (N, d, *spatial)) -> (N, C, *spatial). No parameters.
    mode 'bilinear' (trilinear in 3-D) for images, 'nearest' for label maps; padding_mode 'border'
    (default), 'zeros' or 'reflection'. Gradients reach both the image and the flow.
    """

    def __init__(self, mode: str = "bilinear", padding_mode: str = "border"):
        super().__init__()
        self.mode, self.padding_mode = mode, padding_mode

    def forward(self, moving: Tensor, flow: Tensor) -> Tensor:
        return warp(moving, flow, mode=self.mode, padding_mode=self.padding_mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, padding_mode={self.padding_mode!r}"


class VecInt(Module):
    """Integrate a stationary velocity field by scaling and squaring into a diffeomorphic displacement
    (VoxelMorph's ``VecInt``; MONAI's ``DVF2DDF``).

    forward(velocity (N, d, *spatial)) -> displacement (N, d, *spatial); steps squarings (7 as VoxelMorph).
    """

    def __init__(self, steps: int = 7):
        super().__init__()
        if steps < 0:
            raise ValueError(f"VecInt: steps must be >= 0, got {steps}")
        self.steps = int(steps)

    def forward(self, velocity: Tensor) -> Tensor:
        return integrate_velocity(velocity, self.steps)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"
