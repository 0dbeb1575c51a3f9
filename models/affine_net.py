"""An affine registration network, and conversions between its normalised parameters and pixel units.

    (moving, fixed) --concat--> stride-2 convs --> global average --> linear --> theta (N, d, d + 1)
    warped = grid_sample(moving, affine_grid(theta))        (align_corners=True)

A spatial transformer network in the sense of Jaderberg et al. (NeurIPS 2015), used for affine
pre-alignment as in de Vos et al. (MedIA 2019). The last layer starts at zero weight and identity bias,
so the untrained network returns the identity transform and training only has to learn corrections.
theta uses grid_sample's normalised coordinates (x, y[, z] in [-1, 1], x along the last array axis);
``theta_to_pixel`` / ``pixel_to_theta`` convert to and from the pixel convention of
tasks/data/phantoms/deformation.py: p -> M (p - c) + c + t in array-axis order, c the image centre.
"""

from __future__ import annotations

import numpy as np

import engine
from engine import nn
from engine.nn.functional import affine_grid, grid_sample
from engine.ops.shape import cat


class AffineNet(nn.Module):
    """forward(moving, fixed) -> (warped, theta). moving, fixed: (N, C, *spatial), 2-D or 3-D (``dims``).

    features: channels of the stride-2 convolution levels (each 3x3, LeakyReLU 0.2).
    """

    def __init__(self, dims: int = 2, in_channels: int = 1, features=(16, 32, 64, 64)):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"AffineNet: dims must be 2 or 3, got {dims}")
        self.dims = dims
        Conv = nn.Conv2d if dims == 2 else nn.Conv3d
        layers, c = [], 2 * in_channels
        for width in features:
            layers += [Conv(c, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = width
        self.encoder = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(c, dims * (dims + 1))
        nn.init.zeros_(self.head.weight)
        identity = np.eye(dims, dims + 1, dtype=np.float32).ravel()
        with engine.no_grad():
            self.head.bias.data[...] = self.head.bias._xp.asarray(identity)

    def forward(self, moving, fixed):
        if moving.ndim != self.dims + 2 or moving.shape != fixed.shape:
            raise ValueError(
                f"AffineNet ({self.dims}-D): moving and fixed must both be (N, C, *spatial) with {self.dims} spatial "
                f"axes, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
            )
        features = self.pool(self.encoder(cat([moving, fixed], dim=1))).flatten(1)
        theta = self.head(features).reshape(-1, self.dims, self.dims + 1)
        grid = affine_grid(theta, moving.shape, align_corners=True)
        return grid_sample(moving, grid, padding_mode="border", align_corners=True), theta


def _scales(shape):
    """Half-extent (size - 1) / 2 of each array axis: normalised unit -> pixels (align_corners=True)."""
    return (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0


def theta_to_pixel(theta, shape):
    """theta (N, d, d + 1) normalised, (x, y[, z]) order -> (M (N, d, d), t (N, d)) in pixels, array-axis order.

    With D = diag(half-extents) and P the axis reversal: M = D P A P D^-1, t = D P b, so that the point read
    for output pixel p is M (p - c) + c + t (c the centre), as phantoms.affine_displacement_field.
    """
    theta = np.asarray(theta, dtype=np.float64)
    d = theta.shape[-2]
    scale = _scales(shape)
    rev = np.arange(d)[::-1]
    a = theta[:, :, :d][:, rev][:, :, rev]
    m = scale[None, :, None] * a / scale[None, None, :]
    t = scale[None] * theta[:, :, d][:, rev]
    return m, t


def pixel_to_theta(matrix, translation, shape):
    """The inverse of theta_to_pixel: (M (N, d, d), t (N, d)) pixels, array order -> theta (N, d, d + 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    t = np.asarray(translation, dtype=np.float64)
    d = m.shape[-1]
    scale = _scales(shape)
    rev = np.arange(d)[::-1]
    a = (m / scale[None, :, None] * scale[None, None, :])[:, rev][:, :, rev]
    b = (t / scale[None])[:, rev]
    return np.concatenate([a, b[:, :, None]], axis=2)


def similarity_parameters(matrix, translation):
    """2-D (M (N, 2, 2), t (N, 2)), pixels in array order -> {angle_deg, scale, tx, ty} (arrays of N).

    In (x, y) = (column, row) order the closest similarity has angle atan2(M_yx - M_xy, M_xx + M_yy)
    (from the x axis towards the y axis, i.e. clockwise on screen, where y points down), scale
    sqrt|det M|, and the translation (tx, ty) of the image centre in pixels.
    """
    m = np.asarray(matrix, dtype=np.float64)
    t = np.asarray(translation, dtype=np.float64)
    mxx, mxy, myx, myy = m[:, 1, 1], m[:, 1, 0], m[:, 0, 1], m[:, 0, 0]
    angle = np.degrees(np.arctan2(myx - mxy, mxx + myy))
    scale = np.sqrt(np.abs(np.linalg.det(m)))
    return {"angle_deg": angle, "scale": scale, "tx": t[:, 1], "ty": t[:, 0]}


def theta_to_flow(theta, shape):
    """The displacement (N, d, *shape) in pixels (array-axis order) of the affine theta (N, d, d + 1), as a
    differentiable Tensor: the affine_grid point minus the pixel's own position (align_corners=True)."""
    from engine.ops.shape import stack
    from engine.tensor import Tensor

    d = len(shape)
    grid = affine_grid(theta, (theta.shape[0], 1, *shape), align_corners=True)  # (N, *shape, d), x first
    xp = theta._xp
    mesh = xp.meshgrid(*[xp.arange(s, dtype=theta.dtype) for s in shape], indexing="ij")
    return stack([(grid[..., d - 1 - a] + 1.0) * ((shape[a] - 1) / 2.0) - Tensor(mesh[a]) for a in range(d)], dim=1)
