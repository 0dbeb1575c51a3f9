"""Fully connected layers: Linear (the perceptron's affine map) and Identity."""

from __future__ import annotations

import math

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional.linear import linear
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["Identity", "Linear"]


def _empty_parameter(*shape, device=None, dtype=None) -> Parameter:
    """An uninitialised (zero) parameter on ``device``; the layer's reset_parameters fills it."""
    xp = backend.xp_for_device(backend.normalize_device(device))
    return Parameter(xp.zeros(shape, dtype=dtype or get_default_dtype()))


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to remove a network's head).
    Accepts and ignores any constructor arguments, as torch.nn.Identity."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """A fully connected layer: every output unit is a perceptron's weighted sum of all inputs.

    One unit j computes  z_j = sum_i W_ji x_i + b_j,  i.e. z = W x + b for a column x, and a
    network applies a nonlinearity after it: Output = phi(W^T x + b) in the perceptron notation
    where W's columns are units (here stored as rows, PyTorch's layout). For a batch stored as
    rows this is

        y = x W^T + b        x: (..., in_features)  ->  y: (..., out_features)

    Parameters (PyTorch names, shapes and layout):
        weight: (out_features, in_features), initialised U(-1/sqrt(in), 1/sqrt(in)) — that is
                kaiming_uniform_ with a = sqrt(5), PyTorch's default;
        bias:   (out_features,), U(-1/sqrt(in), 1/sqrt(in)); absent when bias=False.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: feature counts must be non-negative, got in_features={in_features}, "
                             f"out_features={out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = _empty_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = _empty_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), bias alike."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            got = input.shape[-1] if input.ndim else "no"
            raise ValueError(
                f"Linear(in_features={self.in_features}): input has {got} features in its last dimension "
                f"(shape {tuple(input.shape)}); expected (..., {self.in_features})"
            )
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
