"""Embedding: a trainable lookup table from integer ids (tokens, classes, positions, sites)
to dense vectors."""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional.embedding import _padding_index, embedding
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    """weight: (num_embeddings, embedding_dim), initialised N(0, 1) as PyTorch; the row at
    ``padding_idx`` (if given) starts at zero and receives no gradient.

    input: integer tensor of any shape -> output (*input.shape, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be positive, got "
                             f"({num_embeddings}, {embedding_dim})")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = None if padding_idx is None else _padding_index(padding_idx, num_embeddings, "Embedding")
        if _weight is None:
            xp = backend.xp_for_device(backend.normalize_device(device))
            dt = np.dtype(dtype or get_default_dtype())
            self.weight = Parameter(xp.zeros((num_embeddings, embedding_dim), dtype=dt), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            data = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if tuple(data.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(data.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(data.copy(), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (num, dim), frozen unless freeze=False."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(embeddings.shape)}")
        num, dim = embeddings.shape
        return cls(num, dim, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
