"""Classical image enhancement: the floors every network in tasks/enhancement.py is compared with.

Denoising
    ``gaussian_denoise``  convolution with a Gaussian of std sigma pixels (low-pass: noise goes, and
                          so do edges);
    ``median_denoise``    the median of each size^d neighbourhood (keeps edges, removes outliers);
    ``tv_denoise``        total-variation (ROF) denoising by Chambolle's projection algorithm:
                          the minimiser of  1/(2 lam) ||u - f||^2 + TV(u),  TV(u) = sum_i |grad u|_i
                          (Rudin, Osher & Fatemi 1992; Chambolle, "An algorithm for total variation
                          minimization and applications", J Math Imaging Vis 20:89-97, 2004).
Super-resolution
    ``bicubic_upsample``  cubic B-spline interpolation (scipy.ndimage.zoom, order 3), pixel areas
                          aligned (grid_mode), as for block-averaged low-resolution images.
Synthesis
    ``PiecewiseLinearMap`` an intensity-to-intensity curve fitted on training pairs (e.g. MRI value
                          -> HU): the best any method can do that looks at one pixel at a time.

Chambolle's algorithm. The ROF solution is u = f - lam div p*, where p* is the vector field with
|p_i| <= 1 that minimises || lam div p - f ||^2 (the projection of f on the set {lam div p}).
A semi-implicit gradient step on p keeps it inside the unit ball by construction:

    g = grad(div p^n - f / lam),        p^{n+1} = (p^n + tau g) / (1 + tau |g|),

which converges for tau <= 1/8 in 2D (1/(4d) in d dimensions: ||div||^2 <= 4d). grad is the
forward difference (0 across the last row: Neumann boundary) and div = -grad^T.

Every function takes a batch (..., *spatial): the last ``spatial_dims`` axes are filtered, leading
axes (batch, channel) are independent images. All return float32.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["gaussian_denoise", "median_denoise", "tv_denoise", "tv_energy", "bicubic_upsample",
           "PiecewiseLinearMap"]


def _batch(images, spatial_dims: int, fn: str) -> np.ndarray:
    x = np.asarray(images)
    if spatial_dims not in (1, 2, 3) or x.ndim < spatial_dims:
        raise ValueError(f"{fn}: need at least {spatial_dims} spatial axes, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{fn}: images must be numeric, got dtype {x.dtype}")
    return x


def gaussian_denoise(images, sigma: float, spatial_dims: int = 2) -> np.ndarray:
    """Gaussian low-pass filter (std ``sigma`` pixels, reflected borders) over the spatial axes."""
    x = _batch(images, spatial_dims, "gaussian_denoise")
    if not sigma >= 0:
        raise ValueError(f"gaussian_denoise: sigma must be >= 0, got {sigma!r}")
    lead = x.ndim - spatial_dims
    return ndimage.gaussian_filter(x.astype(np.float32), [0.0] * lead + [float(sigma)] * spatial_dims,
                                   mode="reflect")


def median_denoise(images, size: int, spatial_dims: int = 2) -> np.ndarray:
    """Median of each size^d neighbourhood (reflected borders) over the spatial axes."""
    x = _batch(images, spatial_dims, "median_denoise")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"median_denoise: size must be a positive integer, got {size!r}")
    lead = x.ndim - spatial_dims
    return ndimage.median_filter(x.astype(np.float32), size=(1,) * lead + (int(size),) * spatial_dims,
                                 mode="reflect")


def _grad(u, axes):
    """Forward differences along each spatial axis, 0 at the last position: a list of arrays."""
    out = []
    for ax in axes:
        g = np.zeros_like(u)
        src = [slice(None)] * u.ndim
        dst = [slice(None)] * u.ndim
        src[ax], dst[ax] = slice(1, None), slice(None, -1)
        g[tuple(dst)] = u[tuple(src)] - u[tuple(dst)]
        out.append(g)
    return out


def _div(p, axes):
    """Discrete divergence, the negative adjoint of _grad: backward differences with p's boundary
    conventions (d[0] = p[0], d[i] = p[i] - p[i-1], d[-1] = -p[-2])."""
    d = np.zeros_like(p[0])
    for pa, ax in zip(p, axes):
        first = [slice(None)] * d.ndim
        first[ax] = slice(0, -1)
        shifted = [slice(None)] * d.ndim
        shifted[ax] = slice(1, None)
        d[tuple(first)] += pa[tuple(first)]
        d[tuple(shifted)] -= pa[tuple(first)]
    return d


def tv_energy(u, f, weight: float, spatial_dims: int = 2) -> np.ndarray:
    """The ROF objective 1/(2 lam) ||u - f||^2 + TV(u) per image (leading shape), lam = weight."""
    u, f = np.asarray(u, np.float64), np.asarray(f, np.float64)
    axes = tuple(range(u.ndim - spatial_dims, u.ndim))
    tv = np.sqrt(sum(g**2 for g in _grad(u, axes))).sum(axis=axes)
    return ((u - f) ** 2).sum(axis=axes) / (2.0 * weight) + tv


def tv_denoise(images, weight: float, n_iter: int = 100, tau: float | None = None, spatial_dims: int = 2,
               tol: float = 1e-5) -> np.ndarray:
    """Total-variation denoising by Chambolle's projection algorithm (see the module docstring).

    weight: lam, the strength (in the images' units: a step of height h across an edge of length
    l costs h l in TV, and flattening it costs about h^2 l / (2 lam) in fidelity). n_iter: at most
    this many iterations; stops earlier when the largest change of p is below ``tol``.
    tau: step, default 1/(4 d) (the convergence bound).
    """
    fn = "tv_denoise"
    f = _batch(images, spatial_dims, fn).astype(np.float64)
    if not weight > 0:
        raise ValueError(f"{fn}: weight must be > 0, got {weight!r}")
    tau = 1.0 / (4.0 * spatial_dims) if tau is None else float(tau)
    if not 0 < tau <= 1.0 / (4.0 * spatial_dims):
        raise ValueError(f"{fn}: tau must lie in (0, 1/(4 d)] = (0, {1 / (4 * spatial_dims):g}] to converge, "
                         f"got {tau}")
    axes = tuple(range(f.ndim - spatial_dims, f.ndim))
    p = [np.zeros_like(f) for _ in axes]
    scaled = f / weight
    for _ in range(int(n_iter)):
        g = _grad(_div(p, axes) - scaled, axes)
        norm = 1.0 + tau * np.sqrt(sum(gi * gi for gi in g))
        new = [(pi + tau * gi) / norm for pi, gi in zip(p, g)]
        change = max(float(np.abs(a - b).max()) for a, b in zip(new, p))
        p = new
        if change < tol:
            break
    return (f - weight * _div(p, axes)).astype(np.float32)


def bicubic_upsample(images, factor, spatial_dims: int = 2) -> np.ndarray:
    """Cubic-spline interpolation by integer factor(s) over the spatial axes (scipy.ndimage.zoom, order 3).

    factor: an int, or one per spatial axis (e.g. (4, 1) for thick slices along the first axis).
    grid_mode=True aligns the pixel *areas* (a low-resolution pixel covers factor^d target pixels),
    which is how block-averaged images relate to the high-resolution grid; borders replicate.
    """
    fn = "bicubic_upsample"
    x = _batch(images, spatial_dims, fn)
    factors = (factor,) * spatial_dims if np.isscalar(factor) else tuple(factor)
    if len(factors) != spatial_dims or any(isinstance(f, bool) or int(f) != f or f < 1 for f in factors):
        raise ValueError(f"{fn}: factor must be a positive integer or {spatial_dims} of them, got {factor!r}")
    zoom = [1.0] * (x.ndim - spatial_dims) + [float(f) for f in factors]
    return ndimage.zoom(x.astype(np.float32), zoom, order=3, mode="nearest", grid_mode=True)


class PiecewiseLinearMap:
    """A continuous piecewise-linear curve y = m(x), fitted by least squares on training pairs.

    PiecewiseLinearMap(n_knots=16): knots at equally spaced quantiles of the training x values (so
    every segment has data); the value at each knot is fitted by least squares on the hat-function
    basis (each x is a convex combination of its two neighbouring knots). Outside the knots the
    curve is constant (the end values). With a mask, only masked pixels are fitted.
    It cannot tell apart tissues with the same source intensity (in T1 MRI, bone and air are both
    dark): that is what a network, seeing context, can add.
    """

    def __init__(self, n_knots: int = 16):
        if isinstance(n_knots, bool) or not isinstance(n_knots, int) or n_knots < 2:
            raise ValueError(f"PiecewiseLinearMap: n_knots must be an integer >= 2, got {n_knots!r}")
        self.n_knots = n_knots
        self.knots = self.values = None

    def fit(self, source, target, mask=None, max_samples: int = 500_000, seed: int = 0):
        x, y = np.asarray(source, np.float64), np.asarray(target, np.float64)
        if x.shape != y.shape:
            raise ValueError(f"PiecewiseLinearMap.fit: source {x.shape} and target {y.shape} must have one shape")
        if mask is not None:
            m = np.asarray(mask, bool)
            if m.shape != x.shape:
                raise ValueError(f"PiecewiseLinearMap.fit: mask {m.shape} must have the images' shape {x.shape}")
            x, y = x[m], y[m]
        x, y = x.ravel(), y.ravel()
        if x.size < 2:
            raise ValueError("PiecewiseLinearMap.fit: need at least 2 pixels to fit")
        if x.size > max_samples:  # a seeded subsample: the curve has a few dozen unknowns
            keep = np.random.default_rng(seed).choice(x.size, max_samples, replace=False)
            x, y = x[keep], y[keep]
        knots = np.unique(np.quantile(x, np.linspace(0.0, 1.0, self.n_knots)))
        if knots.size == 1:
            self.knots, self.values = knots, np.array([y.mean()])
            return self
        # hat-function basis: x between knots k and k+1 has weights (1 - t, t) on them
        k = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2)
        t = np.clip((x - knots[k]) / (knots[k + 1] - knots[k]), 0.0, 1.0)
        basis = np.zeros((x.size, knots.size))
        basis[np.arange(x.size), k] = 1.0 - t
        basis[np.arange(x.size), k + 1] += t
        self.knots = knots
        self.values = np.linalg.lstsq(basis, y, rcond=None)[0]
        return self

    def predict(self, source) -> np.ndarray:
        if self.knots is None:
            raise RuntimeError("PiecewiseLinearMap.predict: call fit first")
        x = np.asarray(source, np.float64)
        if self.knots.size == 1:
            return np.full(x.shape, self.values[0], dtype=np.float32)
        return np.interp(x, self.knots, self.values).astype(np.float32)
