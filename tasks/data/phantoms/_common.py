"""Small helpers shared by the phantom generators: seeds, argument checks and coordinate grids.

All generators are host-side NumPy: they make training data once, on the CPU, and the
training loop moves batches to the device. Nothing here is device-agnostic on purpose.
"""

from __future__ import annotations

import numbers

import numpy as np

SeedLike = int | np.random.Generator


def as_rng(seed: SeedLike, fn: str) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an integer seed, or the generator itself (shared state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{fn}: seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"{fn}: seed must be an int or numpy.random.Generator, got {type(seed).__name__}")


def check_int(value, name: str, fn: str, minimum: int = 1) -> int:
    """An integer >= minimum, or a ValueError/TypeError naming the function and argument."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name: str, fn: str, low: float | None = None, high: float | None = None) -> float:
    """A real number in [low, high] (either bound optional)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{fn}: {name} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{fn}: {name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{fn}: {name} must be <= {high}, got {value}")
    return value


def check_ndim(ndim, fn: str) -> int:
    """2 or 3 spatial dimensions."""
    if ndim not in (2, 3) or isinstance(ndim, bool):
        raise ValueError(f"{fn}: ndim must be 2 or 3, got {ndim!r}")
    return int(ndim)


def check_shape(shape, fn: str, ndims: tuple[int, ...] = (2, 3), minimum: int = 2) -> tuple[int, ...]:
    """A spatial shape: a tuple of `len in ndims` integers, each >= minimum."""
    if isinstance(shape, numbers.Integral):
        raise TypeError(f"{fn}: shape must be a tuple of ints such as (64, 64), got the int {shape}")
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{fn}: shape must be a tuple of ints, got {type(shape).__name__}") from None
    if len(shape) not in ndims:
        raise ValueError(f"{fn}: shape must have {' or '.join(map(str, ndims))} entries, got {shape}")
    for s in shape:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < minimum:
            raise ValueError(f"{fn}: shape entries must be ints >= {minimum}, got {shape}")
    return tuple(int(s) for s in shape)


def check_range(value, name: str, fn: str, low: float = 0.0) -> tuple[float, float]:
    """A (min, max) pair with low <= min <= max; a single number means (v, v)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be a number or a (min, max) pair, got {value!r}") from None
    if not (low <= lo <= hi):
        raise ValueError(f"{fn}: {name} must satisfy {low} <= min <= max, got {value!r}")
    return lo, hi


def check_int_range(value, name: str, fn: str, low: int = 0) -> tuple[int, int]:
    """An inclusive integer (min, max) pair; a single int means (v, v)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be an int or a (min, max) pair, got {value!r}") from None
    for v in (lo, hi):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{fn}: {name} must hold ints, got {value!r}")
    if not (low <= lo <= hi):
        raise ValueError(f"{fn}: {name} must satisfy {low} <= min <= max, got {value!r}")
    return int(lo), int(hi)


def pixel_grid(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Open (broadcastable) grids of pixel-centre indices, one per axis, float32: ``ogrid`` style."""
    return tuple(
        np.arange(n, dtype=np.float32).reshape([-1 if i == a else 1 for i in range(len(shape))])
        for a, n in enumerate(shape)
    )


def normalized_grid(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Open grids of pixel-centre coordinates in (-1, 1), one per axis, in array-axis order.

    Pixel ``i`` of an axis of length ``n`` sits at ``(2 i + 1) / n - 1``: the grid covers the square
    [-1, 1]^d exactly, and its centre lies between pixels when ``n`` is even.
    """
    return tuple((2.0 * g + 1.0) / n - 1.0 for g, n in zip(pixel_grid(shape), shape))


def unit_directions(ndim: int, n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors (n, ndim) in array-axis order, deterministic.

    2D: equally spaced angles. 3D: the Fibonacci (golden-spiral) lattice on the sphere.
    """
    if ndim == 2:
        t = (np.arange(n) + 0.5) * (2 * np.pi / n)
        return np.stack([np.sin(t), np.cos(t)], axis=1)
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5**0.5) * k
    rho = np.sqrt(1.0 - z * z)
    return np.stack([z, rho * np.sin(phi), rho * np.cos(phi)], axis=1)


def random_unit_vectors(rng: np.random.Generator, size: tuple[int, ...], ndim: int) -> np.ndarray:
    """Uniform random directions, shape (*size, ndim): normalised Gaussian vectors."""
    v = rng.standard_normal((*size, ndim))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def random_rotations(rng: np.random.Generator, n: int, ndim: int) -> np.ndarray:
    """``n`` uniform random rotation matrices (n, ndim, ndim) (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, ndim, ndim)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(q)
    q[:, :, 0] *= np.sign(det)[:, None]  # a proper rotation, not a reflection
    return q


def gaussian_smooth_periodic(x: np.ndarray, sigma: float, axes_from: int = 1) -> np.ndarray:
    """Gaussian smoothing with periodic boundaries over the axes from ``axes_from`` on, via the FFT.

    Multiplies the spectrum by the Gaussian's transfer function exp(-2 pi^2 sigma^2 f^2) (f in
    cycles/pixel): cost O(n log n) whatever ``sigma``, so broad smoothing of whole batches is cheap.
    Periodic boundaries suit stationary random fields (no edge effects); float32 in, float32 out.
    """
    from scipy import fft

    axes = tuple(range(axes_from, x.ndim))
    spectrum = fft.rfftn(x, axes=axes)
    transfer = 1.0
    for i, a in enumerate(axes):
        n = x.shape[a]
        f = fft.rfftfreq(n) if i == len(axes) - 1 else fft.fftfreq(n)
        shape = [1] * x.ndim
        shape[a] = -1
        transfer = transfer * np.exp(-2.0 * (np.pi * sigma * f) ** 2).astype(np.float32).reshape(shape)
    return fft.irfftn(spectrum * transfer, s=[x.shape[a] for a in axes], axes=axes).astype(x.dtype)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, axes_from: int = 1):
    """Stationary Gaussian random field: white noise smoothed by a Gaussian of ``sigma`` pixels
    (periodic boundaries), shifted and scaled to zero mean and unit standard deviation per field, float32.

    The first ``axes_from`` axes are batch axes (not smoothed), so a whole batch is one call. (The mean
    is removed first: for sigma comparable to the field size the smoothed noise is mostly its constant
    term, which the normalisation would otherwise blow up.)
    """
    field = gaussian_smooth_periodic(rng.standard_normal(shape, dtype=np.float32), sigma, axes_from)
    spatial = tuple(range(axes_from, len(shape)))
    field = field - field.mean(axis=spatial, keepdims=True)
    std = field.std(axis=spatial, keepdims=True)
    return field / np.maximum(std, 1e-12)


def inside_ellipsoids(grid, centres, semi_axes, rotations) -> np.ndarray:
    """Boolean (N, K, *spatial): is each grid point inside ellipsoid k of sample n?

    grid: open grids (one per axis, array order); centres, semi_axes: (N, K, d); rotations: (N, K, d, d).
    Computed in float32; callers chunk N to bound the (N, K, *spatial) temporaries.
    """
    d = len(grid)
    centres, semi_axes, rotations = (np.asarray(a, dtype=np.float32) for a in (centres, semi_axes, rotations))
    expand = (slice(None), slice(None)) + (None,) * d
    delta = [grid[a][None, None] - centres[expand + (a,)] for a in range(d)]
    q2 = 0.0
    for j in range(d):  # body coordinate j = sum_a R[a, j] delta_a
        qj = sum(rotations[expand + (a, j)] * delta[a] for a in range(d))
        q2 = q2 + (qj / semi_axes[expand + (j,)]) ** 2
    return q2 <= 1.0
