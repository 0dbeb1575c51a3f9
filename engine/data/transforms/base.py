"""The transform protocol: samples, randomness, composition.

**Sample convention.** A transform is called as ``t(sample, rng=None)`` where ``sample`` is either

* a channel-first image array — ``(C, H, W)`` in 2D or ``(C, D, H, W)`` in 3D — and the result is
  the transformed array; or
* a dict ``{"image": (C, *spatial), "mask": ..., "points": ...}`` and the result is a new dict with
  the same keys. ``"mask"`` (optional) is a label map on the same grid: ``(*spatial)`` or
  ``(C_mask, *spatial)``. ``"points"`` (optional) are landmarks ``(K, ndim)`` in array-index
  coordinates of the spatial axes (``(row, col)`` in 2D, ``(z, y, x)`` in 3D; pixel centres at
  integers). Other keys (labels, ids...) are passed through untouched.

Geometric transforms move image, mask and points together (the mask with nearest-neighbour
interpolation, order 0, so labels stay labels); intensity transforms change only the image.

**Randomness.** ``rng`` is a ``numpy.random.Generator`` (or an int seed). Random parameters
(angles, offsets, noise) are drawn from it on the host, so the same seed gives the same augmented
sample on every device. Without ``rng`` a random transform draws from fresh OS entropy;
``Compose(..., seed=s)`` owns a generator that its transforms share.

**Devices.** Transforms take the array module from the image (``engine.backend``): NumPy arrays
stay on the CPU, CuPy arrays on the GPU (``cupyx.scipy.ndimage``). Host-drawn random arrays are
moved to the image's device explicitly with ``engine.backend.to_device``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine import backend

__all__ = ["Transform", "Compose", "RandomApply", "OneOf", "as_generator"]


def as_generator(rng) -> np.random.Generator:
    """A Generator from a Generator (returned as is, so its state advances), an int seed, or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def check_sample(sample: dict, who: str) -> dict:
    """Validate a sample dict (see module docstring); returns it with points as an array."""
    if "image" not in sample:
        raise KeyError(f"{who}: the sample dict needs an 'image' entry, got keys {sorted(sample)}")
    image = sample["image"]
    if not backend.is_array(image):
        raise TypeError(f"{who}: image must be an array, got {type(image).__name__}")
    if image.ndim not in (3, 4):
        raise ValueError(
            f"{who}: image must be channel-first (C, H, W) or (C, D, H, W), got shape {tuple(image.shape)}"
        )
    spatial = tuple(image.shape[1:])
    d = len(spatial)
    mask = sample.get("mask")
    if mask is not None:
        if not backend.is_array(mask):
            raise TypeError(f"{who}: mask must be an array, got {type(mask).__name__}")
        if mask.ndim not in (d, d + 1) or tuple(mask.shape[-d:]) != spatial:
            raise ValueError(
                f"{who}: mask shape {tuple(mask.shape)} does not match image shape {tuple(image.shape)}: "
                f"expected {spatial} or (C_mask, *{spatial})"
            )
    points = sample.get("points")
    if points is not None:
        if not backend.is_array(points):
            points = np.asarray(points, dtype=np.float64)
            sample["points"] = points
        if points.ndim != 2 or points.shape[1] != d:
            raise ValueError(
                f"{who}: points must have shape (K, {d}) for a {d}D image of shape {tuple(image.shape)}, "
                f"got {tuple(points.shape)}"
            )
    return sample


class Transform:
    """Base class. Subclasses implement ``apply(sample: dict, rng) -> dict`` on a validated
    sample dict; ``__call__`` handles the bare-array form and validation.

    ``random``: whether the transform draws from ``rng`` (deterministic ones ignore it).
    """

    random = False

    def __call__(self, sample, rng=None):
        bare = not isinstance(sample, dict)
        s = check_sample({"image": sample} if bare else dict(sample), type(self).__name__)
        out = self.apply(s, as_generator(rng) if self.random else rng)
        return out["image"] if bare else out

    def apply(self, sample: dict, rng) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement apply(sample, rng)")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _check_transforms(transforms, who: str) -> list:
    if callable(transforms):
        transforms = [transforms]
    transforms = list(transforms)
    for t in transforms:
        if not callable(t):
            raise TypeError(f"{who}: every transform must be callable, got {type(t).__name__}")
    return transforms


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from one generator.

    transforms: Transforms, or callables ``f(sample_dict, rng=Generator) -> sample_dict``.
    seed: seed of the generator used when the call gives no ``rng`` (its state advances from call
        to call, so a fresh ``Compose(..., seed=s)`` replays the same sequence of augmentations).
    """

    random = True

    def __init__(self, transforms: Sequence, seed=None):
        self.transforms = _check_transforms(transforms, "Compose")
        self._rng = np.random.default_rng(seed)

    def __call__(self, sample, rng=None):
        return super().__call__(sample, self._rng if rng is None else rng)

    def apply(self, sample: dict, rng) -> dict:
        for t in self.transforms:
            sample = t(sample, rng=rng)
        return sample


class RandomApply(Transform):
    """Apply the transform(s) with probability ``p`` (a list is applied in order, as Compose)."""

    random = True

    def __init__(self, transforms, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomApply: p must be in [0, 1], got {p}")
        self.transforms = _check_transforms(transforms, "RandomApply")
        self.p = float(p)

    def apply(self, sample: dict, rng) -> dict:
        if rng.random() < self.p:
            for t in self.transforms:
                sample = t(sample, rng=rng)
        return sample


class OneOf(Transform):
    """Apply exactly one of ``transforms``, chosen with probabilities ``weights`` (default equal)."""

    random = True

    def __init__(self, transforms: Sequence, weights=None):
        self.transforms = _check_transforms(transforms, "OneOf")
        if not self.transforms:
            raise ValueError("OneOf: needs at least one transform")
        w = np.ones(len(self.transforms)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.transforms),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"OneOf: weights must be {len(self.transforms)} non-negative numbers, not all zero; "
                f"got {weights}"
            )
        self.weights = w / w.sum()

    def apply(self, sample: dict, rng) -> dict:
        k = int(rng.choice(len(self.transforms), p=self.weights))
        return self.transforms[k](sample, rng=rng)
