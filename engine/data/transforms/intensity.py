"""Intensity augmentation: change the image's values, never the mask or the landmarks.

Integer images are converted to float32 first; float images keep their dtype. Ranges written as
one number v mean a symmetric range (see each class). Amounts are in image units, so apply these
after normalisation (e.g. ``ZScoreNormalize``) to make the numbers mean the same for every scan.
"""

from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.data.transforms._util import as_float, channel_stat, draw, like, to_range
from engine.data.transforms.base import Transform

__all__ = [
    "RandomIntensityShift",
    "RandomIntensityScale",
    "RandomGamma",
    "RandomContrast",
    "RandomGaussianNoise",
    "RandomGaussianBlur",
    "gaussian_blur",
]


def _with_image(sample: dict, image) -> dict:
    out = dict(sample)
    out["image"] = image
    return out


def _per_channel(values, x):
    """Per-channel values as a (C, 1, ..., 1) array on x's device and of x's dtype."""
    host = np.asarray(values, dtype=x.dtype).reshape((len(values),) + (1,) * (x.ndim - 1))
    return like(host, x)


class RandomIntensityShift(Transform):
    """x + delta; offset: v meaning delta in (-v, v), or (low, high).
    channel_wise: a separate delta per channel. MONAI: RandShiftIntensity."""

    random = True

    def __init__(self, offset=0.1, channel_wise: bool = False):
        self.offset = to_range(offset, "offset", "RandomIntensityShift")
        self.channel_wise = bool(channel_wise)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        if self.channel_wise:
            return _with_image(sample, x + _per_channel(draw(rng, self.offset, size=x.shape[0]), x))
        return _with_image(sample, x + draw(rng, self.offset))


class RandomIntensityScale(Transform):
    """x * f; scale: v meaning f in (1 - v, 1 + v), or (low, high).
    channel_wise: a separate factor per channel. MONAI: RandScaleIntensity."""

    random = True

    def __init__(self, scale=0.1, channel_wise: bool = False):
        self.scale = to_range(scale, "scale", "RandomIntensityScale", around=1.0)
        self.channel_wise = bool(channel_wise)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        if self.channel_wise:
            return _with_image(sample, x * _per_channel(draw(rng, self.scale, size=x.shape[0]), x))
        return _with_image(sample, x * draw(rng, self.scale))


class RandomGamma(Transform):
    """Gamma correction within each channel's range: with lo, hi the channel's min and max,
    ``y = lo + (hi - lo) * ((x - lo) / (hi - lo)) ** gamma``, gamma = exp(g), g uniform in
    ``log_gamma`` (v meaning (-v, v)). gamma < 1 brightens dark tissue, > 1 darkens it; the range
    [lo, hi] is kept. torchio: RandomGamma; MONAI: RandAdjustContrast.
    """

    random = True

    def __init__(self, log_gamma=0.3):
        self.log_gamma = to_range(log_gamma, "log_gamma", "RandomGamma")

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        xp = backend.get_array_module(x)
        gamma = math.exp(draw(rng, self.log_gamma))
        lo = channel_stat(x, xp.min, channel_wise=True)
        span = channel_stat(x, xp.max, channel_wise=True) - lo
        span = xp.maximum(span, xp.finfo(x.dtype).tiny)  # a constant channel stays constant
        return _with_image(sample, (((x - lo) / span) ** gamma * span + lo).astype(x.dtype))


class RandomContrast(Transform):
    """Stretch values about each channel's mean: ``y = (x - mean) * f + mean``, f uniform in
    ``factor`` (v meaning (1 - v, 1 + v)). preserve_range: clip to the channel's original
    [min, max] (as in nnU-Net's contrast augmentation; Isensee et al., Nature Methods 18, 2021).
    """

    random = True

    def __init__(self, factor=0.25, preserve_range: bool = True):
        self.factor = to_range(factor, "factor", "RandomContrast", around=1.0, nonnegative=True)
        self.preserve_range = bool(preserve_range)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        xp = backend.get_array_module(x)
        f = draw(rng, self.factor)
        mean = channel_stat(x, xp.mean, channel_wise=True)
        y = (x - mean) * f + mean
        if self.preserve_range:
            y = xp.clip(y, channel_stat(x, xp.min, True), channel_stat(x, xp.max, True))
        return _with_image(sample, y.astype(x.dtype))


class RandomGaussianNoise(Transform):
    """x + mean + sigma * n, n standard normal per pixel, sigma uniform in ``std`` (v meaning
    (0, v)). The noise is drawn on the host from ``rng`` (so every device gets the same noise for
    a seed) and moved to the image's device. MONAI: RandGaussianNoise; torchio: RandomNoise.
    Note: MRI magnitude noise is Rician rather than Gaussian; Gaussian is the usual approximation
    at reasonable signal-to-noise ratios (Gudbjartsson and Patz, MRM 34, 1995).
    """

    random = True

    def __init__(self, std=0.1, mean: float = 0.0):
        self.std = (0.0, float(std)) if np.isscalar(std) else to_range(std, "std", "RandomGaussianNoise")
        if self.std[0] < 0:
            raise ValueError(f"RandomGaussianNoise: std must be >= 0, got {std}")
        self.mean = float(mean)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        sigma = draw(rng, self.std)
        noise = rng.standard_normal(size=x.shape, dtype=np.float32)
        return _with_image(sample, (x + like(noise, x) * sigma + self.mean).astype(x.dtype))


def gaussian_blur(x, sigma):
    """Gaussian blur of the spatial axes of a channel-first image; sigma: number or one per axis."""
    xp = backend.get_array_module(x)
    ndi = backend.scipy_module(xp, "ndimage")
    d = x.ndim - 1
    sigmas = (float(sigma),) * d if np.isscalar(sigma) else tuple(float(s) for s in sigma)
    return ndi.gaussian_filter(x, sigma=(0.0,) + sigmas, mode="nearest")


class RandomGaussianBlur(Transform):
    """Gaussian smoothing of the spatial axes with sigma (pixels) uniform in ``sigma``
    (v meaning (0, v)); isotropic: one sigma for all axes, else one draw per axis.
    MONAI: RandGaussianSmooth; torchio: RandomBlur."""

    random = True

    def __init__(self, sigma=(0.5, 1.5), isotropic: bool = True):
        if np.isscalar(sigma):
            self.sigma = (0.0, float(sigma))
        else:
            self.sigma = to_range(sigma, "sigma", "RandomGaussianBlur")
        if self.sigma[0] < 0:
            raise ValueError(f"RandomGaussianBlur: sigma must be >= 0, got {sigma}")
        self.isotropic = bool(isotropic)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        d = x.ndim - 1
        sigmas = [draw(rng, self.sigma)] * d if self.isotropic else draw(rng, self.sigma, size=d)
        return _with_image(sample, gaussian_blur(x, sigmas))
