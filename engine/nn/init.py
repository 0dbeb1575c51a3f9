"""Weight initialisation (``torch.nn.init`` names): fill a tensor in place with random values
whose scale keeps signals and gradients from shrinking or exploding through deep networks.

Why the scale matters. A unit computes y = sum_i w_i x_i over fan_in inputs. With independent
zero-mean weights of variance s^2 and inputs of variance v, Var(y) = fan_in * s^2 * v. To keep
the variance constant from layer to layer we need s^2 = 1 / fan_in (LeCun); a ReLU zeroes half
its inputs, so it needs s^2 = 2 / fan_in (He et al. 2015, "kaiming"); averaging the forward
(fan_in) and backward (fan_out) conditions gives s^2 = 2 / (fan_in + fan_out) (Glorot & Bengio
2010, "xavier"). A uniform distribution U(-a, a) has variance a^2 / 3, hence the sqrt(3) below.

Every function draws on the host from the engine's seeded generator
(``engine.random.default_generator()``, or the ``generator`` passed) and copies the values onto
the tensor's device, so a CPU run and a GPU run with the same seed start from the same weights.
Values are written into ``tensor.data`` (no gradient is recorded) and the tensor is returned.
"""

from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.random import default_generator
from engine.tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "eye_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]


def _fill(tensor: Tensor, host: np.ndarray, op: str) -> Tensor:
    """Write host values into the tensor's array, on its device, in its dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{op}: expected a Tensor or Parameter, got {type(tensor).__name__}")
    values = backend.to_device(np.asarray(host, dtype=tensor.dtype).reshape(tensor.shape), tensor.device)
    tensor.data[...] = values
    return tensor


def _rng(generator) -> np.random.Generator:
    return default_generator() if generator is None else generator


# --- gains and fans ---------------------------------------------------------------------------------
def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity's output standard deviation must be re-scaled.

    linear / conv / sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);  leaky_relu with slope a:
    sqrt(2 / (1 + a^2)) (a defaults to 0.01);  selu: 3/4 (PyTorch's values).
    """
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d",
              "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight with PyTorch's layout (out, in, *kernel).

    A Linear weight (out, in) has fan_in = in, fan_out = out; a convolution weight
    (out, in, kh, kw) multiplies both by the receptive field kh * kw.
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions "
            f"(shape {tuple(tensor.shape)})"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# --- plain distributions ------------------------------------------------------------------------------
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, size=tensor.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, size=tensor.shape), "normal_")


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Tensor:
    """Fill with N(mean, std^2) restricted to [a, b] (absolute bounds, as PyTorch), by inverting
    the normal CDF on the uniform interval [Phi(alpha), Phi(beta)]."""
    from scipy.special import ndtr, ndtri

    if std <= 0 or a >= b:
        raise ValueError(f"trunc_normal_: need std > 0 and a < b, got std={std}, a={a}, b={b}")
    lo, hi = ndtr((a - mean) / std), ndtr((b - mean) / std)
    u = _rng(generator).uniform(lo, hi, size=tensor.shape)
    return _fill(tensor, np.clip(mean + std * ndtri(u), a, b), "trunc_normal_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the constant ``val``."""
    return _fill(tensor, np.full(tensor.shape, val), "constant_")


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal), preserving a Linear layer's input."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape), "eye_")


# --- variance-preserving schemes -----------------------------------------------------------------------
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    """He et al. (2015): U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    ``a`` is the negative slope of the rectifier that follows (0 for ReLU). PyTorch's default
    Linear/Conv initialisation is this with a = sqrt(5), i.e. bound = 1 / sqrt(fan_in).
    """
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor  # an empty tensor has nothing to fill (PyTorch warns and returns it too)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    """He et al. (2015): N(0, std^2), std = gain / sqrt(fan)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014); trailing dims are flattened.

    The Q of the QR decomposition of a Gaussian matrix, with the signs of R's diagonal folded
    in so that Q is uniformly distributed (Mezzadri 2007), not biased by the QR convention.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q, "orthogonal_")
