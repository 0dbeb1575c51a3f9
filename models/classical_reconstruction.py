"""Classical MRI reconstructions from undersampled single-coil k-space: zero-filled and compressed sensing.

Measurement model: y = M F x (+ noise), x the complex image (H, W), F the centred orthonormal 2-D
Fourier transform (engine.fft's convention) and M the binary sampling mask.

Zero-filled
    x_zf = F^H y: missing k-space treated as zero. The floor every learned method must beat;
    it aliases (ghosts for regular sampling, noise-like streaks for random sampling).

Compressed sensing with total variation (Lustig, Donoho and Pauly, MRM 58:1182-1195, 2007)
    x* = argmin_x  1/2 ||M F x - y||^2 + lam TV(x),      TV(x) = sum_pixels |grad x|
    (isotropic TV, joint over the real and imaginary parts). Solved with FISTA (Beck and Teboulle,
    SIAM J. Imaging Sci. 2:183-202, 2009): the data term is smooth with gradient F^H (M F x - y)
    and Lipschitz constant 1 (F unitary, M a projection), so with step 1

        z_k    = v_k - F^H (M F v_k - y)              (gradient step = data consistency:
                                                       replace v's k-space by y where sampled)
        x_{k+1} = prox_{lam TV}(z_k)                   (TV denoising of z_k)
        t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,   v_{k+1} = x_{k+1} + (t_k - 1) / t_{k+1} (x_{k+1} - x_k)

    The TV proximal step has no closed form; it is solved by Chambolle's dual projection algorithm
    (J. Math. Imaging Vis. 20:89-97, 2004), warm-started from the previous outer iteration. The
    gradient step is exactly the hard data-consistency layer of the networks (models/dccnn.py):
    an unrolled FISTA with a learned denoiser in place of prox_TV *is* a DC-CNN cascade.

Arrays are complex (..., H, W) NumPy or CuPy arrays; leading axes are independent images, solved
together (no Python loop over images). lam is relative to the image scale: choose it on validation
data (the reconstruction experiment does, over a small grid).
"""

from __future__ import annotations

import numpy as np

from engine import backend

__all__ = ["fft2c_np", "ifft2c_np", "zero_filled", "cs_tv_fista", "tv_prox", "total_variation"]


def fft2c_np(x):
    """Centred orthonormal FFT over the last two axes of a complex array (NumPy or CuPy)."""
    xp = backend.get_array_module(x)
    ax = (-2, -1)
    return xp.fft.fftshift(xp.fft.fft2(xp.fft.ifftshift(x, axes=ax), axes=ax, norm="ortho"), axes=ax)


def ifft2c_np(k):
    """Inverse of fft2c_np (and its adjoint)."""
    xp = backend.get_array_module(k)
    ax = (-2, -1)
    return xp.fft.fftshift(xp.fft.ifft2(xp.fft.ifftshift(k, axes=ax), axes=ax, norm="ortho"), axes=ax)


def zero_filled(kspace, mask=None):
    """x_zf = F^H (M y): complex (..., H, W). mask (broadcastable bool) is applied if given."""
    if mask is not None:
        kspace = kspace * mask
    return ifft2c_np(kspace)


def _grad(x):
    """Forward differences with a zero last difference (Neumann boundary): (..., H, W) -> (2, ..., H, W)."""
    xp = backend.get_array_module(x)
    gy = xp.zeros_like(x)
    gx = xp.zeros_like(x)
    gy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    gx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return xp.stack([gy, gx])


def _div(p):
    """Discrete divergence, the negative adjoint of _grad: <grad x, p> = -<x, div p>."""
    xp = backend.get_array_module(p)
    py, px = p[0], p[1]
    dy = xp.zeros_like(py)
    dx = xp.zeros_like(px)
    dy[..., 0, :] = py[..., 0, :]
    dy[..., 1:-1, :] = py[..., 1:-1, :] - py[..., :-2, :]
    dy[..., -1, :] = -py[..., -2, :]
    dx[..., :, 0] = px[..., :, 0]
    dx[..., :, 1:-1] = px[..., :, 1:-1] - px[..., :, :-2]
    dx[..., :, -1] = -px[..., :, -2]
    return dy + dx


def _norm(p):
    """Pointwise Euclidean norm of a (2, ...) field of complex values: sqrt(sum |p_i|^2)."""
    xp = backend.get_array_module(p)
    return xp.sqrt((p.real ** 2 + p.imag ** 2).sum(axis=0)) if xp.iscomplexobj(p) else xp.sqrt((p ** 2).sum(axis=0))


def total_variation(x) -> np.ndarray:
    """Isotropic TV of each image: sum over pixels of |grad x| (..., H, W) -> (...)."""
    return _norm(_grad(x)).sum(axis=(-2, -1))


def tv_prox(b, lam: float, n_iter: int = 20, p=None, tau: float = 0.125):
    """prox_{lam TV}(b) = argmin_x 1/2 ||x - b||^2 + lam TV(x), by Chambolle's projection (2004).

    The dual variable p (a field with |p| <= 1 at every pixel) iterates
        p <- (p + tau grad(div p - b / lam)) / (1 + tau |grad(div p - b / lam)|),   tau <= 1/8,
    and x = b - lam div p. Returns (x, p) so that the caller can warm-start the next call.
    """
    xp = backend.get_array_module(b)
    if lam <= 0:
        return b, (p if p is not None else xp.zeros((2, *b.shape), dtype=b.dtype))
    if p is None:
        p = xp.zeros((2, *b.shape), dtype=b.dtype)
    for _ in range(n_iter):
        g = _grad(_div(p) - b / lam)
        p = (p + tau * g) / (1.0 + tau * _norm(g))
    return b - lam * _div(p), p


def cs_tv_fista(kspace, mask, lam: float = 0.01, n_iter: int = 50, inner_iter: int = 10, x0=None):
    """Compressed-sensing reconstruction with TV, solved by FISTA (see the module docstring).

    kspace: complex (..., H, W) measured k-space (zero where not sampled); mask: bool broadcastable
    to it. lam: TV weight (in units of the image intensity). Returns the complex image (..., H, W).
    """
    xp = backend.get_array_module(kspace)
    mask = mask.astype(bool)
    y = kspace * mask
    x = ifft2c_np(y) if x0 is None else x0
    v, t, p = x, 1.0, None
    for _ in range(n_iter):
        k = fft2c_np(v)
        z = ifft2c_np(xp.where(mask, y, k))  # v - F^H (M F v - y): gradient step with step size 1
        x_new, p = tv_prox(z, lam, inner_iter, p)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        v = x_new + ((t - 1.0) / t_new) * (x_new - x)
        x, t = x_new, t_new
    return x
