"""Input checks shared by the metric modules.

Metrics are evaluated on the host: every array is copied to NumPy once, at the boundary
(``engine.backend.asnumpy`` accepts NumPy, CuPy and strict-device arrays alike), and each bad
input raises a ValueError/TypeError that names the metric and the shapes involved.
"""

from __future__ import annotations

import numpy as np

from engine.backend import asnumpy


class UndefinedMetricError(ValueError):
    """The metric has no value on this (valid) input, e.g. an AUC when only one class is present.

    A subclass of ValueError, so ordinary callers see a ValueError; ``bootstrap_ci`` catches
    exactly this class to skip resamples on which the metric is undefined.
    """


def host(fn: str, name: str, a) -> np.ndarray:
    """``a`` as a NumPy array (copied from a device if needed); refuses None and objects."""
    if a is None:
        raise TypeError(f"{fn}: {name} is None")
    out = asnumpy(a)
    if out.dtype == object:
        raise TypeError(f"{fn}: {name} must be numeric, got an object array of shape {out.shape}")
    return out


def nonempty(fn: str, **arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if a.size == 0:
            raise ValueError(f"{fn}: {name} is empty (shape {a.shape})")


def same_length(fn: str, **arrays: np.ndarray) -> int:
    """Check that all arrays have the same first dimension and return it."""
    lengths = {name: (a.shape[0] if a.ndim else None) for name, a in arrays.items()}
    if any(v is None for v in lengths.values()) or len(set(lengths.values())) != 1:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(f"{fn}: inputs must have the same number of samples, got {shapes}")
    return next(iter(lengths.values()))


def same_shape(fn: str, **arrays: np.ndarray) -> None:
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        desc = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(f"{fn}: inputs must have the same shape, got {desc}")


def vector(fn: str, name: str, a) -> np.ndarray:
    """A 1-D array; (N, 1) column vectors (MedMNIST's label layout) are accepted and flattened."""
    a = host(fn, name, a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-D (N,) or (N, 1), got shape {a.shape}")
    return a


def finite(fn: str, name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must be numeric, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{fn}: {name} contains NaN or infinite values")
    return a


def labels(fn: str, name: str, a: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Integer class indices in [0, n_classes) as int64 (bool and integral floats are accepted)."""
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{fn}: {name} must hold integer class indices, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or np.any(a != np.round(a)):
            raise ValueError(f"{fn}: {name} must hold integer class indices, got non-integer values")
    out = a.astype(np.int64)
    if out.size and out.min() < 0:
        raise ValueError(f"{fn}: {name} has negative class index {out.min()}; classes are 0..K-1")
    if n_classes is not None and out.size and out.max() >= n_classes:
        raise ValueError(
            f"{fn}: {name} has class index {out.max()} but n_classes={n_classes} (valid: 0..{n_classes - 1})"
        )
    return out


def binary_labels(fn: str, name: str, a: np.ndarray) -> np.ndarray:
    """Labels restricted to {0, 1} (1 is the positive class)."""
    out = labels(fn, name, a)
    if out.size and out.max() > 1:
        raise ValueError(
            f"{fn}: {name} must be binary (0 = negative, 1 = positive), found classes {np.unique(out)}"
        )
    return out


def label_pair(fn: str, y_true, y_pred, n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated (y_true, y_pred, K) for metrics on two label vectors."""
    y_true = vector(fn, "y_true", y_true)
    y_pred = vector(fn, "y_pred", y_pred)
    same_length(fn, y_true=y_true, y_pred=y_pred)
    nonempty(fn, y_true=y_true)
    if n_classes is not None and (int(n_classes) != n_classes or n_classes < 1):
        raise ValueError(f"{fn}: n_classes must be a positive integer, got {n_classes!r}")
    y_true = labels(fn, "y_true", y_true, n_classes)
    y_pred = labels(fn, "y_pred", y_pred, n_classes)
    k = int(n_classes) if n_classes is not None else int(max(y_true.max(), y_pred.max())) + 1
    return y_true, y_pred, k
