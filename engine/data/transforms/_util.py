"""Small helpers shared by the transforms: parameter ranges, sizes, device moves, channel statistics."""

from __future__ import annotations

import numpy as np

from engine import backend


def to_range(value, name: str, who: str, around: float = 0.0,
             nonnegative: bool = False) -> tuple[float, float]:
    """A (low, high) range from a number v (meaning ``around - v .. around + v``) or a pair."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        v = float(value)
        if v < 0:
            raise ValueError(f"{who}: {name} must be >= 0 when given as one number, got {value}")
        low, high = around - v, around + v
    else:
        try:
            low, high = (float(x) for x in value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{who}: {name} must be a number or a (low, high) pair, got {value!r}") from exc
        if low > high:
            raise ValueError(f"{who}: {name} range must have low <= high, got ({low}, {high})")
    if nonnegative and low < 0:
        raise ValueError(f"{who}: {name} must be non-negative, got range ({low}, {high})")
    return low, high


def draw(rng: np.random.Generator, bounds: tuple[float, float], size=None):
    """Uniform draw(s) in [low, high] as Python float(s) (always consumes the generator, so the
    sequence of draws does not depend on whether a range happens to be degenerate)."""
    values = rng.uniform(bounds[0], bounds[1], size=size)
    return float(values) if size is None else [float(v) for v in values]


def parse_size(size, d: int, who: str) -> tuple[int, ...]:
    """An int (same for every spatial axis) or a sequence of d positive ints."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size),) * d
    size = tuple(int(s) for s in size)
    if len(size) != d or any(s <= 0 for s in size):
        raise ValueError(
            f"{who}: size must be a positive int or {d} positive ints for a {d}D image, got {size}"
        )
    return size


def spatial_shape(image) -> tuple[int, ...]:
    return tuple(image.shape[1:])


def like(host: np.ndarray, array):
    """A host array moved to ``array``'s device (the explicit transfer for host-drawn randomness)."""
    return backend.to_device(host, backend.device_of(array))


def as_float(x):
    """Intensity arithmetic needs floats: integer images become float32; floats keep their dtype."""
    xp = backend.get_array_module(x)
    return x if x.dtype.kind == "f" else x.astype(xp.float32)


def channel_stat(x, reduce, channel_wise: bool):
    """``reduce(flat, axis=1)`` per channel (or over all channels), shaped to broadcast against x.

    x: (C, *spatial). reduce: e.g. ``xp.mean``. Returns (C, 1, ..., 1) or (1, 1, ..., 1).
    Flattening first keeps to single-axis reductions, which every backend supports.
    """
    rows = x.shape[0] if channel_wise else 1
    flat = x.reshape(rows, -1)
    return reduce(flat, axis=1).reshape((rows,) + (1,) * (x.ndim - 1))
