"""Flatten and Unflatten: reshape between image-like and vector-like layouts inside a Sequential."""

from __future__ import annotations

from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with the defaults,
    the step between a convolutional feature extractor and a Linear classifier."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim and not (-input.ndim <= self.start_dim < input.ndim and -input.ndim <= self.end_dim < input.ndim):
            raise IndexError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}): out of range for an input "
                f"of shape {tuple(input.shape)}"
            )
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: Unflatten(1, (C, H, W)) turns
    (N, C*H*W) into (N, C, H, W). One entry of unflattened_size may be -1."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        if not -input.ndim <= self.dim < input.ndim:
            raise IndexError(f"Unflatten(dim={self.dim}): out of range for an input of shape {tuple(input.shape)}")
        d = self.dim % input.ndim
        sizes = self.unflattened_size
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        n = input.shape[d]
        ok = (n % known == 0 and known > 0) if -1 in sizes else known == n
        if not ok or sizes.count(-1) > 1:
            raise ValueError(
                f"Unflatten(dim={self.dim}, unflattened_size={sizes}): dimension {d} of the input "
                f"(shape {tuple(input.shape)}) has size {n}, which does not split into {sizes}"
            )
        return input.reshape(input.shape[:d] + sizes + input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
