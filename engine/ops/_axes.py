"""Argument helpers shared by reductions and shape ops: PyTorch's dim=/keepdim= with NumPy aliases."""

from __future__ import annotations


def resolve_dim(dim, axis, op: str):
    """Accept ``dim`` (PyTorch) or ``axis`` (NumPy), not both."""
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: pass dim= or axis=, not both")
    return dim if dim is not None else axis


def normalize_axes(dim, ndim: int, op: str):
    """``None`` -> None (all axes); an int or sequence -> a sorted tuple of non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{op}: dimension {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated dimension in {dim}")
    return tuple(sorted(out))


def keep_shape(shape, axes):
    """The shape a reduction over ``axes`` has with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))
