"""Cropping and padding to a fixed spatial size (exact: no interpolation).

Image, mask and landmarks are cropped/padded together; a landmark's coordinates shift by the
crop offset (or the padding before it). See ``engine.data.transforms.base`` for the sample
convention.
"""

from __future__ import annotations

import numpy as np

from engine import backend
from engine.data.transforms._util import parse_size, spatial_shape
from engine.data.transforms.base import Transform
from engine.data.transforms.spatial import map_points

__all__ = ["PadTo", "CenterCrop", "CropOrPad", "RandomCrop"]


def _pad(sample: dict, before, after, mode: str, value: float) -> dict:
    """Pad the spatial axes of image and mask; the mask gets 0 where the image gets ``value``."""
    if not any(before) and not any(after):
        return sample
    out = dict(sample)
    for key, fill in (("image", value), ("mask", 0)):
        arr = sample.get(key)
        if arr is None:
            continue
        xp = backend.get_array_module(arr)
        lead = arr.ndim - len(before)
        widths = [(0, 0)] * lead + list(zip(before, after))
        kwargs = {"constant_values": fill} if mode == "constant" else {}
        out[key] = xp.pad(arr, widths, mode=mode, **kwargs)
    if sample.get("points") is not None:
        d = len(before)
        out["points"] = map_points(sample["points"], np.eye(d), np.asarray(before, dtype=np.float64))
    return out


def _pad_to(sample: dict, size, mode: str, value: float) -> dict:
    """Pad each spatial axis shorter than ``size`` symmetrically (the odd pixel at the end)."""
    spatial = spatial_shape(sample["image"])
    missing = [max(0, s - n) for s, n in zip(size, spatial)]
    before = [m // 2 for m in missing]
    after = [m - b for m, b in zip(missing, before)]
    return _pad(sample, before, after, mode, value)


def _crop(sample: dict, start, size) -> dict:
    """Crop image and mask to the box ``start .. start + size`` of the spatial axes."""
    d = len(size)
    box = tuple(slice(s, s + n) for s, n in zip(start, size))
    out = dict(sample)
    for key in ("image", "mask"):
        arr = sample.get(key)
        if arr is not None:
            out[key] = arr[(slice(None),) * (arr.ndim - d) + box]
    if sample.get("points") is not None:
        out["points"] = map_points(sample["points"], np.eye(d), -np.asarray(start, dtype=np.float64))
    return out


def _centre_start(spatial, size) -> list[int]:
    return [(n - s) // 2 for n, s in zip(spatial, size)]


class PadTo(Transform):
    """Pad every spatial axis to at least ``size`` (int or one per axis), centred.

    mode: ``numpy.pad`` mode ("constant", "edge", "reflect", ...); value: the image's fill for
    "constant" (masks are filled with 0). Axes already long enough are left alone.
    MONAI: SpatialPad.
    """

    def __init__(self, size, mode: str = "constant", value: float = 0.0):
        self.size, self.mode, self.value = size, mode, float(value)

    def apply(self, sample: dict, rng) -> dict:
        size = parse_size(self.size, sample["image"].ndim - 1, "PadTo")
        return _pad_to(sample, size, self.mode, self.value)


class CenterCrop(Transform):
    """Crop the central ``size`` box (int or one per axis); the image must be at least that big
    (use CropOrPad otherwise). MONAI: CenterSpatialCrop."""

    def __init__(self, size):
        self.size = size

    def apply(self, sample: dict, rng) -> dict:
        spatial = spatial_shape(sample["image"])
        size = parse_size(self.size, len(spatial), "CenterCrop")
        if any(s > n for s, n in zip(size, spatial)):
            raise ValueError(
                f"CenterCrop: crop size {size} exceeds the image's spatial shape {spatial}; "
                f"use CropOrPad or PadTo first"
            )
        return _crop(sample, _centre_start(spatial, size), size)


class CropOrPad(Transform):
    """Centre-crop or centre-pad every spatial axis to exactly ``size`` (torchio: CropOrPad)."""

    def __init__(self, size, mode: str = "constant", value: float = 0.0):
        self.size, self.mode, self.value = size, mode, float(value)

    def apply(self, sample: dict, rng) -> dict:
        size = parse_size(self.size, sample["image"].ndim - 1, "CropOrPad")
        sample = _pad_to(sample, size, self.mode, self.value)
        return _crop(sample, _centre_start(spatial_shape(sample["image"]), size), size)


class RandomCrop(Transform):
    """Crop a ``size`` box at a random position (padding first where the image is smaller).

    foreground_prob: with this probability the box is centred (as far as it fits) on a random
    foreground pixel of the mask (mask > 0 in any channel), so small lesions are seen often
    enough in training (MONAI: RandCropByPosNegLabel); needs a mask, and falls back to a uniform
    position when the mask is empty.
    pad_mode, value: padding as in PadTo. MONAI: RandSpatialCrop; torchvision: RandomCrop.
    """

    random = True

    def __init__(self, size, foreground_prob: float = 0.0, pad_mode: str = "constant", value: float = 0.0):
        if not 0.0 <= foreground_prob <= 1.0:
            raise ValueError(f"RandomCrop: foreground_prob must be in [0, 1], got {foreground_prob}")
        self.size, self.foreground_prob = size, float(foreground_prob)
        self.pad_mode, self.value = pad_mode, float(value)

    def apply(self, sample: dict, rng) -> dict:
        size = parse_size(self.size, sample["image"].ndim - 1, "RandomCrop")
        sample = _pad_to(sample, size, self.pad_mode, self.value)
        spatial = spatial_shape(sample["image"])
        centre = None
        if self.foreground_prob > 0 and rng.random() < self.foreground_prob:
            centre = self._foreground_pixel(sample, len(spatial), rng)
        if centre is None:
            start = [int(rng.integers(0, n - s + 1)) for n, s in zip(spatial, size)]
        else:
            start = [min(max(c - s // 2, 0), n - s) for c, s, n in zip(centre, size, spatial)]
        return _crop(sample, start, size)

    @staticmethod
    def _foreground_pixel(sample: dict, d: int, rng):
        mask = sample.get("mask")
        if mask is None:
            raise ValueError("RandomCrop: foreground_prob > 0 needs a 'mask' in the sample")
        xp = backend.get_array_module(mask)
        fg = mask > 0
        if fg.ndim > d:
            fg = xp.any(fg, axis=0)
        where = xp.argwhere(fg)  # (K, d) on the mask's device
        if where.shape[0] == 0:
            return None
        k = int(rng.integers(where.shape[0]))
        return [int(v) for v in backend.asnumpy(where[k])]
