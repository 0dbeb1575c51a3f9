"""Convolution and transposed convolution in 1, 2 and 3 dimensions (torch.nn.functional names).

The model (cross-correlation, as every deep-learning library computes it): for output channel
o of group g, output position i (a tuple of spatial indices),

    y[n, o, i] = b[o] + sum_{c in group g} sum_{k}  w[o, c, k] * xpad[n, c, i*s + k*d]

with s the stride, d the dilation, k ranging over the kernel offsets and xpad the input padded
with zeros. Output size per axis: out = floor((in + pad_before + pad_after - d*(k-1) - 1) / s) + 1
(Goodfellow et al. 2016, "Deep Learning", ch. 9; Dumoulin & Visin 2016, "A guide to
convolution arithmetic for deep learning").

How it is computed (one N-d implementation serves conv1d/2d/3d), with K = prod(kernel) and
P = prod(out), channel-major so that the whole batch is ONE matrix product per group:

    cols = im2col(xpad)       (C, *kernel, N, *out), viewed as (G, C/G * K, N * P)
    y    = W @ cols           W: (G, O/G, C/G * K)  ->  (G, O/G, N * P) = (O, N, *out)

and y is handed out as an (N, O, *out) view of that memory (no transposing copy). The
backward pass is two more products:

    dL/dW    = dL/dy @ cols^T               (the saved columns; computed as (cols @ dL/dy^T)^T,
                                             the operand order OpenBLAS runs fastest)
    dL/dcols = W^T @ dL/dy,   dL/dx = col2im(dL/dcols), cropped to the unpadded input.

Measured against PyTorch 2.13 on the CPU (oneDNN's direct kernels), each in its own process
with 2 threads (benchmarks/run.py, README "Performance"): forward + backward of a 3x3 32 -> 64
convolution on a (32, 32, 64, 64) batch takes 2.4x as long. The three products alone take longer
than PyTorch's whole layer (the benchmark's ``gemm_conv`` case): the GEMMs of this layout, with
few output rows, reach 0.3-0.6 of the BLAS's square-matrix speed, and the im2col/col2im copies
add to them (they run split over the cores, engine/parallel.py).
Tried and slower here (README "Performance"): Winograd F(2x2, 3x3) in NumPy. dL/dx of a stride-1
layer computed as a forward convolution of dL/dy is slower for that 32 -> 64 layer, but faster
where a layer has no more output than input channels: it is used there
(``ConvNd._input_grad_as_convolution``).

A transposed convolution (``conv_transpose``) is the adjoint of a convolution: its forward is
a convolution's input gradient (col2im of W^T x) and its backward a convolution's forward.
It maps each input pixel to a k x k patch of the output, which is why it upsamples.

Memory: see engine/nn/functional/_im2col.py. The batch is unfolded in chunks of samples whose
columns fit UNFOLD_BUDGET_BYTES (64 MB); the columns are kept for backward when they total at
most KEEP_COLUMNS_BYTES (32 MB), and recomputed chunk by chunk in backward otherwise.

Two ways to read it. ``conv2d_naive`` below computes the forward pass with explicit loops.
``engine.nn.functional.reference.conv_reference`` computes it as ``W @ unfold(x)`` with engine
operations, so its backward can be followed too: it is the differentiable ``backward`` of the
fast Function below, ``conv_input_grad`` (a transposed convolution) plus ``conv_weight_grad``
(dL/dy @ unfold(x)^T). The array code above is ``backward_arrays``, used when no graph is built.
"""

from __future__ import annotations

from engine.autograd import Function
from engine.backend import get_array_module
from engine.nn.functional import _im2col as im2col
from engine.nn.functional._im2col import conv_output_size, ntuple
from engine.nn.functional.fold import Unfold
from engine.parallel import add_per_row, sum_per_row
from engine.tensor import Tensor, as_tensor

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv2d_naive",
    "conv_output_size",
    "conv_transpose_output_size",
    "conv_input_grad",
    "conv_weight_grad",
]

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------
def expected_shape(nd: int) -> str:
    return f"(N, C, {_SPATIAL[nd]})"


def conv_padding(padding, kernel, stride, dilation, op: str) -> tuple:
    """Padding as ((before, after), ...) per spatial axis.

    'valid' is no padding; 'same' pads d*(k-1) in total, the extra element (even kernels) after,
    as PyTorch, so that out = in for stride 1.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions (stride={stride}); "
                    f"PyTorch refuses it too. Give the padding explicitly"
                )
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    values = ntuple(padding, n, "padding", op)
    if any(p < 0 for p in values):
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple((p, p) for p in values)


def conv_transpose_output_size(in_size, kernel, stride, padding, output_padding, dilation) -> tuple:
    """out = (in - 1) * s - 2p + d*(k-1) + output_padding + 1 per spatial axis."""
    return tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, k, s, p, op, d in zip(in_size, kernel, stride, padding, output_padding, dilation)
    )


def _positive(values, what, op):
    if any(v < 1 for v in values):
        raise ValueError(f"{op}: {what} must be positive, got {values}")


def _check_common(x, w, b, nd, groups, op, transposed):
    """Rank, dtype, channel and group checks shared by convolution and transposed convolution."""
    if not isinstance(x, Tensor) or not isinstance(w, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(x).__name__} and {type(w).__name__}")
    if x.ndim != nd + 2:
        raise ValueError(
            f"{op}: expected a {nd + 2}-D input of shape {expected_shape(nd)}, got a {x.ndim}-D tensor of "
            f"shape {tuple(x.shape)}" + (" (add the batch axis with x.unsqueeze(0))" if x.ndim == nd + 1 else "")
        )
    layout = f"(in_channels, out_channels/groups, {_SPATIAL[nd]})" if transposed else \
        f"(out_channels, in_channels/groups, {_SPATIAL[nd]})"
    if w.ndim != nd + 2:
        raise ValueError(f"{op}: expected a {nd + 2}-D weight {layout}, got shape {tuple(w.shape)}")
    if x.dtype.kind != "f" or x.dtype != w.dtype:
        raise TypeError(
            f"{op}: input ({x.dtype}) and weight ({w.dtype}) must have the same floating-point dtype"
        )
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    if transposed:
        c_in, c_out = w.shape[0], w.shape[1] * groups
        if c_in % groups:
            raise ValueError(f"{op}: in_channels={c_in} (weight {tuple(w.shape)}) is not divisible by groups={groups}")
        if c != c_in:
            raise ValueError(
                f"{op}: input has {c} channels (shape {tuple(x.shape)}) but the weight {tuple(w.shape)} "
                f"{layout} expects {c_in}"
            )
    else:
        c_out = w.shape[0]
        if c_out % groups:
            raise ValueError(
                f"{op}: out_channels={c_out} (weight {tuple(w.shape)}) is not divisible by groups={groups}"
            )
        if c % groups:
            raise ValueError(f"{op}: in_channels={c} (input {tuple(x.shape)}) is not divisible by groups={groups}")
        if c != w.shape[1] * groups:
            raise ValueError(
                f"{op}: input has {c} channels (shape {tuple(x.shape)}) but the weight {tuple(w.shape)} "
                f"{layout} with groups={groups} expects {w.shape[1] * groups}"
            )
    if b is not None:
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}: bias must be a Tensor or None, got {type(b).__name__}")
        if tuple(b.shape) != (c_out,):
            raise ValueError(f"{op}: bias must have shape ({c_out},) (one per output channel), got {tuple(b.shape)}")
        if b.dtype != x.dtype:
            raise TypeError(f"{op}: bias dtype {b.dtype} differs from the input dtype {x.dtype}")


# --------------------------------------------------------------------------------------------
# The differentiable functions
# --------------------------------------------------------------------------------------------
class ConvNd(Function):
    """y = conv(x, W) + b, computed as W @ im2col(x) (see the module docstring).

    x: (N, C, *in), W: (O, C/G, *k), b: (O,) -> y: (N, O, *out).
    dL/db = sum of dL/dy over batch and space; dL/dW = dL/dy @ cols^T; dL/dx = col2im(W^T @ dL/dy).

    ``backward`` (differentiable) says it with Functions: dL/dx is the transposed convolution of
    dL/dy (``conv_input_grad``) and dL/dW the product of dL/dy with ``unfold(x)``
    (``conv_weight_grad``). ``backward_arrays`` is the same arithmetic, tuned, on arrays.

    Internally everything is channel-major, (C, N, *spatial), which is what makes the product
    one large GEMM per group; y is returned as an (N, O, *out) view of (O, N, *out) memory, so
    a following convolution (or an elementwise op between them, which keeps the memory order)
    needs no transposing copy. Stride-1 layers compute on the slightly larger "flat" grid of
    engine/nn/functional/_im2col.py (contiguous copies) and return a view of its valid part.
    """

    def __init__(self, stride, pads, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups

    def _plan(self, in_size):
        """Choose the unfolding: output size, computing grid, and the padding it needs."""
        self.out_size = conv_output_size(in_size, self.kernel, self.stride, self.pads, self.dilation)
        padded = tuple(i + b + a for i, (b, a) in zip(in_size, self.pads))
        pointwise = all(k == 1 for k in self.kernel) and all(s == 1 for s in self.stride) and padded == in_size
        plan = None if pointwise else im2col.flat_grid(padded, self.kernel, self.stride, self.dilation, self.out_size)
        self.flat = plan is not None
        if plan is None:
            self.grid, self.unfold_pads = self.out_size, self.pads
        else:
            self.grid, extra = plan
            (before, after), rest = self.pads[0], self.pads[1:]
            self.unfold_pads = ((before, after + extra),) + rest

    def _unfold(self, xc, span=None, xpad=None):
        """(C, n, *in) -> (G, C/G * K, n * prod(grid)): the columns of a chunk of samples (of the
        grid positions in ``span`` only, when given: see ``_spans``). ``xpad``: the chunk already padded."""
        c, n = xc.shape[:2]
        if xpad is None:
            xpad = im2col.pad_spatial(xc, self.unfold_pads)
        if self.flat:
            cols = im2col.im2col_flat(xpad, self.kernel, self.dilation, self.grid, span)
        else:
            cols = im2col.im2col(xpad, self.kernel, self.stride, self.dilation, self.out_size)
        length = im2col.prod(self.grid) if span is None else span[1] - span[0]
        return cols.reshape(self.groups, (c // self.groups) * im2col.prod(self.kernel), n * length)

    def _spans(self, per_sample: int, p: int):
        """Grid spans for unfolding one sample in parts, or None. A 3-D volume can unfold to more than
        the budget on its own (32 channels x 27 offsets x 64^3 positions: 0.9 GB), so a stride-1 layer
        (flat grid: each span of positions is a contiguous run per offset) unfolds it span by span."""
        if not self.flat or per_sample <= im2col.UNFOLD_BUDGET_BYTES:
            return None
        step = max(1, p * im2col.UNFOLD_BUDGET_BYTES // per_sample)
        return [(a, min(a + step, p)) for a in range(0, p, step)]

    def _padded(self, in_size):
        return tuple(i + b + a for i, (b, a) in zip(in_size, self.unfold_pads))

    def _fold(self, gcols, in_size, out=None):
        """(C, *kernel, n, *grid) -> (C, n, *in): col2im, then drop the padding. ``out``: the
        (C, n, *padded) block of a larger buffer to fold into (written, not added to)."""
        padded = self._padded(in_size)
        if self.flat:
            gpad = im2col.col2im_flat(gcols, padded, self.kernel, self.dilation, out=out)
        else:
            gpad = im2col.col2im(gcols, padded, self.kernel, self.stride, self.dilation, out=out)
        return im2col.crop_spatial(gpad, self.unfold_pads)

    def _valid(self):
        """Index of the true output inside the computing grid."""
        return (Ellipsis,) + tuple(slice(0, o) for o in self.out_size)

    def forward(self, x, w, b=None):
        xp = self.xp
        n, c = x.shape[:2]
        o, g = w.shape[0], self.groups
        self.kernel = w.shape[2:]
        self._plan(x.shape[2:])
        p = im2col.prod(self.grid)
        wm = w.reshape(g, o // g, -1)
        xc = im2col.channels_first(x)
        per_sample = c * im2col.prod(self.kernel) * p * x.dtype.itemsize
        self.chunks = im2col.batch_chunks(n, per_sample)
        self.spans = self._spans(per_sample, p)
        # keep the columns for the weight gradient when they are small enough, else recompute
        self.cols = [] if per_sample * n <= im2col.KEEP_COLUMNS_BYTES else None
        if self.spans is not None:  # one sample at a time, in spans of grid positions
            y = xp.empty((g, o // g, n, p), dtype=x.dtype)
            for s in range(n):
                xpad = im2col.pad_spatial(xc[:, s : s + 1], self.unfold_pads)
                for start, stop in self.spans:
                    xp.matmul(wm, self._unfold(xc[:, s : s + 1], (start, stop), xpad), out=y[:, :, s, start:stop])
        else:
            y = xp.empty((g, o // g, n * p), dtype=x.dtype)
            for chunk in self.chunks:
                cols = self._unfold(xc[:, chunk])
                # each chunk's product straight into its columns of y (BLAS writes a strided block)
                xp.matmul(wm, cols, out=y[:, :, chunk.start * p : chunk.stop * p])
                if self.cols is not None:
                    self.cols.append(cols)
        if b is not None:  # on the whole grid, contiguous rows, before the valid part is cut out
            add_per_row(y.reshape(o, n * p), b)
        y = y.reshape((o, n) + self.grid)[self._valid()]
        return im2col.channels_first(y)

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        gx = conv_input_grad(x.shape, w, gy, self.stride, self.pads, self.dilation, self.groups) \
            if x.requires_grad else None
        gw = conv_weight_grad(x, w.shape, gy, self.stride, self.pads, self.dilation, self.groups) \
            if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, _bias_grad(gy) if self.inputs[2].requires_grad else None

    def backward_arrays(self, gy):
        x, w = self.inputs[0].data, self.inputs[1].data
        n, c = x.shape[:2]
        o, g = w.shape[0], self.groups
        p = im2col.prod(self.grid)
        wm = w.reshape(g, o // g, -1)
        xc = im2col.channels_first(x)
        gyc = im2col.channels_first(gy)
        if self.grid != self.out_size:  # zero gradient at the discarded grid positions
            gyc = im2col.embed_in_grid(gyc, self.grid)
        gyc = gyc.reshape(g, o // g, n, p)
        need_x, need_w = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        # dL/dx as a convolution of dL/dy when that moves less data, or gives BLAS a longer inner dimension
        # than col2im's product (whose inner dimension is O/G: poor below ~64; see the method)
        as_convolution = need_x and o <= c and (o < c or o // g < 64)
        gx = self._input_grad_as_convolution(gy, w) if as_convolution else None
        unfold_x = need_x and gx is None  # the input gradient by col2im, with the weight gradient's products
        if self.spans is not None:
            gxc, gw = self._backward_by_spans(xc, wm, gyc, unfold_x, need_w)
        else:
            gxc, gw = self._backward_by_chunks(xc, wm, gyc, unfold_x, need_w)
        if unfold_x:
            gx = im2col.channels_first(gxc)
        gw = gw.reshape(w.shape) if need_w else None
        if len(self.inputs) == 2:
            return gx, gw
        gb = sum_per_row(self.xp, gyc.reshape(o, n * p)) if self.inputs[2].requires_grad else None
        return gx, gw, gb

    def _input_grad_as_convolution(self, gy, w):
        """dL/dx of a stride-1 layer as a forward convolution of dL/dy, or None where it does not apply.

            dL/dx[c, i] = sum_o sum_k W[o, c, k] dL/dy[o, i - k d + p_before]
                        = conv(dL/dy, W') with W'[c, o, k] = W[o, c, K-1-k] (swapped and flipped)
                          and padding d (K-1) - p on each side

        Used when O < C, or O = C with fewer than 64 channels per group (``backward_arrays``): the
        unfolding of dL/dy (O K rows) is then no larger than the columns col2im would fold back (C K
        rows), and the product's inner dimension is O K rather than O, which BLAS runs far better for
        few channels. Measured: a U-Net decoder's 32 -> 16 layer (8 x 64 x 64) 9.0 ms by col2im, 5.0 ms
        this way; 16 -> 16, 5.3 against 3.1 ms; 64 -> 64 equal alone but ResNet-18's step 2.5 % slower;
        32 -> 64 (O > C) 59 against 99 ms, so never used there.
        """
        pads = tuple((d * (k - 1) - b, d * (k - 1) - a) for (b, a), k, d in zip(self.pads, self.kernel, self.dilation))
        if not self.flat or any(p < 0 for pair in pads for p in pair):
            return None
        g, (o, c_g), nd = self.groups, w.shape[:2], len(self.kernel)
        flipped = w[(Ellipsis,) + (slice(None, None, -1),) * nd]
        w_t = flipped.reshape((g, o // g, c_g) + self.kernel).swapaxes(1, 2).reshape((g * c_g, o // g) + self.kernel)
        transposed = ConvNd((1,) * nd, pads, self.dilation, g)
        transposed.xp = self.xp
        return transposed.forward(gy, self.xp.ascontiguousarray(w_t))

    def _backward_by_chunks(self, xc, wm, gyc, need_x, need_w):
        """dL/dx (channels first) and dL/dW (as wm) chunk of samples by chunk."""
        xp = self.xp
        c = xc.shape[0]
        g, o_g = wm.shape[:2]
        # several chunks fold into one padded buffer, whose interior is the input gradient (a view)
        gpad = (xp.empty((c, xc.shape[1]) + self._padded(xc.shape[2:]), dtype=xc.dtype)
                if need_x and len(self.chunks) > 1 else None)
        gxc = None
        gw = xp.zeros(wm.shape, dtype=wm.dtype) if need_w else None
        for i, chunk in enumerate(self.chunks):
            gy_chunk = gyc[:, :, chunk].reshape(g, o_g, -1)  # (G, O/G, n * P)
            if need_w:
                if self.cols is not None:
                    cols, self.cols[i] = self.cols[i], None  # released as soon as used
                else:
                    cols = self._unfold(xc[:, chunk])
                # dW^T = cols @ dY^T: the same product as dY @ cols^T, but in the operand order
                # that OpenBLAS runs 2-4x faster for the large layers (long inner dimension n * P)
                gw += xp.matmul(cols, gy_chunk.swapaxes(-1, -2)).swapaxes(-1, -2)
                del cols  # free a recomputed chunk before the input gradient needs as much memory
            if need_x:
                gcols = xp.matmul(wm.swapaxes(-1, -2), gy_chunk)  # (G, C/G * K, n * P)
                gxc = self._fold(gcols.reshape((c,) + self.kernel + (-1,) + self.grid), xc.shape[2:],
                                 None if gpad is None else gpad[:, chunk])
        if gpad is not None:
            gxc = im2col.crop_spatial(gpad, self.unfold_pads)
        return gxc, gw

    def _backward_by_spans(self, xc, wm, gyc, need_x, need_w):
        """The backward products span by span, one sample at a time (see ``_spans``): the same
        arithmetic as ``_backward_by_chunks``, with col2im adding each span into the
        sample's padded input gradient."""
        xp = self.xp
        c, n = xc.shape[:2]
        padded = self._padded(xc.shape[2:])
        gxc = xp.empty(xc.shape, dtype=xc.dtype) if need_x else None
        gw = xp.zeros(wm.shape, dtype=wm.dtype) if need_w else None
        for s in range(n):
            xpad = im2col.pad_spatial(xc[:, s : s + 1], self.unfold_pads) if need_w else None
            gpad = xp.zeros((c, 1) + padded, dtype=xc.dtype) if need_x else None
            for a, b in self.spans:
                gy_span = gyc[:, :, s, a:b]  # (G, O/G, b - a)
                if need_w:
                    cols = self._unfold(xc[:, s : s + 1], (a, b), xpad)
                    gw += xp.matmul(cols, gy_span.swapaxes(-1, -2)).swapaxes(-1, -2)
                    del cols
                if need_x:
                    gcols = xp.matmul(wm.swapaxes(-1, -2), gy_span)  # (G, C/G * K, b - a)
                    im2col.col2im_flat(gcols.reshape(c, im2col.prod(self.kernel), 1, b - a), padded, self.kernel,
                                       self.dilation, span=(a, b), out=gpad)
            if need_x:
                gxc[:, s : s + 1] = im2col.crop_spatial(gpad, self.unfold_pads)
        return gxc, gw


class ConvTransposeNd(Function):
    """y = conv_transpose(x, W) + b: the adjoint of ConvNd with respect to its input.

    x: (N, C_in, *in), W: (C_in, C_out/G, *k), b: (C_out,) -> y: (N, C_out, *out).
    Forward: cols = W^T @ x, y = col2im(cols) cropped by the padding.
    dL/dx = W @ im2col(dL/dy) (a convolution); dL/dW = x @ im2col(dL/dy)^T; dL/db = sum of dL/dy.
    Channel-major inside, like ConvNd. pads: ((before, after), ...) cropped from the output (a
    convolution's padding, so that this is exactly that convolution's input gradient).
    """

    def __init__(self, stride, pads, dilation, groups, out_size):
        self.stride, self.dilation, self.groups, self.out_size = stride, dilation, groups, tuple(out_size)
        self.pads = tuple(pads)

    def forward(self, x, w, b=None):
        xp = self.xp
        n, c_in = x.shape[:2]
        g = self.groups
        c_out = w.shape[1] * g
        self.kernel = w.shape[2:]
        in_size = x.shape[2:]
        p_in = im2col.prod(in_size)
        xc = im2col.channels_first(x).reshape(g, c_in // g, n, p_in)
        wt = w.reshape(g, c_in // g, -1).swapaxes(-1, -2)  # (G, C_out/G * K, C_in/G)
        padded = tuple(o + b + a for o, (b, a) in zip(self.out_size, self.pads))
        self.chunks = im2col.batch_chunks(n, c_out * im2col.prod(self.kernel) * p_in * x.dtype.itemsize)
        yc = None if len(self.chunks) == 1 else xp.empty((c_out, n) + self.out_size, dtype=x.dtype)
        for chunk in self.chunks:
            cols = xp.matmul(wt, xc[:, :, chunk].reshape(g, c_in // g, -1))
            cols = cols.reshape((c_out,) + self.kernel + (-1,) + in_size)
            y_chunk = im2col.col2im(cols, padded, self.kernel, self.stride, self.dilation)
            y_chunk = im2col.crop_spatial(y_chunk, self.pads)
            if yc is None:
                yc = y_chunk
            else:
                yc[:, chunk] = y_chunk
        if b is not None:
            yc = yc + b.reshape((c_out,) + (1,) * (yc.ndim - 1))
        return im2col.channels_first(yc)

    def backward(self, gy):
        """Differentiable: dL/dx is the convolution of dL/dy with W, dL/dW = x @ unfold(dL/dy)^T."""
        x, w = self.inputs[0], self.inputs[1]
        gx = gw = None
        if x.requires_grad:
            gx = ConvNd(self.stride, self.pads, self.dilation, self.groups)(gy, w)
            if tuple(gx.shape[2:]) != tuple(x.shape[2:]):  # output_padding >= stride: extra positions
                gx = gx[(Ellipsis,) + tuple(slice(0, s) for s in x.shape[2:])]
        if w.requires_grad:
            n, c_in = x.shape[:2]
            g, in_size = self.groups, tuple(x.shape[2:])
            cols = Unfold(self.kernel, self.stride, self.dilation, self.pads, in_size)(gy)  # (N, C_out*K, P_in)
            cols = cols.reshape(n, g, -1, cols.shape[-1])
            xg = x.reshape(n, g, c_in // g, -1)
            gw = (xg @ cols.transpose(-1, -2)).sum(dim=0).reshape(w.shape)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, _bias_grad(gy) if self.inputs[2].requires_grad else None

    def backward_arrays(self, gy):
        xp = self.xp
        x, w = self.inputs[0].data, self.inputs[1].data
        n, c_in = x.shape[:2]
        g = self.groups
        in_size = x.shape[2:]
        p_in = im2col.prod(in_size)
        xc = im2col.channels_first(x).reshape(g, c_in // g, n, p_in)
        wm = w.reshape(g, c_in // g, -1)
        gyc = im2col.channels_first(gy)
        need_x, need_w = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        gxc = xp.empty(xc.shape, dtype=x.dtype) if need_x else None
        gw = xp.zeros(wm.shape, dtype=w.dtype) if need_w else None
        for chunk in self.chunks:
            cols = im2col.im2col(im2col.pad_spatial(gyc[:, chunk], self.pads), self.kernel, self.stride, self.dilation,
                            in_size)
            cols = cols.reshape(g, wm.shape[2], -1)  # (G, C_out/G * K, n * P_in)
            if need_x:
                gxc[:, :, chunk] = xp.matmul(wm, cols).reshape(g, c_in // g, -1, p_in)
            if need_w:
                x_chunk = xc[:, :, chunk].reshape(g, c_in // g, -1)
                gw += xp.matmul(cols, x_chunk.swapaxes(-1, -2)).swapaxes(-1, -2)  # operand order: see ConvNd
        gx = im2col.channels_first(gxc.reshape((c_in, n) + in_size)) if need_x else None
        gw = gw.reshape(w.shape) if need_w else None
        if len(self.inputs) == 2:
            return gx, gw
        gb = gyc.sum(axis=tuple(i for i in range(gyc.ndim) if i != 0)) if self.inputs[2].requires_grad else None
        return gx, gw, gb


# --------------------------------------------------------------------------------------------
# The two products of convolution's backward, as differentiable functions
# --------------------------------------------------------------------------------------------
def conv_input_grad(input_shape, weight, grad_output, stride, pads, dilation, groups=1) -> Tensor:
    """dL/dx of y = conv(x, W): the transposed convolution of dL/dy with the same W.

    input_shape: x's shape (N, C, *in); weight: (O, C/G, *k); grad_output: (N, O, *out);
    pads: ((before, after), ...) per spatial axis. Like ``torch.nn.grad.conv2d_input``.
    Each input pixel collects W[o, c, k] * dL/dy[o, i] from every window i that read it.
    """
    return ConvTransposeNd(tuple(stride), tuple(pads), tuple(dilation), groups, tuple(input_shape[2:]))(
        grad_output, weight)


def conv_weight_grad(input, weight_shape, grad_output, stride, pads, dilation, groups=1) -> Tensor:
    """dL/dW of y = conv(x, W): dL/dy @ unfold(x)^T, summed over the batch.

    input: (N, C, *in); weight_shape: (O, C/G, *k); grad_output: (N, O, *out). Like
    ``torch.nn.grad.conv2d_weight``. Every weight meets every window it was applied to.
    """
    n, c = input.shape[:2]
    o, g, kernel = weight_shape[0], groups, tuple(weight_shape[2:])
    grid = tuple(grad_output.shape[2:])
    cols = Unfold(kernel, tuple(stride), tuple(dilation), tuple(pads), grid)(input)  # (N, C*K, P)
    cols = cols.reshape(n, g, -1, cols.shape[-1])  # (N, G, C/G*K, P)
    gy = grad_output.reshape(n, g, o // g, -1)  # (N, G, O/G, P)
    return (gy @ cols.transpose(-1, -2)).sum(dim=0).reshape(tuple(weight_shape))


def _bias_grad(gy) -> Tensor:
    """dL/db = dL/dy summed over the batch and the positions."""
    return gy.sum(dim=(0,) + tuple(range(2, gy.ndim)))


# --------------------------------------------------------------------------------------------
# Function forms
# --------------------------------------------------------------------------------------------
def _bias(bias, like):
    return None if bias is None else as_tensor(bias, like=like)


def _conv(nd, input, weight, bias, stride, padding, dilation, groups, op):
    bias = _bias(bias, input)
    _check_common(input, weight, bias, nd, groups, op, transposed=False)
    kernel = tuple(weight.shape[2:])
    stride = ntuple(stride, nd, "stride", op)
    dilation = ntuple(dilation, nd, "dilation", op)
    _positive(stride, "stride", op)
    _positive(dilation, "dilation", op)
    pads = conv_padding(padding, kernel, stride, dilation, op)
    in_size = tuple(input.shape[2:])
    padded = tuple(i + b + a for i, (b, a) in zip(in_size, pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(r > p for r, p in zip(reach, padded)):
        raise ValueError(
            f"{op}: kernel size {kernel} (dilation {dilation}: spans {reach}) is larger than the padded "
            f"input size {padded} (input {tuple(input.shape)}, padding {padding!r}); the output would be empty"
        )
    args = (input, weight) if bias is None else (input, weight, bias)
    return ConvNd(stride, pads, dilation, groups)(*args)


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation, op,
                    output_size=None):
    bias = _bias(bias, input)
    _check_common(input, weight, bias, nd, groups, op, transposed=True)
    kernel = tuple(weight.shape[2:])
    stride = ntuple(stride, nd, "stride", op)
    dilation = ntuple(dilation, nd, "dilation", op)
    _positive(stride, "stride", op)
    _positive(dilation, "dilation", op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    padding = ntuple(padding, nd, "padding", op)
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    in_size = tuple(input.shape[2:])
    if output_size is not None:
        output_padding = _output_padding_for(output_size, in_size, kernel, stride, padding, dilation, op)
    output_padding = ntuple(output_padding, nd, "output_padding", op)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ < 0 or (op_ >= s and op_ >= d):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be non-negative and smaller than either the "
                f"stride {stride} or the dilation {dilation}"
            )
    out_size = conv_transpose_output_size(in_size, kernel, stride, padding, output_padding, dilation)
    if any(o < 1 for o in out_size):
        raise ValueError(
            f"{op}: the output size {out_size} would not be positive (input {tuple(input.shape)}, kernel "
            f"{kernel}, stride {stride}, padding {padding}, dilation {dilation}); reduce the padding"
        )
    args = (input, weight) if bias is None else (input, weight, bias)
    return ConvTransposeNd(stride, tuple((p, p) for p in padding), dilation, groups, out_size)(*args)


def _output_padding_for(output_size, in_size, kernel, stride, padding, dilation, op):
    """The output_padding that makes a transposed convolution produce ``output_size`` (the
    spatial sizes, or the full shape): anything between the smallest size and stride - 1 more."""
    nd = len(in_size)
    size = tuple(int(s) for s in output_size)[-nd:]
    if len(size) != nd:
        raise ValueError(f"{op}: output_size {tuple(output_size)} needs {nd} spatial sizes")
    smallest = conv_transpose_output_size(in_size, kernel, stride, padding, (0,) * nd, dilation)
    extra = tuple(s - m for s, m in zip(size, smallest))
    if any(e < 0 or e >= s for e, s in zip(extra, stride)):
        largest = tuple(m + s - 1 for m, s in zip(smallest, stride))
        raise ValueError(f"{op}: requested output size {size} is not between {smallest} and {largest}")
    return extra


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation).   input: (N, C, L), weight: (O, C/groups, k) -> (N, O, L_out).
    padding: int, (p,), 'same' or 'valid'."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation).   input: (N, C, H, W), weight: (O, C/groups, kh, kw),
    bias: (O,) -> (N, O, H_out, W_out). padding: int, (ph, pw), 'same' or 'valid'."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation).   input: (N, C, D, H, W), weight: (O, C/groups, kd, kh, kw)
    -> (N, O, D_out, H_out, W_out)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups, "conv3d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution.   input: (N, C_in, L), weight: (C_in, C_out/groups, k) -> (N, C_out, L_out),
    L_out = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution ("deconvolution", a learnable upsampling).
    input: (N, C_in, H, W), weight: (C_in, C_out/groups, kh, kw) -> (N, C_out, H_out, W_out)."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           "conv_transpose2d")


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution.   input: (N, C_in, D, H, W), weight: (C_in, C_out/groups, kd, kh, kw)."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           "conv_transpose3d")


# --------------------------------------------------------------------------------------------
# The textbook version
# --------------------------------------------------------------------------------------------
def conv2d_naive(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution written as the formula, one output value at a time (for reading, not use).

        y[n, o, i, j] = b[o] + sum_{c, ki, kj} w[o, c, ki, kj] * xpad[n, g*C/G + c, i*s + ki*d, j*s + kj*d]

    where g = o // (O/G) is the group of output channel o. Same arguments and result as
    ``conv2d`` but no gradient, and slow: four Python loops over (n, o, i, j).
    """
    x = input.data if isinstance(input, Tensor) else input
    w = weight.data if isinstance(weight, Tensor) else weight
    b = bias.data if isinstance(bias, Tensor) else bias
    xp = get_array_module(x)
    kh, kw = w.shape[2:]
    (sh, sw), (dh, dw) = ntuple(stride, 2, "stride", "conv2d_naive"), ntuple(dilation, 2, "dilation", "conv2d_naive")
    pads = conv_padding(padding, (kh, kw), (sh, sw), (dh, dw), "conv2d_naive")
    xpad = im2col.pad_spatial(x, pads)
    n_batch, out_ch = x.shape[0], w.shape[0]
    in_per_group, out_per_group = w.shape[1], out_ch // groups
    oh, ow = conv_output_size(x.shape[2:], (kh, kw), (sh, sw), pads, (dh, dw))
    y = xp.zeros((n_batch, out_ch, oh, ow), dtype=x.dtype)
    for n in range(n_batch):
        for o in range(out_ch):
            first = (o // out_per_group) * in_per_group  # first input channel of o's group
            for i in range(oh):
                for j in range(ow):
                    patch = xpad[n, first : first + in_per_group,
                                 i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                                 j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                    y[n, o, i, j] = (patch * w[o]).sum() + (b[o] if b is not None else 0)
    return Tensor(y)
