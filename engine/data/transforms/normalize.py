"""Intensity normalisation: put every scan's values on a common scale (image only).

MRI intensities have no physical unit and differ between scanners and sessions, so each image is
normalised by its own statistics (CT Hounsfield units are absolute; there a fixed window, i.e.
``PercentileClip`` with fixed bounds or a plain clip, is usual). Statistics are per channel by
default (each MRI contrast on its own). Integer images become float32.
"""

from __future__ import annotations

from engine import backend
from engine.data.transforms._util import as_float, channel_stat
from engine.data.transforms.base import Transform

__all__ = ["ZScoreNormalize", "MinMaxNormalize", "PercentileClip"]


def _with_image(sample: dict, image) -> dict:
    out = dict(sample)
    out["image"] = image
    return out


class ZScoreNormalize(Transform):
    """``(x - mean) / std`` per channel (or over all channels).

    nonzero: compute the statistics over non-zero pixels only and leave zeros at zero (for
    skull-stripped brain MRI, whose background would otherwise dominate the statistics).
    eps: floor for std, so a constant channel maps to 0 instead of dividing by zero.
    MONAI: NormalizeIntensity; torchio: ZNormalization.
    """

    def __init__(self, channel_wise: bool = True, nonzero: bool = False, eps: float = 1e-8):
        self.channel_wise, self.nonzero, self.eps = bool(channel_wise), bool(nonzero), float(eps)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        xp = backend.get_array_module(x)
        if not self.nonzero:
            mean = channel_stat(x, xp.mean, self.channel_wise)
            std = channel_stat(x, xp.std, self.channel_wise)
            return _with_image(sample, ((x - mean) / xp.maximum(std, self.eps)).astype(x.dtype))
        keep = (x != 0).astype(x.dtype)
        count = xp.maximum(channel_stat(keep, xp.sum, self.channel_wise), 1.0)
        mean = channel_stat(x * keep, xp.sum, self.channel_wise) / count
        var = channel_stat(((x - mean) * keep) ** 2, xp.sum, self.channel_wise) / count
        y = (x - mean) / xp.maximum(xp.sqrt(var), self.eps) * keep
        return _with_image(sample, y.astype(x.dtype))


class MinMaxNormalize(Transform):
    """Rescale linearly so the minimum maps to ``out_range[0]`` and the maximum to
    ``out_range[1]`` (per channel by default); a constant channel maps to ``out_range[0]``.
    MONAI: ScaleIntensity; torchio: RescaleIntensity."""

    def __init__(self, out_range=(0.0, 1.0), channel_wise: bool = True):
        low, high = (float(v) for v in out_range)
        if not low < high:
            raise ValueError(
                f"MinMaxNormalize: out_range must be (low, high) with low < high, got {out_range}"
            )
        self.out_range, self.channel_wise = (low, high), bool(channel_wise)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        xp = backend.get_array_module(x)
        lo = channel_stat(x, xp.min, self.channel_wise)
        span = channel_stat(x, xp.max, self.channel_wise) - lo
        unit = (x - lo) / xp.maximum(span, xp.finfo(x.dtype).tiny)
        low, high = self.out_range
        return _with_image(sample, (unit * (high - low) + low).astype(x.dtype))


class PercentileClip(Transform):
    """Clip values to the [lower, upper] percentiles (per channel by default), which removes
    outliers such as bright vessels or artefacts before normalising; with ``rescale`` the clipped
    range is then mapped linearly to [0, 1].
    MONAI: ScaleIntensityRangePercentiles (nnU-Net clips CT to the 0.5 / 99.5 percentiles).
    """

    def __init__(self, lower: float = 0.5, upper: float = 99.5, rescale: bool = False,
                 channel_wise: bool = True):
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(
                f"PercentileClip: need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}"
            )
        self.lower, self.upper = float(lower), float(upper)
        self.rescale, self.channel_wise = bool(rescale), bool(channel_wise)

    def apply(self, sample: dict, rng) -> dict:
        x = as_float(sample["image"])
        xp = backend.get_array_module(x)
        lo = channel_stat(x, lambda a, axis: xp.percentile(a, self.lower, axis=axis), self.channel_wise)
        hi = channel_stat(x, lambda a, axis: xp.percentile(a, self.upper, axis=axis), self.channel_wise)
        lo, hi = lo.astype(x.dtype), hi.astype(x.dtype)
        y = xp.clip(x, lo, hi)
        if self.rescale:
            y = (y - lo) / xp.maximum(hi - lo, xp.finfo(x.dtype).tiny)
        return _with_image(sample, y.astype(x.dtype))
