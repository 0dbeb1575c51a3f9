"""Classical registration baseline: optimise the objective for each pair separately (instance optimisation).

The same objective a registration network is trained with,

    L = -Sim(fixed, moving o phi) + lambda * Reg(u),

minimised directly over the transform parameters of every pair with the engine's autodiff and Adam:
first an affine theta (normalised coordinates, grid_sample/affine_grid, 6 or 12 numbers per pair), then a
dense displacement u on top of it (phi(x) = x + u_affine(x) + u(x); only u is regularised). Coarse to fine:
the images are average-pooled by 4, 2, 1 and each level starts from the previous estimate (a dense
field is upsampled and rescaled). This is what ANTs/elastix/NiftyReg do with their own optimisers;
it needs no training but costs many forward/backward passes per pair, which is what the learned one-pass
networks save. Pairs of a batch are optimised together (their losses are independent, and Adam is
element-wise, so this equals one run per pair).
"""

from __future__ import annotations

import numpy as np

import engine
import engine.nn.functional as F
from engine import optim

SIMILARITIES = ("ncc", "mse", "mi")


def similarity_loss(name: str, warped, fixed, ncc_window: int = 9):
    """-Sim per the name: local NCC (window), mean squared error, or Parzen mutual information."""
    if name == "ncc":
        return F.local_ncc_loss(warped, fixed, window=ncc_window)
    if name == "mse":
        return F.mse_loss(warped, fixed)
    if name == "mi":
        return F.global_mutual_information_loss(warped, fixed)
    raise ValueError(f"similarity must be one of {SIMILARITIES}, got {name!r}")


def _pool(x, factor):
    if factor == 1:
        return x
    pool = F.avg_pool2d if x.ndim == 4 else F.avg_pool3d
    return pool(x, factor)


def _levels(shape, wanted=(4, 2, 1), smallest=16):
    """Pooling factors that keep every axis at least ``smallest`` pixels and divide it."""
    return [f for f in wanted if f == 1 or all(s % f == 0 and s // f >= smallest for s in shape)]


def register_affine(moving, fixed, similarity="ncc", iterations=150, lr=0.01, ncc_window=9, theta0=None):
    """theta (N, d, d + 1) (normalised, align_corners=True) aligning moving to fixed: (N, 1, *spatial) Tensors.

    iterations: Adam steps per resolution level; lr in normalised units (0.01 ~ 1 px on a 200 px image).
    """
    n, d = moving.shape[0], moving.ndim - 2
    start = np.tile(np.eye(d, d + 1, dtype=np.float32), (n, 1, 1)) if theta0 is None else np.asarray(theta0)
    theta = engine.tensor(start.astype(moving.dtype), device=moving.device, requires_grad=True)
    opt = optim.Adam([theta], lr=lr)
    for factor in _levels(moving.shape[2:]):
        m, f = _pool(moving, factor), _pool(fixed, factor)
        window = max(3, (ncc_window // factor) | 1)
        for _ in range(iterations):
            opt.zero_grad()
            grid = F.affine_grid(theta, m.shape, align_corners=True)
            warped = F.grid_sample(m, grid, padding_mode="border", align_corners=True)
            loss = similarity_loss(similarity, warped, f, window) * float(n)  # per-pair losses, summed
            loss.backward()
            opt.step()
    return theta.detach()


def affine_flow(theta, shape):
    """The displacement (N, d, *shape) in pixels (NumPy) of the affine theta (normalised, align_corners=True)."""
    from models.affine_net import theta_to_flow

    return theta_to_flow(theta, tuple(shape)).numpy().astype(np.float32)


def register_dense(moving, fixed, base_flow=None, similarity="ncc", weight=1.0, iterations=100, lr=0.1,
                   ncc_window=9, regulariser="diffusion"):
    """Dense displacement u (N, d, *spatial) so that moving(x + base(x) + u(x)) matches fixed.

    weight: lambda of the regulariser (diffusion or bending) on u; lr in pixels per step at full resolution.
    """
    n, d = moving.shape[0], moving.ndim - 2
    shape = tuple(moving.shape[2:])
    base = np.zeros((n, d, *shape), np.float32) if base_flow is None else np.asarray(base_flow, np.float32)
    reg = F.diffusion_loss if regulariser == "diffusion" else F.bending_energy_loss
    u = None
    for factor in _levels(shape):
        m, f = _pool(moving, factor), _pool(fixed, factor)
        small = tuple(s // factor for s in shape)
        centre = tuple(slice(factor // 2, None, factor) for _ in shape)  # the fine pixel nearest each coarse one
        base_t = engine.tensor(base[(slice(None), slice(None)) + centre] / factor, device=moving.device)
        if u is None:
            start = np.zeros((n, d, *small), np.float32)
        else:  # upsample the coarser estimate, and its pixel units with it
            up = F.interpolate(engine.tensor(u), size=small, mode="bilinear" if d == 2 else "trilinear",
                               align_corners=True)
            start = up.numpy() * (small[0] / u.shape[2])
        flow = engine.tensor(start, device=moving.device, requires_grad=True)
        opt = optim.Adam([flow], lr=lr / factor)
        window = max(3, (ncc_window // factor) | 1)
        for _ in range(iterations):
            opt.zero_grad()
            warped = F.warp(m, base_t + flow)
            loss = (similarity_loss(similarity, warped, f, window) + weight * reg(flow)) * float(n)
            loss.backward()
            opt.step()
        u = flow.detach().numpy()
    return u
