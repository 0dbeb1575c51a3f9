"""Neural-network building blocks: ``engine.nn.Module`` and layers (torch.nn names).

Every layer class lives in ``engine/nn/modules/`` (one file per family) and is re-exported here,
so ``engine.nn.Conv2d`` works as ``torch.nn.Conv2d`` does.
"""

from engine.nn import functional, init  # noqa: F401
from engine.nn.module import Module  # noqa: F401
from engine.nn.modules import *  # noqa: F401,F403  (every layer class; see modules/__init__.py)
from engine.tensor import Parameter  # noqa: F401
