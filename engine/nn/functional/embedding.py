"""Embedding lookup: row ``i`` of a weight table for every integer index i.

Looking up rows is multiplying a one-hot vector by the table, so the gradient of a row is the
sum of the output gradients of every position that looked it up: a scatter-add (an index can
occur many times in a batch, and plain assignment would keep only one of its contributions).
"""

from __future__ import annotations

from engine import backend
from engine.autograd import Function
from engine.tensor import Tensor

__all__ = ["embedding", "EmbeddingFunction"]


class EmbeddingFunction(Function):
    """y[...] = W[indices[...]]   (W: (num, dim), indices: any integer shape -> y: (*indices.shape, dim)).

    dL/dW[i] = sum of dL/dy over the positions where indices == i (zero for ``padding_idx``).
    """

    def __init__(self, indices, padding_idx: int | None):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        return weight[self.indices]

    def backward(self, gy):
        (weight,) = self.inputs
        return EmbeddingBackward(self.indices, self.padding_idx, weight.shape[0])(gy)


class EmbeddingBackward(Function):
    """gW = zeros(num, dim); gW[indices] += g (repeats accumulate); gW[padding_idx] = 0.
    Linear in g; its own backward is the lookup again (for second derivatives)."""

    def __init__(self, indices, padding_idx: int | None, num_embeddings: int):
        self.indices, self.padding_idx, self.num = indices, padding_idx, num_embeddings

    def forward(self, g):
        dim = g.shape[-1]
        out = self.xp.zeros((self.num, dim), dtype=g.dtype)
        backend.scatter_add(out, self.indices.reshape(-1), g.reshape(-1, dim))
        if self.padding_idx is not None:
            out[self.padding_idx] = 0
        return out

    def backward(self, ggw):
        return EmbeddingFunction(self.indices, self.padding_idx)(ggw)


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` indices.

    input: integer tensor of any shape -> output (*input.shape, embedding_dim). The row at
    ``padding_idx`` receives no gradient (it stays whatever it is, usually zeros).
    """
    indices = input.data if isinstance(input, Tensor) else input
    if not backend.is_array(indices):
        raise TypeError(f"embedding: input must be an integer tensor, got {type(input).__name__}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got dtype {indices.dtype} "
                        f"(shape {tuple(indices.shape)}); convert with .long()")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    if backend.device_of(indices) != weight.device:
        raise RuntimeError(f"embedding: indices are on {backend.device_of(indices)} but the weight is on "
                           f"{weight.device}; move them with .to(device)")
    num = weight.shape[0]
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= num:
            raise IndexError(
                f"embedding: index out of range: indices span [{lo}, {hi}] but there are {num} embeddings "
                f"(input shape {tuple(indices.shape)})"
            )
    if padding_idx is not None:
        padding_idx = _padding_index(padding_idx, num, "embedding")
    return EmbeddingFunction(indices, padding_idx)(weight)


def _padding_index(padding_idx: int, num: int, op: str) -> int:
    if not -num <= padding_idx < num:
        raise ValueError(f"{op}: padding_idx={padding_idx} must be within [-{num}, {num}) for {num} embeddings")
    return padding_idx % num
