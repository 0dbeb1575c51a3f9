"""A centre-point (heatmap) detector for signals, images and volumes (CenterNet-style, Zhou et al. 2019).

Detection as dense prediction: a fully convolutional network outputs, at every sample/pixel/voxel, the
logit that an object's centre is there (and optionally the object's radius). Training targets are
Gaussian bumps at the true centres (``gaussian_heatmap``), learned with the penalty-reduced focal loss
(``engine.nn.functional.heatmap_focal_loss``). At test time the candidates are the heatmap's local
maxima (``heatmap_peaks``): a pixel is kept when it equals the maximum of its neighbourhood, which one
max-pooling pass computes for the whole batch at once (CenterNet's "NMS by max pooling"), instead of
sorting boxes and suppressing overlaps one by one.

The network is a small U-Net (Ronneberger et al. 2015): ``depth`` down-sampling levels of two 3x3 (or
``kernel_size``) convolutions with batch norm and ReLU, nearest-neighbour up-sampling with skip
connections, and 1x1 heads at full resolution. The same code builds the 1D (ECG), 2D and 3D versions.
"""

from __future__ import annotations

import math

import numpy as np

import engine
import engine.nn.functional as F
from engine import nn
from engine.backend import asnumpy

__all__ = ["HeatmapDetector", "gaussian_heatmap", "heatmap_peaks"]

_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, F.max_pool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, F.max_pool2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, F.max_pool3d),
}


def _dims(dims: int, op: str) -> int:
    if dims not in _LAYERS:
        raise ValueError(f"{op}: dims must be 1 (signals), 2 (images) or 3 (volumes), got {dims}")
    return dims


class _Block(nn.Module):
    """(conv -> batch norm -> ReLU) x 2, keeping the spatial size."""

    def __init__(self, dims: int, c_in: int, c_out: int, k: int):
        super().__init__()
        Conv, BN, _, _ = _LAYERS[dims]
        self.body = nn.Sequential(Conv(c_in, c_out, k, padding=k // 2, bias=False), BN(c_out), nn.ReLU(),
                                  Conv(c_out, c_out, k, padding=k // 2, bias=False), BN(c_out), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class HeatmapDetector(nn.Module):
    """x: (N, C, *spatial) -> (N, 1, *spatial) centre logits; with ``size_head`` (N, 2, *spatial):
    channel 0 the centre logits, channel 1 the regressed radius (one output tensor, so the model trains
    with the framework's Trainer like any other).

    dims: 1, 2 or 3 spatial dimensions; width: channels of the first level (doubled per level);
    depth: number of 2x down-sampling steps (every spatial size must be divisible by 2**depth);
    kernel_size: odd convolution kernel; size_head: also regress the object radius (pixels) at every
    location (read at the peaks). prior: initial centre probability of every pixel; the heatmap bias
    starts at log(prior / (1 - prior)) so early training is not dominated by the background
    (Lin et al. 2017; CenterNet uses -2.19, i.e. prior 0.1).
    """

    def __init__(self, in_channels: int = 1, dims: int = 2, width: int = 16, depth: int = 2,
                 kernel_size: int = 3, size_head: bool = False, prior: float = 0.01):
        super().__init__()
        self.dims = _dims(dims, "HeatmapDetector")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"HeatmapDetector: kernel_size must be odd, got {kernel_size}")
        if depth < 0 or width < 1:
            raise ValueError(f"HeatmapDetector: need depth >= 0 and width >= 1, got {depth}, {width}")
        Conv, _, MaxPool, _ = _LAYERS[dims]
        self.depth = depth
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_Block(dims, c_in, c_out, kernel_size)
                                   for c_in, c_out in zip([in_channels, *widths[:-1]], widths)])
        self.pool = MaxPool(2)
        self.up = nn.ModuleList([_Block(dims, widths[i] + widths[i + 1], widths[i], kernel_size)
                                 for i in reversed(range(depth))])
        self.heatmap = Conv(widths[0], 1, 1)
        self.heatmap.bias.data[...] = math.log(prior / (1.0 - prior))
        self.size = Conv(widths[0], 1, 1) if size_head else None

    def forward(self, x):
        spatial = tuple(x.shape[2:])
        if len(spatial) != self.dims:
            raise ValueError(f"HeatmapDetector: a {self.dims}D model needs input (N, C, {self.dims} sizes), "
                             f"got shape {tuple(x.shape)}")
        if any(s % 2**self.depth for s in spatial):
            raise ValueError(f"HeatmapDetector: spatial size {spatial} must be divisible by 2**depth = "
                             f"{2**self.depth}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(engine.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip], dim=1))
        logits = self.heatmap(x)
        if self.size is None:
            return logits
        return engine.cat([logits, self.size(x)], dim=1)


def gaussian_heatmap(shape, centres, sigmas, batch_index=None, batch_size: int | None = None) -> np.ndarray:
    """Training targets: (B, 1, *shape) float32, the pixel-wise maximum of Gaussian bumps at ``centres``.

    centres: (K, d) coordinates (array-axis order); sigmas: scalar or (K,) standard deviations (pixels);
    batch_index: (K,) which image each centre belongs to (default all in image 0). The pixel nearest to
    each centre is set to exactly 1 (the focal loss's positives). Computed per object over a box of
    +-3 sigma, vectorised over the box; the loop is over objects, not pixels.
    """
    shape = tuple(int(s) for s in shape)
    d = len(shape)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, d)
    k = centres.shape[0]
    sig = np.broadcast_to(np.asarray(sigmas, dtype=np.float64), (k,))
    bidx = np.zeros(k, np.int64) if batch_index is None else np.asarray(batch_index, dtype=np.int64)
    b = int(batch_size if batch_size is not None else (bidx.max() + 1 if k else 1))
    out = np.zeros((b, 1, *shape), dtype=np.float32)
    for c, s, bi in zip(centres, sig, bidx):
        r = int(math.ceil(3 * s))
        lo = np.maximum(np.floor(c).astype(int) - r, 0)
        hi = np.minimum(np.floor(c).astype(int) + r + 2, shape)
        axes = np.meshgrid(*[np.arange(a, z) for a, z in zip(lo, hi)], indexing="ij", sparse=True)
        g = np.exp(-sum((ax - ci) ** 2 for ax, ci in zip(axes, c)) / (2 * s * s))
        box = (bi, 0, *[slice(a, z) for a, z in zip(lo, hi)])
        out[box] = np.maximum(out[box], g)
        out[(bi, 0, *np.clip(np.round(c).astype(int), 0, np.array(shape) - 1))] = 1.0
    return out


def heatmap_peaks(heatmap, kernel_size: int = 3, threshold: float = 0.1):
    """Local maxima of a batch of heatmaps: NMS by max pooling, vectorised over batch and space.

    heatmap: (N, 1, *spatial) probabilities, a NumPy/CuPy array or a Tensor; a location is kept when it
    equals the maximum over its kernel_size neighbourhood (stride 1, -inf padding) and is >= threshold.
    Plateaus keep every tied location (as CenterNet). Returns host arrays (batch (P,) int64,
    coords (P, d) int64, scores (P,) float32), ordered by batch then position.
    """
    h = heatmap if isinstance(heatmap, engine.Tensor) else engine.Tensor(heatmap)
    dims = h.ndim - 2
    _dims(dims, "heatmap_peaks")
    if h.shape[1] != 1:
        raise ValueError(f"heatmap_peaks: expected (N, 1, *spatial), got shape {tuple(h.shape)}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"heatmap_peaks: kernel_size must be odd, got {kernel_size}")
    with engine.no_grad():
        pooled = _LAYERS[dims][3](h, kernel_size, stride=1, padding=kernel_size // 2)
    keep = (h.data == pooled.data) & (h.data >= threshold)
    idx = np.stack([asnumpy(a) for a in h._xp.nonzero(keep)], axis=1).astype(np.int64)  # (P, 2 + d)
    scores = asnumpy(h.data[keep]).astype(np.float32)
    return idx[:, 0], idx[:, 2:], scores
