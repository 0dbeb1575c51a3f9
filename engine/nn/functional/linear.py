"""The affine map of a fully connected layer, y = x W^T + b, as one fused operation.

A perceptron computes Output = phi(W^T x + b) for one input column x; with a batch of inputs
stored as rows (x: (N, in)) and PyTorch's weight layout W: (out, in), the same map reads
y = x W^T + b, one row per sample. Fusing the product and the bias into one Function saves an
intermediate array and a graph node, and its backward skips the input gradient when the input
does not need one (the first layer's data), which a generic matmul cannot know.
"""

from __future__ import annotations

from engine.autograd import Function
from engine.tensor import Tensor

__all__ = ["linear", "LinearFunction", "check_linear"]


def _linear_grads(g, x, w, need_x: bool, need_w: bool, need_b: bool):
    """Gradients of y = x W^T + b (x: (..., in), W: (out, in), b: (out,), g = dL/dy: (..., out)):

        dL/dx = g W          dL/dW = g^T x  (summed over all leading dims)      dL/db = sum g

    Written once for raw arrays and for Tensors alike (both have @, .T, reshape and sum), so
    the same lines serve the fast first-order pass and the differentiable create_graph pass.
    """
    out_features, in_features = w.shape
    g2 = g.reshape(-1, out_features)  # all leading dims as one batch: a single matrix product
    gx = (g2 @ w).reshape(x.shape) if need_x else None
    gw = g2.T @ x.reshape(-1, in_features) if need_w else None
    gb = g2.sum(axis=0) if need_b else None
    return gx, gw, gb


class LinearFunction(Function):
    """y = x W^T + b.   dL/dx = g W,  dL/dW = g^T x,  dL/db = sum over samples of g.

    x: (..., in), W: (out, in), b: (out,) or absent; y: (..., out).
    """

    def forward(self, x, w, b=None):
        # (..., in) as one (M, in) matrix: one BLAS call instead of a loop over leading dims
        y = x.reshape(-1, w.shape[1]) @ w.T
        if b is not None:
            y += b  # y is a fresh array, so adding in place costs no extra memory
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def _needed(self):
        x, w = self.inputs[0], self.inputs[1]
        has_b = len(self.inputs) == 3
        return has_b, (x.requires_grad, w.requires_grad, has_b and self.inputs[2].requires_grad)

    def backward(self, gy):
        """Differentiable: the formulas on Tensors (used by create_graph=True)."""
        has_b, need = self._needed()
        grads = _linear_grads(gy, self.inputs[0], self.inputs[1], *need)
        return grads if has_b else grads[:2]

    def backward_arrays(self, gy):
        """The same lines on raw arrays: the usual first-order pass, with no graph bookkeeping."""
        has_b, need = self._needed()
        grads = _linear_grads(gy, self.inputs[0].data, self.inputs[1].data, *need)
        return grads if has_b else grads[:2]


def check_linear(input: Tensor, weight: Tensor, bias: Tensor | None, op: str = "linear") -> None:
    """One clear line for an input, weight or bias that y = input W^T + b cannot take (also used by
    layers that fuse this product into a larger op, such as the fused LSTM, under their own name)."""
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    out_features, in_features = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_features:
        got = input.shape[-1] if input.ndim else "no"
        raise ValueError(
            f"{op}: input has {got} features in its last dimension (shape {tuple(input.shape)}) but the "
            f"weight of shape {tuple(weight.shape)} expects {in_features}"
        )
    if bias is not None and tuple(bias.shape) != (out_features,):
        raise ValueError(f"{op}: bias must have shape ({out_features},), got {tuple(bias.shape)}")
    if input.dtype != weight.dtype:
        raise TypeError(
            f"{op}: input dtype {input.dtype} differs from weight dtype {weight.dtype} "
            f"(convert the input with .float() / .double(), or the layer with .to(dtype))"
        )


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input W^T + b.   input: (..., in), weight: (out, in), bias: (out,) or None -> (..., out)."""
    check_linear(input, weight, bias)
    if bias is None:
        return LinearFunction()(input, weight)
    return LinearFunction()(input, weight, bias)
