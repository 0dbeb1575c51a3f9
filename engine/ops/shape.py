"""Shape operations: reshape, permute, broadcast, sum_to, concat, split, pad, flip, repeat.

None of them does arithmetic; each backward puts the gradient back where the values came
from (reshape it back, permute it back, sum what was repeated, slice what was padded).
"""

from __future__ import annotations

from engine.autograd import Function
from engine.ops._axes import normalize_axes
from engine.tensor import as_tensor


class Reshape(Function):
    """y = x viewed with another shape (same elements, same order).   dL/dx = reshape(dL/dy)."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) as {self.shape}"
            ) from None

    def backward(self, gy):
        return gy.reshape(self.x_shape)

    def backward_arrays(self, gy):
        return gy.reshape(self.x_shape)


class Permute(Function):
    """y = x with its axes reordered (y.shape[i] = x.shape[axes[i]]).   The gradient is permuted back."""

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.permute(*inverse)


class BroadcastTo(Function):
    """y = x repeated along new leading axes and axes of size 1 (NumPy broadcasting).

    Each x element is copied to several y elements, so dL/dx sums dL/dy over the copies.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return self.xp.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


class SumTo(Function):
    """y = x summed down to ``shape`` (the reverse of broadcasting).   dL/dx = broadcast(dL/dy)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = x.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1
        )
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return gy.broadcast_to(self.x_shape)


class Concat(Function):
    """y = the inputs joined along ``axis``.   Each input's gradient is its slice of dL/dy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return self.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        return Split(_offsets(self.sizes), self.axis)(gy)


class Split(Function):
    """ys = x cut along ``axis`` at the given offsets.   dL/dx = the pieces' gradients joined."""

    def __init__(self, offsets, axis):
        self.offsets, self.axis = list(offsets), axis

    def forward(self, x):
        return tuple(self.xp.split(x, self.offsets, axis=self.axis))

    def backward(self, *gys):
        return Concat(self.axis)(*gys)


class Pad(Function):
    """y = x surrounded by a constant.   dL/dx = the centre of dL/dy (the padding gets no gradient).

    pad_width: ((before, after), ...) per axis, as numpy.pad.
    """

    def __init__(self, pad_width, value=0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        return self.xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        key = tuple(slice(b, gy.shape[i] - a) for i, (b, a) in enumerate(self.pad_width))
        return gy[key]


class Flip(Function):
    """y = x reversed along axes.   dL/dx = dL/dy reversed the same way."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return self.xp.flip(x, axis=self.axes)

    def backward(self, gy):
        return Flip(self.axes)(gy)


class Tile(Function):
    """y = x tiled ``reps`` times along each axis (``torch.Tensor.repeat``, ``numpy.tile``).

    Every x element appears prod(reps) times, so dL/dx sums those copies: view dL/dy as
    (r0, s0, r1, s1, ...) and sum over the r axes.
    """

    def __init__(self, reps):
        self.reps = tuple(reps)

    def forward(self, x):
        self.x_shape = (1,) * (len(self.reps) - x.ndim) + x.shape
        return self.xp.tile(x.reshape(self.x_shape), self.reps)

    def backward(self, gy):
        (x,) = self.inputs
        split_shape = []
        for r, s in zip(self.reps, self.x_shape):
            split_shape += [r, s]
        g = gy.reshape(split_shape).sum(dim=tuple(range(0, 2 * len(self.reps), 2)))
        return g.reshape(x.shape)


def _offsets(sizes):
    out, total = [], 0
    for s in sizes[:-1]:
        total += s
        out.append(total)
    return out


# --- function forms (PyTorch names) ------------------------------------------------------------
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    """A tensor with the same elements in ``shape`` (one entry may be -1). ``view`` is the same
    operation here: NumPy arrays need no contiguity check."""
    shape = _shape_arg(shape)
    if tuple(shape) == x.shape:
        return x
    return Reshape(shape)(x)


view = reshape


def permute(x, *dims):
    dims = _shape_arg(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dimensions of shape {x.shape}")
    return Permute(tuple(d % x.ndim for d in dims))(x)


def transpose(x, dim0, dim1):
    """Swap two dimensions (PyTorch semantics; for NumPy's full reversal use ``x.T``)."""
    axes = list(range(x.ndim))
    d0, d1 = normalize_axes(dim0, x.ndim, "transpose")[0], normalize_axes(dim1, x.ndim, "transpose")[0]
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute(axes)(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s = start_dim % x.ndim
    e = end_dim % x.ndim
    n = 1
    for d in x.shape[s : e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1 :])


def squeeze(x, dim=None):
    """Remove dimensions of size 1 (only ``dim`` when given; a no-op if it is not of size 1)."""
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = normalize_axes(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return reshape(x, shape)


def unsqueeze(x, dim):
    """Insert a dimension of size 1 at ``dim`` (negative counts from the end of the result)."""
    d = dim % (x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def broadcast_to(x, *shape):
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return BroadcastTo(shape)(x)


def expand(x, *sizes):
    """``torch.Tensor.expand``: broadcast to ``sizes``, where -1 keeps a dimension's size."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``, undoing broadcasting (used by the engine after backward)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != xs for s, xs in zip(shape, x.shape[lead:])):
        raise ValueError(f"sum_to: cannot sum shape {x.shape} down to {shape}")
    return SumTo(shape)(x)


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing dimension. Alias: concat."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    d = axis if axis is not None else dim
    ref = tensors[0]
    tensors = [as_tensor(t, like=ref) for t in tensors]
    ndim = tensors[0].ndim
    d = normalize_axes(d, ndim, "cat")[0]
    for t in tensors:
        if t.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != d):
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"cat: shapes {shapes} differ outside dimension {d}")
    if len(tensors) == 1:
        return tensors[0]
    return Concat(d)(*tensors)


concat = cat
concatenate = cat


def stack(tensors, dim=0, *, axis=None):
    """Join tensors of equal shape along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    d = axis if axis is not None else dim
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return cat([unsqueeze(t, d) for t in tensors], dim=d)


def split(x, split_size_or_sections, dim=0):
    """Cut along ``dim`` into pieces of size ``split_size`` (an int, the last piece may be
    smaller) or of the listed sizes, as ``torch.split``."""
    d = normalize_axes(dim, x.ndim, "split")[0]
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split size must be positive, got {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} (dimension {d} of shape {x.shape})")
    if len(sizes) == 1:
        return (x,)
    return Split(_offsets(sizes), d)(x)


def chunk(x, chunks, dim=0):
    """Cut into ``chunks`` nearly equal pieces (as ``torch.chunk``)."""
    n = x.shape[dim]
    size = -(-n // chunks)
    return split(x, size, dim)


def pad(x, pad, mode="constant", value=0.0):
    """Pad with a constant, ``torch.nn.functional.pad`` style: ``pad`` lists (before, after)
    pairs starting from the LAST dimension, e.g. (left, right, top, bottom) for an image."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {pad} must have an even length of at most 2*{x.ndim}")
    width = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        before, after = pad[2 * i], pad[2 * i + 1]
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative padding {pad} is not supported")
        width[x.ndim - 1 - i] = (int(before), int(after))
    return Pad(tuple(width), value)(x)


def flip(x, dims):
    dims = normalize_axes(dims, x.ndim, "flip")
    return Flip(dims)(x)


def repeat(x, *repeats):
    """Tile the tensor (``torch.Tensor.repeat``, which is ``numpy.tile``, not ``numpy.repeat``)."""
    reps = _shape_arg(repeats)
    if len(reps) < x.ndim:
        raise ValueError(f"repeat: need at least {x.ndim} repeat counts for shape {x.shape}, got {reps}")
    return Tile(reps)(x)

