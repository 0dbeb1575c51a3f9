"""Indexing: x[key] with slices, integers, integer arrays and boolean masks; gather.

The backward of reading values is writing gradients back to where they were read. Integer
arrays may read the same element several times, so the gradients must be *added* into place
(a scatter-add), not assigned.
"""

from __future__ import annotations

from engine import backend
from engine.autograd import Function
from engine.tensor import Tensor


def _is_basic(key) -> bool:
    """True when the key holds only ints, slices, None and Ellipsis (no arrays): every element
    is then read at most once and a plain assignment is a correct (and faster) backward."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def _normalize_key(key, xp):
    """Tensors become arrays and boolean masks become integer index arrays (``nonzero``), so
    the backward can scatter-add with them."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for p in parts:
        if isinstance(p, Tensor):
            p = p.data
        if isinstance(p, list):
            p = xp.asarray(p)
        if backend.is_array(p) and p.dtype == bool:
            out.extend(xp.nonzero(p))
        else:
            out.append(p)
    return tuple(out) if isinstance(key, tuple) or len(out) > 1 else out[0]


class GetItem(Function):
    """y = x[key].   dL/dx is zero except at the read positions, which receive dL/dy (summed
    over repeats)."""

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        try:
            return x[self.key]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    def backward(self, gy):
        (x,) = self.inputs
        return IndexBackward(self.key, x.shape)(gy)


class IndexBackward(Function):
    """y = zeros(shape) with y[key] += g (the adjoint of GetItem).   dL/dg = (dL/dy)[key]."""

    def __init__(self, key, shape):
        self.key, self.shape = key, shape

    def forward(self, g):
        out = self.xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.key):
            out[self.key] = g
        else:
            backend.scatter_add(out, self.key, g)
        return out

    def backward(self, ggx):
        return GetItem(self.key)(ggx)


def getitem(x, key):
    key = _normalize_key(key, x._xp)
    return GetItem(key)(x)


class Gather(Function):
    """y[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (``torch.gather``): picks one element
    along ``dim`` for every position of ``index``.   dL/dx scatter-adds dL/dy back."""

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def forward(self, x):
        if self.index.ndim != x.ndim:
            raise ValueError(f"gather: index has {self.index.ndim} dims but input has {x.ndim} (shape {x.shape})")
        return self.xp.take_along_axis(x, self.index, axis=self.dim)

    def backward(self, gy):
        (x,) = self.inputs
        return GatherBackward(self.dim, self.index, x.shape)(gy)


class GatherBackward(Function):
    """y = zeros(shape); y[... index ...] += g along dim (the adjoint of Gather)."""

    def __init__(self, dim, index, shape):
        self.dim, self.index, self.shape = dim, index, shape

    def forward(self, g):
        xp = self.xp
        out = xp.zeros(self.shape, dtype=g.dtype)
        key = []
        for axis, n in enumerate(self.index.shape):
            if axis == self.dim:
                key.append(self.index)
            else:
                view = [1] * self.index.ndim
                view[axis] = n
                key.append(xp.arange(n).reshape(view))
        backend.scatter_add(out, tuple(key), g)
        return out

    def backward(self, ggx):
        return Gather(self.dim, self.index)(ggx)


def gather(x, dim, index):
    """Pick values along ``dim`` at ``index`` (an integer tensor of x's rank), as torch.gather."""
    if isinstance(index, Tensor):
        index = index.data
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {index.dtype}")
    dim = dim % x.ndim
    return Gather(dim, index)(x)
