"""Neural-network building blocks: ``engine.nn.Module`` and layers (torch.nn names)."""

from engine.nn import functional  # noqa: F401
from engine.nn.module import Module  # noqa: F401
from engine.tensor import Parameter  # noqa: F401
