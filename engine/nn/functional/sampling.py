"""Sampling an image at arbitrary points: ``grid_sample`` and ``affine_grid`` (spatial transformers).

``grid_sample(input, grid)`` reads ``input`` (N, C, H, W) at the points of ``grid`` (N, H', W', 2)
and returns (N, C, H', W'); in 3-D, input (N, C, D, H, W) and grid (N, D', H', W', 3). The grid
holds normalised coordinates, PyTorch's convention: the last axis is (x, y[, z]) = (width, height
[, depth]), i.e. the array axes in *reverse* order, and -1 / +1 are the two ends of each axis:

    align_corners=True    pixel = (g + 1) / 2 * (size - 1)      (-1, +1 = centres of the corner pixels)
    align_corners=False   pixel = ((g + 1) * size - 1) / 2      (-1, +1 = outer edges of the corner pixels)

Padding (what a point outside the image reads):
    zeros       taps outside the image read 0;
    border      the coordinate is clamped to [0, size - 1] (the edge value is repeated);
    reflection  the coordinate is reflected about the image edges (about the corner pixel centres
                with align_corners=True, about the outer edges otherwise), then clamped.
Both clamping and reflecting are piecewise-linear maps p -> a p + b with slope a in {-1, 0, +1};
their derivative is that slope (0 where clamped, as PyTorch takes it, including at the border itself).

Bilinear (trilinear in 3-D) sampling at p = (p_0, ..., p_{d-1}) with i = floor(p), t = p - i:

    out = sum over the 2^d corners k in {0, 1}^d of  w_k(t) * input[i + k],
    w_k(t) = prod over axes a of (t_a if k_a = 1 else 1 - t_a).

That is why a spatial transformer can learn: out is linear in the input (dout/dinput[i + k] = w_k,
so the input gradient scatters dL/dout * w_k back to the corners) and piecewise *bilinear* in the
coordinates, with, in 2-D,

    dout/dp_x = (1 - t_y) (I[y0, x1] - I[y0, x0]) + t_y (I[y1, x1] - I[y1, x0]),

a finite-difference image gradient blended by the other weight (and symmetrically for p_y). The
chain rule through the normalisation adds the factor dp/dg = (size - 1) / 2 or size / 2.
Nearest sampling reads input[round(p)] (round half to even, as PyTorch); its gradient with respect
to the grid is zero.

Implementation, two twins (the style of the engine: a readable reference and a fast op that must agree):
``grid_sample_reference`` composes differentiable engine operations around one primitive pair,
``GatherPoints`` (read given flat positions) and its adjoint ``ScatterPoints`` (add values into given
positions); the corner positions and validity masks are integer/boolean constants and the weights Tensors
built from the grid, so derivatives of every order come from the chain rule. ``grid_sample`` runs the fused
``GridSample`` op: the same arithmetic in one pass on arrays, a hand-written first-order backward
(``backward_arrays``: one bincount scatter for the input, the weight derivatives above for the grid), and, when
a graph of the backward is wanted (create_graph=True), the derivative of the reference. No Python loop runs
over pixels (the loops are over the 2^d corners and the d axes).
"""

from __future__ import annotations

import itertools

from engine.autograd import Function
from engine.ops.shape import stack
from engine.tensor import Tensor

__all__ = ["grid_sample", "grid_sample_reference", "affine_grid", "flow_to_grid", "warp", "compose_flows",
           "integrate_velocity", "GridSample", "GatherPoints", "ScatterPoints"]

_MODES = ("bilinear", "nearest")
_PADDING = ("zeros", "border", "reflection")


# --------------------------------------------------------------------------------------------
# The primitive: read values at flat positions, and its adjoint
# --------------------------------------------------------------------------------------------
class GatherPoints(Function):
    """y[n, c, q] = x[n, c, index[n, q]].   x: (N, C, S), index: (N, Q) integers -> y: (N, C, Q).

    dL/dx[n, c, s] = sum over the q with index[n, q] = s of dL/dy[n, c, q]: the adjoint map,
    ScatterPoints (positions read several times add up their gradients).
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return self.xp.take_along_axis(x, self.index[:, None, :], axis=2)

    def backward(self, gy):
        return ScatterPoints(self.index, self.inputs[0].shape[2])(gy)


class ScatterPoints(Function):
    """y = zeros(N, C, S); y[n, c, index[n, q]] += g[n, c, q].   g: (N, C, Q) -> y: (N, C, S).

    Linear, and the adjoint of GatherPoints: dL/dg = GatherPoints(index)(dL/dy). The additions
    are one ``bincount`` over flat positions (repeated positions accumulate, and bincount is much
    faster than ``add.at`` in NumPy); it sums in float64, and the result is cast back to g's dtype.
    """

    def __init__(self, index, size):
        self.index, self.size = index, size

    def forward(self, g):
        return _scatter_points(g, self.index, self.size, self.xp)

    def backward(self, ggx):
        return GatherPoints(self.index)(ggx)


def _scatter_points(g, index, size, xp):
    """zeros (N, C, size) with g (N, C, Q) added at index (N, Q) along the last axis: one bincount."""
    n, c, _ = g.shape
    rows = xp.arange(n * c, dtype=index.dtype).reshape(n, c, 1)
    flat = (rows * size + index[:, None, :]).ravel()
    total = xp.bincount(flat, weights=g.ravel(), minlength=n * c * size)
    return total.astype(g.dtype).reshape(n, c, size)


# --------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------
def _unnormalize(g: Tensor, size: int, align_corners: bool) -> Tensor:
    """Normalised coordinate in [-1, 1] -> pixel coordinate, in PyTorch's order of operations
    (so float32 results agree to the last bit or two)."""
    if align_corners:
        return (g + 1.0) / 2.0 * float(size - 1)
    return ((g + 1.0) * float(size) - 1.0) / 2.0


def _reflect(p, twice_low: int, twice_high: int, xp):
    """Reflect raw coordinates p into [low, high] (given doubled, to allow half pixels).

    Returns (reflected, slope): slope = d reflected / d p, +1 or -1.
    """
    if twice_low == twice_high:  # a one-pixel axis with align_corners=True: everything maps to 0
        return xp.zeros_like(p), xp.zeros_like(p)
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    p = p - low
    sign = xp.where(p < 0, -1.0, 1.0).astype(p.dtype)
    p = xp.abs(p)
    extra = xp.fmod(p, span)
    even = xp.floor(p / span) % 2 == 0
    reflected = xp.where(even, extra + low, span - extra + low).astype(p.dtype)
    return reflected, xp.where(even, sign, -sign).astype(p.dtype)


def _fold(raw, size: int, padding_mode: str, align_corners: bool, xp):
    """Border/reflection padding of raw pixel coordinates: (folded, slope), slope = d folded / d raw
    (+1, -1, or 0 where clamped; the border itself counts as clamped, as in PyTorch)."""
    slope = xp.ones_like(raw)
    if padding_mode == "zeros":
        return raw, slope
    if padding_mode == "reflection":
        if align_corners:
            raw, slope = _reflect(raw, 0, 2 * (size - 1), xp)
        else:
            raw, slope = _reflect(raw, -1, 2 * size - 1, xp)
    inside = (raw > 0) & (raw < size - 1)
    return xp.clip(raw, 0, size - 1), slope * inside.astype(raw.dtype)


def _pad_coordinate(p: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Apply border/reflection padding to pixel coordinates p (N, *out) as a piecewise-linear map.

    The folded value and its slope are computed on raw arrays; the Tensor result is
    p * slope + (folded - p * slope), whose constant part carries no gradient, so
    d result / d p = slope exactly (0 where clamped).
    """
    if padding_mode == "zeros":
        return p
    folded, slope = _fold(p.data, size, padding_mode, align_corners, p._xp)
    return p * Tensor(slope) + Tensor(folded - p.data * slope)


def _corner_taps(coords, sizes, mode):
    """The taps of every output point: for each one, (flat index (N, Q), valid mask (N, Q), weight).

    coords: per array axis, pixel coordinates (N, Q) as Tensors; weight is a Tensor (N, Q) or None
    (weight 1). Corners outside the image get a clamped index (so the read is legal) and valid=False.
    """
    xp = coords[0]._xp
    if mode == "nearest":
        per_axis = [[(xp.rint(c.data).astype(xp.int64), None)] for c in coords]
    else:
        per_axis = []
        for c in coords:
            low = xp.floor(c.data)
            t = c - Tensor(low)  # the fractional part, differentiable in the coordinate
            low = low.astype(xp.int64)
            per_axis.append([(low, 1.0 - t), (low + 1, t)])
    taps = []
    for choice in itertools.product(*per_axis):
        flat, valid, weight = None, None, None
        for (index, w), size in zip(choice, sizes):
            ok = (index >= 0) & (index < size)
            index = xp.clip(index, 0, size - 1)
            flat = index if flat is None else flat * size + index
            valid = ok if valid is None else valid & ok
            if w is not None:
                weight = w if weight is None else weight * w
        taps.append((flat, valid, weight))
    return taps


def _check_grid_sample(input, grid, mode, padding_mode, op="grid_sample"):
    """Refuse bad arguments with a message naming the op and the shapes."""
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor):
        raise TypeError(f"{op}: input and grid must be Tensors, got {type(input).__name__} and {type(grid).__name__}")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {_MODES}, got {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"{op}: padding_mode must be one of {_PADDING}, got {padding_mode!r}")
    nd = input.ndim - 2
    if nd not in (2, 3):
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got shape {tuple(input.shape)}")
    if grid.ndim != nd + 2 or grid.shape[-1] != nd or grid.shape[0] != input.shape[0]:
        raise ValueError(
            f"{op}: for input of shape {tuple(input.shape)} the grid must be (N, *out, {nd}) with N = "
            f"{input.shape[0]} and {nd} output axes, got shape {tuple(grid.shape)}"
        )
    if input.dtype.kind != "f" or grid.dtype != input.dtype:
        raise TypeError(f"{op}: input and grid must have the same floating dtype, got {input.dtype} and {grid.dtype}")


def grid_sample_reference(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """grid_sample composed of engine operations around GatherPoints: the readable twin of the fused
    ``GridSample`` (same arguments and results), and its differentiable backward (any order)."""
    _check_grid_sample(input, grid, mode, padding_mode)
    nd = input.ndim - 2
    n, c, *sizes = input.shape
    out_shape = tuple(grid.shape[1:-1])
    points = grid.reshape(n, -1, nd)  # (N, Q, d)
    # pixel coordinate along each array axis; the grid lists the axes in reverse (x = last axis)
    coords = []
    for axis, size in enumerate(sizes):
        p = _unnormalize(points[:, :, nd - 1 - axis], size, align_corners)
        coords.append(_pad_coordinate(p, size, padding_mode, align_corners))
    taps = _corner_taps(coords, sizes, mode)
    index = input._xp.concatenate([flat for flat, _, _ in taps], axis=1)  # (N, T * Q)
    weights = []
    for _, valid, weight in taps:
        mask = Tensor(valid.astype(input.dtype))
        # a nearest tap has weight 1: multiply a zero-gradient term in so the output still depends on
        # the grid in the graph (its gradient is exactly zero, as in PyTorch)
        weights.append(mask * weight if weight is not None else mask + coords[0] * 0.0)
    w = stack(weights, dim=1).unsqueeze(1)  # (N, 1, T, Q)
    values = GatherPoints(index)(input.reshape(n, c, -1))  # (N, C, T * Q)
    out = (values.reshape(n, c, len(taps), -1) * w).sum(axis=2)
    return out.reshape(n, c, *out_shape)


class GridSample(Function):
    """out[n, c, q] = sum over taps t of w_t[n, q] * input[n, c, idx_t[n, q]], fused on raw arrays.

    input: (N, C, *in), grid: (N, *out, d) -> (N, C, *out). The same mathematics as grid_sample_reference,
    computed in one pass without the Tensor bookkeeping (the tap weights and positions are computed once and
    kept for the backward). First-order backward on arrays (``backward_arrays``):

        dL/dinput[n, c, s] = sum over (t, q) with idx_t[n, q] = s of w_t[n, q] dL/dout[n, c, q]   (one bincount)
        dL/dp_a[n, q] = sum_c dL/dout[n, c, q] * sum_t (dw_t / dp_a)[n, q] * input[n, c, idx_t[n, q]],
        dw_t / dp_a = valid_t * (+1 if tap t is the upper neighbour along a else -1) * prod_{b != a} f_{t, b}

    then dL/dgrid through the padding slope and the normalisation factor. The differentiable ``backward``
    (create_graph=True) is the derivative of the composed reference (engine.autograd.derivative_of).
    """

    def __init__(self, mode, padding_mode, align_corners):
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners

    def forward(self, x, grid):
        xp = self.xp
        n, c, *sizes = x.shape
        d = len(sizes)
        points = grid.reshape(n, -1, d)
        strides = [1] * d
        for axis in range(d - 2, -1, -1):
            strides[axis] = strides[axis + 1] * sizes[axis + 1]
        # per axis, the one or two neighbours: (stride * clamped index, in-bounds mask or None, masked factor,
        # sign of d factor / d p); computed once per axis, shared by the 2^d corners
        sides, self.chain = [], []
        for axis, size in enumerate(sizes):
            g = points[:, :, d - 1 - axis]
            if self.align_corners:
                raw, scale = (g + 1.0) / 2.0 * float(size - 1), (size - 1) / 2.0
            else:
                raw, scale = ((g + 1.0) * float(size) - 1.0) / 2.0, size / 2.0
            p, slope = _fold(raw, size, self.padding_mode, self.align_corners, xp)
            self.chain.append(slope * scale)  # d p / d grid component
            if self.mode == "nearest":
                candidates = [(xp.rint(p).astype(xp.int64), None, None)]
            else:
                low = xp.floor(p)
                t = p - low
                low = low.astype(xp.int64)
                candidates = [(low, 1.0 - t, -1.0), (low + 1, t, 1.0)]
            axis_sides = []
            for index, factor, sign in candidates:
                ok = None
                if self.padding_mode == "zeros":  # folded coordinates never leave [0, size - 1]
                    ok = ((index >= 0) & (index < size)).astype(x.dtype)
                    factor = ok if factor is None else factor * ok
                axis_sides.append((xp.clip(index, 0, size - 1) * strides[axis], ok, factor, sign))
            sides.append(axis_sides)
        flats, weights, self.taps = [], [], []
        for choice in itertools.product(*sides):
            flat = choice[0][0]
            for side in choice[1:]:
                flat = flat + side[0]
            weight = None
            for _, _, factor, _ in choice:
                if factor is not None:
                    weight = factor if weight is None else weight * factor
            flats.append(flat)
            weights.append(xp.ones(flat.shape, dtype=x.dtype) if weight is None else weight)
            self.taps.append(choice)
        self.index = xp.concatenate(flats, axis=1)  # (N, T * Q)
        self.weight = xp.stack(weights, axis=1)  # (N, T, Q)
        q = points.shape[1]
        spatial = x[0, 0].size
        rows = xp.arange(n * c, dtype=self.index.dtype).reshape(n, c, 1) * spatial
        self.values = x.reshape(-1).take(rows + self.index[:, None, :]).reshape(n, c, -1, q)  # (N, C, T, Q)
        out = (self.values * self.weight[:, None]).sum(axis=2)
        return out.reshape(n, c, *grid.shape[1:-1])

    def backward_arrays(self, gy):
        xp = self.xp
        x, grid = self.inputs
        n, c = gy.shape[:2]
        g = gy.reshape(n, c, 1, -1)
        gx = None
        if x.requires_grad:
            contributions = (g * self.weight[:, None]).reshape(n, c, -1)  # (N, C, T * Q), aligned with index
            gx = _scatter_points(contributions, self.index, x.data[0, 0].size, xp).reshape(x.shape)
        ggrid = None
        if grid.requires_grad:
            d = len(self.chain)
            if self.mode == "nearest":
                ggrid = xp.zeros(grid.shape, dtype=gy.dtype)
            else:
                seen = (g * self.values).sum(axis=1)  # (N, T, Q): dL/dout . input at each tap
                comps = []
                for axis in range(d):
                    total = None
                    for t, choice in enumerate(self.taps):
                        # d w_t / d p_axis = sign * in-bounds(axis) * prod over the other axes of their factors
                        _, ok, _, sign = choice[axis]
                        dw = seen[:, t] if ok is None else seen[:, t] * ok
                        for b, (_, _, factor, _) in enumerate(choice):
                            if b != axis:
                                dw = dw * factor
                        total = dw * sign if total is None else total + dw * sign
                    comps.append(total * self.chain[axis])
                ggrid = xp.stack(comps[::-1], axis=-1).reshape(grid.shape)  # grid order (x, y[, z])
        return gx, ggrid

    def backward(self, gy):
        from engine.autograd import derivative_of

        def reference(x, grid):
            return grid_sample_reference(x, grid, self.mode, self.padding_mode, self.align_corners)

        return derivative_of(reference, self.inputs, (gy,))


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Sample ``input`` at the normalised points ``grid`` (``torch.nn.functional.grid_sample``).

    input: (N, C, H_in, W_in) or (N, C, D_in, H_in, W_in), floating point.
    grid:  (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3), same dtype and device; last axis
           (x, y[, z]) in [-1, 1] (see the module docstring).
    mode: 'bilinear' (trilinear for 5-D input) or 'nearest'; padding_mode: 'zeros', 'border' or
    'reflection'; align_corners: how [-1, 1] maps to pixels.
    Returns (N, C, H_out, W_out) or (N, C, D_out, H_out, W_out). Differentiable with respect to
    both input and grid, to any order. PyTorch's 'bicubic' mode is not implemented.
    """
    _check_grid_sample(input, grid, mode, padding_mode)
    return GridSample(mode, padding_mode, bool(align_corners))(input, grid)


def affine_grid(theta, size, align_corners=False):
    """The sampling grid of an affine map (``torch.nn.functional.affine_grid``).

    theta: (N, 2, 3) for size (N, C, H, W), or (N, 3, 4) for size (N, C, D, H, W); it maps an
    output point (x, y[, z], 1) in normalised coordinates to the input point to read.
    Returns grid (N, H, W, 2) or (N, D, H, W, 3) for grid_sample (same align_corners).
    Differentiable with respect to theta.
    """
    op = "affine_grid"
    if not isinstance(theta, Tensor):
        raise TypeError(f"{op}: theta must be a Tensor, got {type(theta).__name__}")
    size = tuple(int(s) for s in size)
    nd = len(size) - 2
    if nd not in (2, 3) or theta.shape != (size[0], nd, nd + 1) or theta.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected size (N, C, H, W) with theta (N, 2, 3) or (N, C, D, H, W) with theta (N, 3, 4) "
            f"(floating), got size {size} and theta {tuple(theta.shape)} {theta.dtype}"
        )
    xp = theta._xp
    spatial = size[2:]

    def axis_points(s):
        if s == 1:
            return xp.zeros(1, dtype=theta.dtype)
        line = xp.linspace(-1.0, 1.0, s, dtype=theta.dtype)
        return line if align_corners else line * ((s - 1) / s)

    mesh = xp.meshgrid(*[axis_points(s) for s in spatial], indexing="ij")  # array-axis order
    ones = xp.ones(spatial, dtype=theta.dtype)
    base = xp.stack([*reversed(mesh), ones], axis=-1).reshape(-1, nd + 1)  # (Q, d + 1), rows (x, y[, z], 1)
    grid = Tensor(base) @ theta.mT  # (N, Q, d)
    return grid.reshape(size[0], *spatial, nd)


# --------------------------------------------------------------------------------------------
# Dense displacement fields (registration)
# --------------------------------------------------------------------------------------------
def _check_flow(flow, op, image=None):
    if not isinstance(flow, Tensor):
        raise TypeError(f"{op}: flow must be a Tensor, got {type(flow).__name__}")
    nd = flow.ndim - 2
    if nd not in (2, 3) or flow.shape[1] != nd:
        raise ValueError(f"{op}: flow must be (N, 2, H, W) or (N, 3, D, H, W), got shape {tuple(flow.shape)}")
    if image is not None and (image.ndim != flow.ndim or image.shape[0] not in (1, flow.shape[0])
                              or tuple(image.shape[2:]) != tuple(flow.shape[2:])):
        raise ValueError(
            f"{op}: image {tuple(image.shape)} and flow {tuple(flow.shape)} must share N and the spatial "
            f"shape (image (N, C, *spatial), flow (N, {nd}, *spatial))"
        )
    return nd


def flow_to_grid(flow):
    """Displacement in voxels -> grid_sample grid (align_corners=True).

    flow: (N, d, *spatial), flow[:, a] the displacement along array axis a (rows first), so that the
    point read for voxel x is x + flow(x). Returns (N, *spatial, d) normalised, last axis (x, y[, z]):
        g_a = 2 (x_a + flow_a(x)) / (size_a - 1) - 1.
    """
    nd = _check_flow(flow, "flow_to_grid")
    xp = flow._xp
    sizes = flow.shape[2:]
    mesh = xp.meshgrid(*[xp.arange(s, dtype=flow.dtype) for s in sizes], indexing="ij")
    comps = []
    for a in reversed(range(nd)):  # grid order (x, y[, z]) = array axes reversed
        scale = 2.0 / max(sizes[a] - 1, 1)
        comps.append((flow[:, a] + Tensor(mesh[a])) * scale - 1.0)
    return stack(comps, dim=-1)


def warp(image, flow, mode="bilinear", padding_mode="border"):
    """warped(x) = image(x + flow(x)): pull back ``image`` through a dense displacement (VoxelMorph's
    spatial transformer; MONAI's ``Warp``).

    image: (N, C, *spatial) (or N = 1 with a batch of flows); flow: (N, d, *spatial) in voxels, array-axis
    order (see flow_to_grid). padding_mode 'border' (default, as MONAI) repeats the edge for points that
    leave the image. Differentiable with respect to the image and the flow.
    """
    _check_flow(flow, "warp", image)
    if image.shape[0] != flow.shape[0]:
        image = image.expand(flow.shape[0], *image.shape[1:])
    return grid_sample(image, flow_to_grid(flow), mode=mode, padding_mode=padding_mode, align_corners=True)


def compose_flows(first, second):
    """The displacement of "warp by ``first``, then by ``second``":

        warp(warp(I, first), second) = warp(I, w),   w(x) = second(x) + first(x + second(x)),

    with ``first`` resampled linearly at the displaced points. first, second: (N, d, *spatial).
    """
    _check_flow(first, "compose_flows", second)
    return second + warp(first, second)


def integrate_velocity(velocity, steps=7):
    """Scaling and squaring (Arsigny et al. 2006; VoxelMorph-diff): the displacement of exp(v).

    A stationary velocity field v (N, d, *spatial) in voxels generates the flow phi_1 of
    d phi_t / dt = v(phi_t). With phi_{1/2^T} ~ id + v / 2^T and phi_{2s} = phi_s o phi_s,
    T squarings give phi_1: u <- v / 2^T, then T times u <- u + u o (id + u) (compose_flows(u, u)).
    Smooth small steps compose into a map that is (up to interpolation) invertible: no folding.
    steps = 0 returns v itself (a plain displacement).
    """
    _check_flow(velocity, "integrate_velocity")
    if steps < 0:
        raise ValueError(f"integrate_velocity: steps must be >= 0, got {steps}")
    u = velocity * (1.0 / 2**steps)
    for _ in range(steps):
        u = compose_flows(u, u)
    return u
