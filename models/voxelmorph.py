"""VoxelMorph (Balakrishnan et al., "VoxelMorph: a learning framework for deformable medical image
registration", IEEE TMI 2019; diffeomorphic variant: Dalca et al., MICCAI 2018 / MedIA 2019).

A registration network maps a pair to a deformation in one forward pass:

    (moving, fixed) --concat--> U-Net --> 3x3 conv --> u (N, d, *spatial)   [or a velocity v]
    u = exp(v) by scaling and squaring (engine.nn.VecInt) when int_steps > 0 (diffeomorphic)
    warped = moving o (id + u)            (engine.nn.SpatialTransformer)

and is trained without any ground-truth deformation: minimise -Sim(fixed, warped) + lambda Reg(u)
over many pairs (engine/nn/functional/similarity.py). The U-Net here follows VoxelMorph's: 3x3 convs
with LeakyReLU(0.2), stride-2 convolutions down, nearest upsampling and skip concatenation up, two
full-resolution convs, and a flow head initialised near zero (N(0, 1e-5)) so the network starts at
the identity transform. 2-D or 3-D from ``dims``; spatial sizes must be divisible by 2^len(encoder).
"""

from __future__ import annotations

import numpy as np

from engine import nn
from engine.ops.shape import cat


def _conv(dims, c_in, c_out, stride=1):
    Conv = nn.Conv2d if dims == 2 else nn.Conv3d
    return nn.Sequential(Conv(c_in, c_out, 3, stride=stride, padding=1), nn.LeakyReLU(0.2))


class RegistrationUNet(nn.Module):
    """VoxelMorph's U-Net: x (N, in_channels, *spatial) -> features (N, decoder[-1], *spatial).

    encoder: channels of the stride-2 levels (VoxelMorph: 16, 32, 32, 32); decoder: channels of the
    up-path convs (one per encoder level, then the full-resolution convs; VoxelMorph: 32, 32, 32, 32, 32,
    16, 16 with the 8 at full resolution listed last).
    """

    def __init__(self, dims: int = 2, in_channels: int = 2, encoder=(16, 32, 32, 32),
                 decoder=(32, 32, 32, 32, 16, 16)):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"RegistrationUNet: dims must be 2 or 3, got {dims}")
        if len(decoder) < len(encoder):
            raise ValueError(f"RegistrationUNet: decoder {decoder} needs at least one conv per encoder level {encoder}")
        self.dims, self.levels = dims, len(encoder)
        self.down = nn.ModuleList()
        c = in_channels
        skips = [c]
        for width in encoder:
            self.down.append(_conv(dims, c, width, stride=2))
            c = width
            skips.append(c)
        skips.pop()  # the deepest level is the bottleneck, not a skip
        self.up = nn.ModuleList()
        for width in decoder[: self.levels]:
            self.up.append(_conv(dims, c, width))
            c = width + skips.pop()  # after upsampling, the skip of the next finer level is concatenated
        self.extra = nn.ModuleList()
        for width in decoder[self.levels:]:
            self.extra.append(_conv(dims, c, width))
            c = width
        self.out_channels = c
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        factor = 2**self.levels
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"RegistrationUNet: spatial size {tuple(x.shape[2:])} must be divisible by {factor} "
                             f"({self.levels} stride-2 levels); pad or crop the images")
        skips = [x]
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = self.upsample(layer(x))
            x = cat([x, skips.pop()], dim=1)
        for layer in self.extra:
            x = layer(x)
        return x


class VoxelMorph(nn.Module):
    """forward(moving, fixed) -> (warped, flow).

    moving, fixed: (N, 1, *spatial) (channels: ``in_channels`` each). flow: (N, d, *spatial) displacement in
    voxels, array-axis order, warped(x) = moving(x + flow(x)). int_steps > 0 makes the head predict a
    stationary velocity integrated by scaling and squaring (VoxelMorph-diff, 7 steps in the paper);
    ``velocity`` of the last call is kept for regularisation.
    """

    def __init__(self, dims: int = 2, in_channels: int = 1, encoder=(16, 32, 32, 32),
                 decoder=(32, 32, 32, 32, 16, 16), int_steps: int = 0, seed: int = 0):
        super().__init__()
        self.dims = dims
        self.unet = RegistrationUNet(dims, 2 * in_channels, encoder, decoder)
        Conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.flow = Conv(self.unet.out_channels, dims, 3, padding=1)
        # start at (almost) the identity: tiny random weights, zero bias (VoxelMorph's initialisation)
        rng = np.random.default_rng(seed)
        nn.init.normal_(self.flow.weight, 0.0, 1e-5, generator=rng)
        nn.init.zeros_(self.flow.bias)
        self.integrate = nn.VecInt(int_steps) if int_steps > 0 else None
        self.transformer = nn.SpatialTransformer()

    def forward(self, moving, fixed):
        if moving.ndim != self.dims + 2 or moving.shape != fixed.shape:
            raise ValueError(
                f"VoxelMorph ({self.dims}-D): moving and fixed must both be (N, C, *spatial) with {self.dims} spatial "
                f"axes, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
            )
        field = self.flow(self.unet(cat([moving, fixed], dim=1)))
        self.velocity = field if self.integrate is not None else None
        flow = self.integrate(field) if self.integrate is not None else field
        return self.transformer(moving, flow), flow
