"""One seed for every random source: ``engine.manual_seed(n)``.

Random tensors are drawn on the host from a NumPy Generator and then moved to their device,
so a CPU run and a GPU run with the same seed start from identical weights. The same seed
also seeds Python's ``random``, NumPy's legacy global state (used by some SciPy routines) and,
when present, CuPy's generator.
"""

from __future__ import annotations

import random as _pyrandom

import numpy as np

_generator = np.random.default_rng(0)
_seed = 0


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random source used by medgrad; returns the engine's generator."""
    global _generator, _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _seed = seed
    _generator = np.random.default_rng(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % 2**32)
    from engine import backend

    if backend.cuda_is_available():  # pragma: no cover - needs a GPU
        import cupy

        cupy.random.seed(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The engine's host generator (weight initialisation, dropout masks, random factories)."""
    return _generator


def initial_seed() -> int:
    return _seed


def get_rng_state() -> dict:
    """The generator's state, to save in a checkpoint (plain JSON-able data)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator.bit_generator.state = state
