"""Normalisation layers as functions: batch, instance, layer and group normalisation.

All four standardise x over some axes and then apply a learnt affine map:

    xhat = (x - mean) / sqrt(var + eps),      y = w * xhat + b

with mean and the *biased* variance (divide by n) taken over the normalised axes. They differ
only in which axes (x: (N, C, *spatial)):

    batch norm     (N, *spatial)  per channel          Ioffe & Szegedy 2015
    instance norm  (*spatial)     per sample & channel Ulyanov et al. 2016
    layer norm     the trailing normalized_shape dims  Ba et al. 2016
    group norm     (C/G channels, *spatial) per sample & group  Wu & He 2018

so one Function (``Normalize``) with a closed-form backward serves them all. With g = dL/dy,
gh = g * w and means over the n normalised elements,

    dL/dx = inv_std * (gh - mean(gh) - xhat * mean(gh * xhat))
    dL/dw = g * xhat,  dL/db = g     (summed by the engine down to the shapes of w and b)

which follows from differentiating through the mean and the variance (the two subtracted
terms are the paths through mean and var). Batch norm additionally keeps running averages of
the batch statistics for evaluation, where it normalises with those instead.
"""

from __future__ import annotations

from engine.autograd import Function
from engine.parallel import split_run
from engine.tensor import Tensor

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "Normalize", "ChannelAffine"]


def _sum_to(xp, shape: tuple, *arrays):
    """Sum the elementwise product of ``arrays`` (one or two, same shape) down to ``shape``
    (broadcast-compatible, aligned right: its size-1 and missing dims are summed over).

    einsum reads its operands once and never builds the product array; for reductions over
    non-trailing axes (batch norm's N and positions) it is also several times faster than
    ``ndarray.sum``, and about as accurate in float32.
    """
    full = arrays[0].shape
    lead = len(full) - len(shape)
    letters = "abcdefghijklmnop"[: len(full)]
    kept = "".join(c for i, c in enumerate(letters) if i >= lead and shape[i - lead] != 1)
    out = xp.einsum(",".join([letters] * len(arrays)) + "->" + kept, *arrays)
    return out.reshape(shape)


def _normalize_grads(g, x, w, axes, eps: float):
    """(dL/dx, dL/dw, dL/db) of y = w * xhat + b as Tensor operations, literally the formulas above.

    Used for create_graph=True: xhat and inv_std are rebuilt from x here, so every quantity is a
    differentiable function of x, w and g and the result can be differentiated again.
    """
    xc = x - x.mean(dim=axes, keepdim=True)
    inv_std = ((xc * xc).mean(dim=axes, keepdim=True) + eps) ** -0.5
    xhat = xc * inv_std
    gh = g if w is None else g * w
    gx = inv_std * (gh - gh.mean(dim=axes, keepdim=True) - xhat * (gh * xhat).mean(dim=axes, keepdim=True))
    return gx, g * xhat, g


class Normalize(Function):
    """y = w * (x - mean) / sqrt(var + eps) + b, mean and biased var over ``axes``.

    Inputs: x, then w if ``has_weight``, then b if ``has_bias`` (each broadcastable against x).
    dL/dx = inv_std (gh - mean(gh) - xhat mean(gh xhat)) with gh = g w; dL/dw = g xhat; dL/db = g.
    After forward, ``batch_mean`` and ``batch_var`` (biased, shape with the axes kept) hold the
    statistics used, for running averages.

    The array code folds the per-slice factors together (for per-channel weights it works with
    xc = x - mean rather than xhat, and backward recomputes xc from the saved input instead of
    keeping a full-size copy from forward) so that forward and backward each make only a few passes
    over the data: this is the hot path of every convolutional network with batch norm.
    """

    def __init__(self, axes: tuple, eps: float, has_weight: bool, has_bias: bool):
        self.axes, self.eps = axes, eps
        self.has_weight, self.has_bias = has_weight, has_bias

    def _per_slice(self, x_shape, w_shape) -> bool:
        """True when w is constant over the normalised axes (batch, instance and group norm's
        per-channel weights): then w can be folded into the per-slice scale."""
        lead = len(x_shape) - len(w_shape)
        return all(a < lead or w_shape[a - lead] == 1 for a in self.axes)

    def _channel_split(self, x) -> bool:
        """Whether the work can be split into independent channel blocks (axis 1 not normalised over,
        per-slice weights): batch and instance norm. Then large host arrays run over the cores."""
        return self.per_slice and x.ndim >= 2 and 1 not in self.axes

    def _by_channel(self, fn, x):
        """fn(sl, psl) for channel blocks: sl indexes x-shaped (and stat-shaped) arrays, psl the
        parameters (the channel axis of a (1, C, 1) view, or everything for a broadcast one)."""
        if not self._channel_split(x):
            fn(Ellipsis, lambda p: p)
            return

        def block(a, b):
            sl = (slice(None), slice(a, b))

            def psl(p):
                axis = 1 - (x.ndim - p.ndim)  # parameters are aligned right against x
                if axis < 0 or p.shape[axis] == 1:
                    return p
                return p[(slice(None),) * axis + (slice(a, b),)]
            fn(sl, psl)
        split_run(block, x.shape[1], x)

    def forward(self, x, *params):
        xp, axes = self.xp, self.axes
        n = _prod(x.shape[a] for a in axes)
        stat_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        w = params[0] if self.has_weight else None
        self.per_slice = w is None or self._per_slice(x.shape, w.shape)
        self.n, self.stat_shape = n, stat_shape
        if self.per_slice:
            # per channel block (over the cores when large): mean, x - mean written into y's memory,
            # biased variance, then y scaled and shifted in place. Nothing full-size is kept besides
            # the input, which the graph holds anyway: backward recomputes x - mean (one pass) rather
            # than keeping a copy of every normalised activation (ResNet-18, batch 128: ~260 MB)
            mean, var = xp.empty(stat_shape, dtype=x.dtype), xp.empty(stat_shape, dtype=x.dtype)
            inv_std = xp.empty(stat_shape, dtype=x.dtype)
            y = xp.empty_like(x)

            def block(sl, psl):
                mean[sl] = _sum_to(xp, mean[sl].shape, x[sl]) * (1.0 / n)
                out = y[sl]
                xp.subtract(x[sl], mean[sl], out=out)
                var[sl] = _sum_to(xp, var[sl].shape, out, out) * (1.0 / n)
                inv_std[sl] = 1.0 / xp.sqrt(var[sl] + self.eps)
                out *= inv_std[sl] if w is None else inv_std[sl] * psl(w)
                if self.has_bias:
                    out += psl(params[-1])
            self._by_channel(block, x)
        else:
            mean = _sum_to(xp, stat_shape, x) * (1.0 / n)
            xc = x - mean
            var = _sum_to(xp, stat_shape, xc, xc) * (1.0 / n)
            inv_std = 1.0 / xp.sqrt(var + self.eps)
            xc *= inv_std  # xc is a fresh array: standardise it in place, it becomes xhat
            self.xhat = xc
            y = xc * w
            if self.has_bias:
                y += params[-1]  # y is a fresh array
        self.batch_mean, self.batch_var, self.inv_std = mean, var, inv_std
        return y

    def _pack(self, gx, gw, gb):
        return (gx,) + ((gw,) if self.has_weight else ()) + ((gb,) if self.has_bias else ())

    def backward(self, gy):
        """Differentiable: the formulas as Tensor operations (``_normalize_grads``)."""
        w = self.inputs[1] if self.has_weight else None
        return self._pack(*_normalize_grads(gy, self.inputs[0], w, self.axes, self.eps))

    def backward_arrays(self, g):
        """The docstring's formulas on arrays, with every per-slice factor multiplied together
        before it touches a full-size array, and the results built in as few arrays as possible."""
        return self._pack(*self._array_grads(g, self.inputs[1].data if self.has_weight else None))

    def _array_grads(self, g, w):
        xp, inv_std, n, stat = self.xp, self.inv_std, self.n, self.stat_shape
        need_x = self.inputs[0].requires_grad
        gx = gw = gb = None
        if self.per_slice:
            # gh = g w with w constant per slice: mean(gh) = w mean(g), mean(gh xhat) = w mean(g xhat)
            x, mean = self.inputs[0].data, self.batch_mean
            sum_g = xp.empty(stat, dtype=g.dtype)  # also dL/db, per slice
            sum_g_xhat = xp.empty(stat, dtype=g.dtype)  # also dL/dw, per slice
            gx = xp.empty_like(x) if need_x else None

            def block(sl, psl):  # per channel block, over the cores when large
                # xc = x - mean, recomputed exactly as forward did (into dL/dx's memory when it is wanted)
                xc = gx[sl] if need_x else xp.empty_like(x[sl])
                xp.subtract(x[sl], mean[sl], out=xc)
                sum_g[sl] = _sum_to(xp, sum_g[sl].shape, g[sl])
                sum_g_xhat[sl] = _sum_to(xp, sum_g_xhat[sl].shape, g[sl], xc) * inv_std[sl]
                if need_x:
                    # dL/dx = a (g - mean(g) - xhat mean(g xhat)) with a = w inv_std, xhat = xc inv_std
                    xc *= inv_std[sl] * sum_g_xhat[sl] * (1.0 / n)
                    xc += sum_g[sl] * (1.0 / n)
                    xp.subtract(g[sl], xc, out=xc)
                    xc *= inv_std[sl] if w is None else inv_std[sl] * psl(w)
            self._by_channel(block, x)
            return gx, sum_g_xhat, sum_g  # the engine sums the per-slice values to w's and b's shapes
        xhat = self.xhat
        if need_x:
            gh = g * w
            sum_gh = _sum_to(xp, stat, gh)
            sum_gh_xhat = _sum_to(xp, stat, gh, xhat)
            # dL/dx = inv_std (gh - mean(gh) - xhat mean(gh xhat)), built in gh's array
            gh -= xhat * (sum_gh_xhat * (1.0 / n))
            gh -= sum_gh * (1.0 / n)
            gh *= inv_std
            gx = gh
        if self.inputs[1].requires_grad:
            gw = _sum_to(xp, w.shape, g, xhat)
        if self.has_bias and self.inputs[-1].requires_grad:
            gb = _sum_to(xp, self.inputs[-1].shape, g)
        return gx, gw, gb


class ChannelAffine(Function):
    """y = x * scale + shift with one scale and shift per channel: batch norm with given statistics.

    x: (N, C, L); scale, shift: (1, C, 1).  dL/dx = g * scale,  dL/dscale = sum over (N, L) of g x,
    dL/dshift = sum over (N, L) of g. One pass over x instead of a product and a sum, split by channel
    blocks over the cores for large inputs (engine/parallel.py).
    """

    def forward(self, x, scale, shift):
        xp = self.xp
        y = xp.empty_like(x)

        def block(a, b):
            xp.multiply(x[:, a:b], scale[:, a:b], out=y[:, a:b])
            y[:, a:b] += shift[:, a:b]
        split_run(block, x.shape[1], x)
        return y

    def backward(self, gy):
        x, scale, _ = self.inputs
        return gy * scale, (gy * x).sum(dim=(0, 2), keepdim=True), gy.sum(dim=(0, 2), keepdim=True)

    def backward_arrays(self, gy):
        xp = self.xp
        x, scale, shift = (t.data for t in self.inputs)
        need_x, need_scale, need_shift = (t.requires_grad for t in self.inputs)
        gx = xp.empty_like(gy) if need_x else None
        g_scale = xp.empty(scale.shape, dtype=gy.dtype) if need_scale else None
        g_shift = xp.empty(shift.shape, dtype=gy.dtype) if need_shift else None

        def block(a, b):
            if need_x:
                xp.multiply(gy[:, a:b], scale[:, a:b], out=gx[:, a:b])
            if need_scale:
                g_scale[:, a:b] = _sum_to(xp, g_scale[:, a:b].shape, gy[:, a:b], x[:, a:b])
            if need_shift:
                g_shift[:, a:b] = _sum_to(xp, g_shift[:, a:b].shape, gy[:, a:b])
        split_run(block, gy.shape[1], gy)
        return gx, g_scale, g_shift


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _normalize(x: Tensor, axes: tuple, eps: float, weight=None, bias=None) -> tuple[Tensor, Normalize]:
    fn = Normalize(axes, eps, weight is not None, bias is not None)
    args = [x] + [t for t in (weight, bias) if t is not None]
    return fn(*args), fn


def _channel_view(t: Tensor | None) -> Tensor | None:
    """(C,) -> (1, C, 1) to broadcast over the (N, C, L) layout."""
    return None if t is None else t.reshape(1, -1, 1)


def _as_ncl(x: Tensor) -> Tensor:
    """(N, C, *spatial) viewed as (N, C, L): the positions merged into one axis (a free reshape),
    so that every normalisation runs on 3-D arrays whatever the number of spatial dims."""
    return x.reshape(x.shape[0], x.shape[1], _prod(x.shape[2:]))  # explicit: -1 fails for an empty batch


def _check_dtypes(op: str, x: Tensor, *others):
    for t in others:
        if t is not None and t.dtype != x.dtype:
            raise TypeError(
                f"{op}: input dtype {x.dtype} differs from parameter/statistics dtype {t.dtype} "
                f"(convert the input with .float() / .double(), or the layer with .to(dtype))"
            )


def _check_channels(op: str, x: Tensor, *per_channel):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got shape {tuple(x.shape)}")
    for t in per_channel:
        if t is not None and tuple(t.shape) != (x.shape[1],):
            raise ValueError(
                f"{op}: input has {x.shape[1]} channels (shape {tuple(x.shape)}) but a per-channel "
                f"parameter/statistic has shape {tuple(t.shape)}"
            )


def _update_running(running: Tensor, batch_value, momentum: float) -> None:
    """running <- (1 - momentum) * running + momentum * batch_value, in place (outside the graph)."""
    value = batch_value.astype(running.dtype, copy=False)
    running.data[...] = running.data * (1.0 - momentum) + value * momentum


def _normalize_with(x: Tensor, mean_c, var_c, weight, bias, eps: float) -> Tensor:
    """y = (x - mean) / sqrt(var + eps) * w + b with given per-channel statistics (constants),
    folded into one scale and one shift so that one full-size pass runs (ChannelAffine)."""
    xp = x._xp
    inv_std = Tensor((1.0 / xp.sqrt(var_c + eps)).astype(x.dtype, copy=False).reshape(1, -1, 1))
    mean = Tensor(mean_c.astype(x.dtype, copy=False).reshape(1, -1, 1))
    scale = inv_std if weight is None else _channel_view(weight) * inv_std
    shift = -(mean * scale)
    if bias is not None:
        shift = shift + _channel_view(bias)
    return ChannelAffine()(_as_ncl(x), scale, shift).reshape(x.shape)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of input (N, C, *spatial) per channel.

    training: normalise with the batch's mean and biased variance over (N, *spatial), and (when
    given) update the running statistics in place, the variance with its unbiased (n / (n - 1))
    estimate, as PyTorch: running = (1 - momentum) running + momentum batch_stat.
    not training: normalise with running_mean and running_var.
    """
    _check_channels("batch_norm", input, running_mean, running_var, weight, bias)
    _check_dtypes("batch_norm", input, weight, bias)
    n = input.data.size // max(input.shape[1], 1)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when training=False")
        return _normalize_with(input, running_mean.data, running_var.data, weight, bias, eps)
    if n <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input of shape "
            f"{tuple(input.shape)}"
        )
    y, fn = _normalize(_as_ncl(input), (0, 2), eps, _channel_view(weight), _channel_view(bias))
    if running_mean is not None:
        _update_running(running_mean, fn.batch_mean.reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, fn.batch_var.reshape(-1) * (n / (n - 1)), momentum)
    return y.reshape(input.shape)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight=None, bias=None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Instance normalisation of input (N, C, *spatial): every (sample, channel) map is
    standardised over its own spatial positions. With running statistics and use_input_stats,
    they are updated with the batch average of the per-instance statistics."""
    _check_channels("instance_norm", input, running_mean, running_var, weight, bias)
    _check_dtypes("instance_norm", input, weight, bias)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running_mean and running_var are required when use_input_stats=False")
        return _normalize_with(input, running_mean.data, running_var.data, weight, bias, eps)
    n = _prod(input.shape[2:])  # positions per instance
    if n <= 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element per channel, got input of shape "
            f"{tuple(input.shape)}"
        )
    y, fn = _normalize(_as_ncl(input), (2,), eps, _channel_view(weight), _channel_view(bias))
    c = input.shape[1]
    if running_mean is not None:
        _update_running(running_mean, fn.batch_mean.reshape(-1, c).mean(axis=0), momentum)
    if running_var is not None:
        _update_running(running_var, fn.batch_var.reshape(-1, c).mean(axis=0) * (n / (n - 1)), momentum)
    return y.reshape(input.shape)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation: standardise over the trailing dims given by ``normalized_shape``
    (e.g. the feature dim of (N, L, features)); weight and bias have shape normalized_shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the trailing dims of the input "
            f"(shape {tuple(input.shape)})"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {tuple(t.shape)}")
    _check_dtypes("layer_norm", input, weight, bias)
    # (..., *normalized_shape) viewed as (M, K): one row per normalised slice
    size = _prod(shape)
    flat = [None if t is None else t.reshape(size) for t in (weight, bias)]
    return _normalize(input.reshape(-1, size), (1,), eps, *flat)[0].reshape(input.shape)


def group_norm(input: Tensor, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Group normalisation of input (N, C, *spatial): channels are split into num_groups groups
    of C / num_groups, and each (sample, group) is standardised over its channels and positions.
    Independent of the batch size (unlike batch norm); weight and bias are per channel (C,)."""
    _check_channels("group_norm", input, weight, bias)
    _check_dtypes("group_norm", input, weight, bias)
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(
            f"group_norm: {c} channels (input shape {tuple(input.shape)}) are not divisible into "
            f"{num_groups} groups"
        )
    # view (N, C, *spatial) as (N, G, C/G, positions): the statistics run over the last two axes,
    # and a per-channel weight viewed as (1, G, C/G, 1) lines up with the channels
    grouped = input.reshape(n, num_groups, c // num_groups, _prod(input.shape[2:]))
    view = (1, num_groups, c // num_groups, 1)
    w = None if weight is None else weight.reshape(view)
    b = None if bias is None else bias.reshape(view)
    return _normalize(grouped, (2, 3), eps, w, b)[0].reshape(input.shape)
