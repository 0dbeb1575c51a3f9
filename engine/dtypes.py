"""Floating-point defaults. float32 is the default, as in PyTorch; gradient checks use float64."""

from __future__ import annotations

import numpy as np

float16 = np.float16
float32 = np.float32
float64 = np.float64
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_
long = np.int64
double = np.float64

_default = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype Python floats and random factories produce (float32 unless changed)."""
    return _default


def set_default_dtype(dtype) -> None:
    """Change the default floating dtype (float32 or float64)."""
    global _default
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default = dtype


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"
