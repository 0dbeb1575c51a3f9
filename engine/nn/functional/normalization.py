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

from engine import autograd
from engine.autograd import Function
from engine.tensor import Tensor

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "Normalize"]


def _normalize_grads(g, xhat, inv_std, w, axes, n: int, w_constant_over_axes: bool):
    """(dL/dx, dL/dw, dL/db) for y = w * xhat + b; arrays or Tensors alike (same method names).

    When w is constant over the normalised axes (batch/instance norm, or no w at all), the sums
    of g and g * xhat are the gradients of b and w as well, which saves two full passes.
    """
    if w_constant_over_axes:
        sum_g = g.sum(axis=axes, keepdims=True)  # = dL/db (before the batch sum)
        sum_gx = (g * xhat).sum(axis=axes, keepdims=True)  # = dL/dw
        scale = inv_std if w is None else inv_std * w
        gx = scale * (g - (sum_g + xhat * sum_gx) * (1.0 / n))
        return gx, sum_gx, sum_g
    gh = g * w
    gx = inv_std * (gh - gh.mean(axis=axes, keepdims=True) - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
    return gx, g * xhat, g


class Normalize(Function):
    """y = w * (x - mean) / sqrt(var + eps) + b, mean and biased var over ``axes``.

    Inputs: x, then w if ``has_weight``, then b if ``has_bias`` (each broadcastable against x).
    dL/dx = inv_std (gh - mean(gh) - xhat mean(gh xhat)) with gh = g w; dL/dw = g xhat; dL/db = g.
    After forward, ``batch_mean`` and ``batch_var`` (biased, shape with the axes kept) hold the
    statistics used, for running averages.
    """

    def __init__(self, axes: tuple, eps: float, has_weight: bool, has_bias: bool):
        self.axes, self.eps = axes, eps
        self.has_weight, self.has_bias = has_weight, has_bias

    def _n(self, shape) -> int:
        n = 1
        for a in self.axes:
            n *= shape[a]
        return n

    def _w_constant(self, x_shape, w_shape) -> bool:
        lead = len(x_shape) - len(w_shape)
        return all(a < lead or w_shape[a - lead] == 1 for a in self.axes)

    def forward(self, x, *params):
        xp = self.xp
        mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - mean
        var = (xhat * xhat).mean(axis=self.axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        xhat *= inv_std  # x - mean was a fresh array: standardise it in place
        self.batch_mean, self.batch_var = mean, var
        self.xhat, self.inv_std = xhat, inv_std
        y = xhat
        if self.has_weight:
            y = y * params[0]
        if self.has_bias:
            y = y + params[-1]
        return y if y is not xhat else xhat.copy()  # never hand out the array the backward keeps

    def backward(self, gy):
        x = self.inputs[0]
        w = self.inputs[1] if self.has_weight else None
        w_const = w is None or self._w_constant(x.shape, w.shape)
        n = self._n(x.shape)
        if autograd.is_grad_enabled():
            # create_graph: rebuild xhat and inv_std from x with Tensor ops, so that the
            # gradient below is itself a differentiable function of x, w and g
            mean = x.mean(dim=self.axes, keepdim=True)
            xc = x - mean
            inv_std = ((xc * xc).mean(dim=self.axes, keepdim=True) + self.eps) ** -0.5
            gx, gw, gb = _normalize_grads(gy, xc * inv_std, inv_std, w, self.axes, n, w_const)
        else:
            gx, gw, gb = _normalize_grads(gy.data, self.xhat, self.inv_std, None if w is None else w.data,
                                          self.axes, n, w_const)
        grads = (gx,)
        if self.has_weight:
            grads += (gw,)
        if self.has_bias:
            grads += (gb,)
        return grads


def _normalize(x: Tensor, axes: tuple, eps: float, weight=None, bias=None) -> tuple[Tensor, Normalize]:
    fn = Normalize(axes, eps, weight is not None, bias is not None)
    args = [x] + [t for t in (weight, bias) if t is not None]
    return fn(*args), fn


def _channel_view(t: Tensor | None, ndim: int) -> Tensor | None:
    """(C,) -> (1, C, 1, ..., 1) to broadcast over (N, C, *spatial)."""
    return None if t is None else t.reshape((1, -1) + (1,) * (ndim - 2))


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
    folded into one scale and one shift so that only two full-size operations run."""
    xp = x._xp
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv_std = Tensor((1.0 / xp.sqrt(var_c + eps)).astype(x.dtype, copy=False).reshape(shape))
    mean = Tensor(mean_c.astype(x.dtype, copy=False).reshape(shape))
    scale = inv_std if weight is None else _channel_view(weight, x.ndim) * inv_std
    shift = -(mean * scale)
    if bias is not None:
        shift = shift + _channel_view(bias, x.ndim)
    return x * scale + shift


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
    axes = (0,) + tuple(range(2, input.ndim))
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
    y, fn = _normalize(input, axes, eps, _channel_view(weight, input.ndim), _channel_view(bias, input.ndim))
    if running_mean is not None:
        _update_running(running_mean, fn.batch_mean.reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, fn.batch_var.reshape(-1) * (n / (n - 1)), momentum)
    return y


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
    axes = tuple(range(2, input.ndim))
    n = input.data.size // max(input.shape[0] * input.shape[1], 1)
    if n <= 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element per channel, got input of shape "
            f"{tuple(input.shape)}"
        )
    y, fn = _normalize(input, axes, eps, _channel_view(weight, input.ndim), _channel_view(bias, input.ndim))
    c = input.shape[1]
    if running_mean is not None:
        _update_running(running_mean, fn.batch_mean.reshape(-1, c).mean(axis=0), momentum)
    if running_var is not None:
        _update_running(running_var, fn.batch_var.reshape(-1, c).mean(axis=0) * (n / (n - 1)), momentum)
    return y


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
    axes = tuple(range(input.ndim - k, input.ndim))
    return _normalize(input, axes, eps, weight, bias)[0]


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
    grouped = input.reshape(n, num_groups, c // num_groups, -1)
    view = (1, num_groups, c // num_groups, 1)
    w = None if weight is None else weight.reshape(view)
    b = None if bias is None else bias.reshape(view)
    return _normalize(grouped, (2, 3), eps, w, b)[0].reshape(input.shape)
