"""Degradation: render a high-quality image as a lower-quality acquisition.

Uses: (1) harmonising multi-site data — train on high-quality scans degraded to look like the
low-resolution, noisier scans of other sites, so the model does not learn site quality as a
feature; (2) making (degraded, original) pairs for super-resolution and denoising.
The image grid is unchanged (downsampled images are resampled back to the original size), so
masks and landmarks stay valid and are left untouched.
"""

from __future__ import annotations

import numpy as np

from engine.data.transforms._util import draw, spatial_shape, to_range
from engine.data.transforms.base import Transform
from engine.data.transforms.intensity import RandomGaussianBlur, RandomGaussianNoise
from engine.data.transforms.spatial import resize_sample

__all__ = ["RandomDownsample", "RandomDegrade"]


class RandomDownsample(Transform):
    """Simulate a lower resolution: downsample by a factor f, then resample back to the same size.

    factor: f uniform in (low, high) (a number v means (1, v)); f = 2 halves the resolution.
    axes: None downsamples every spatial axis by f (isotropic); a tuple of spatial axes picks one
        of them at random and downsamples only that one (anisotropic: thick slices, as in 2D
        clinical MRI stacks; torchio: RandomAnisotropy).
    order: interpolation order of the upsampling (1 linear, 3 cubic; 0 gives a blocky look).
    Downsampling is anti-aliased (Gaussian prefilter, see Resize), as a scanner's slice profile
    and pixel size average the signal rather than picking points.
    """

    random = True

    def __init__(self, factor=(1.5, 3.0), axes=None, order: int = 1):
        if np.isscalar(factor):
            self.factor = (1.0, float(factor))
        else:
            self.factor = to_range(factor, "factor", "RandomDownsample")
        if self.factor[0] < 1.0:
            raise ValueError(f"RandomDownsample: factor must be >= 1 (1 = unchanged), got {factor}")
        self.axes = None if axes is None else tuple(int(a) for a in axes)
        if self.axes is not None and not self.axes:
            raise ValueError("RandomDownsample: axes must be None or a non-empty tuple")
        self.order = int(order)

    def apply(self, sample: dict, rng) -> dict:
        spatial = spatial_shape(sample["image"])
        d = len(spatial)
        f = draw(rng, self.factor)
        if self.axes is None:
            chosen = tuple(range(d))
        else:
            if any(not 0 <= a < d for a in self.axes):
                raise ValueError(
                    f"RandomDownsample: axes must lie in [0, {d}) for a {d}D image, got {self.axes}"
                )
            chosen = (self.axes[int(rng.integers(len(self.axes)))],)
        low = tuple(max(1, round(n / f)) if a in chosen else n for a, n in enumerate(spatial))
        image_only = {"image": sample["image"]}
        small = resize_sample(image_only, low, order=1, anti_alias=True)
        back = resize_sample(small, spatial, order=self.order, anti_alias=False)
        out = dict(sample)
        out["image"] = back["image"]
        return out


class RandomDegrade(Transform):
    """A random mix of degradations, each applied with probability ``p``, in acquisition order:
    lower resolution, then blur, then noise. ``None`` disables a step.

    downsample: factor range for RandomDownsample (and ``axes``: its axes argument).
    blur_sigma: sigma range for RandomGaussianBlur. noise_std: std range for RandomGaussianNoise.
    keep_original: if a key name (e.g. "target"), the undegraded image is stored under it, which
        makes (input, target) pairs for super-resolution or denoising.
    """

    random = True

    def __init__(self, downsample=(1.5, 3.0), blur_sigma=(0.5, 1.5), noise_std=(0.0, 0.05), p: float = 0.5,
                 axes=None, keep_original: str | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomDegrade: p must be in [0, 1], got {p}")
        self.steps = []
        if downsample is not None:
            self.steps.append(RandomDownsample(downsample, axes=axes))
        if blur_sigma is not None:
            self.steps.append(RandomGaussianBlur(blur_sigma))
        if noise_std is not None:
            self.steps.append(RandomGaussianNoise(noise_std))
        self.p = float(p)
        self.keep_original = keep_original

    def apply(self, sample: dict, rng) -> dict:
        original = sample["image"]
        for step in self.steps:
            if rng.random() < self.p:
                sample = step(sample, rng=rng)
        if self.keep_original is not None:
            sample = dict(sample)
            sample[self.keep_original] = original
        return sample
