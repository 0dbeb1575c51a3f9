"""Patches for dense tasks: random (foreground-biased) training patches and sliding-window inference.

Networks are trained on patches, because whole 512x512 images or 128^3 volumes do not fit a useful
batch in memory, and applied to whole images by sliding a window over them:

    positions: a grid of windows of size P per axis, spaced by the stride P (1 - overlap), the last
               window flush with the image's far edge (so every voxel is covered);
    output(x) = sum_w g_w(x) f(window_w)(x) / sum_w g_w(x),

where g is a Gaussian importance map centred on the window (standard deviation ``sigma_scale`` P),
so that predictions near a window's border, which saw less context, count less (nnU-Net; MONAI's
sliding_window_inference with mode="gaussian"). mode="constant" averages uniformly. Images smaller
than the window are padded (edge values) and the output is cropped back. Memory: the output and the
weight map, plus ``batch_size`` windows at a time.

Training patches (nnU-Net's sampling): each patch is a random window of the image; with probability
``foreground_fraction`` it is instead centred on a random foreground voxel (label > 0), so that small
structures are seen often enough. Extraction is one fancy-indexing gather for the whole batch.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["window_starts", "gaussian_importance", "sliding_window_inference", "PatchSampler", "PatchLoader"]


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start indices of windows of length ``patch`` covering ``size`` (size >= patch) with ``overlap``."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"window_starts: overlap must lie in [0, 1), got {overlap}")
    if size <= patch:
        return [0]
    stride = max(1, int(round(patch * (1.0 - overlap))))
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)  # the last window ends at the image's edge
    return starts


def gaussian_importance(patch_size, sigma_scale: float = 0.125, dtype=np.float32) -> np.ndarray:
    """Separable Gaussian (*patch_size) with maximum 1 and standard deviation sigma_scale * size per
    axis; values are floored at 1e-3 of the maximum so that no voxel gets a zero weight."""
    g = np.ones((), dtype=np.float64)
    for p in patch_size:
        x = np.arange(p) - (p - 1) / 2.0
        g = np.multiply.outer(g, np.exp(-0.5 * (x / (sigma_scale * p)) ** 2))
    g = g / g.max()
    return np.maximum(g, 1e-3).astype(dtype)


def sliding_window_inference(predict, image: np.ndarray, patch_size, out_channels: int, overlap: float = 0.5,
                             mode: str = "gaussian", sigma_scale: float = 0.125, batch_size: int = 4) -> np.ndarray:
    """Apply ``predict`` to windows of ``image`` and blend the results: (C, *S) -> (out_channels, *S).

    predict: (B, C, *patch_size) float32 host array -> (B, out_channels, *patch_size) array (for
    example softmax probabilities). patch_size: one size per spatial axis. The result is float32.
    """
    image = np.asarray(image, dtype=np.float32)
    spatial = image.shape[1:]
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) != len(spatial):
        raise ValueError(f"sliding_window_inference: patch_size {patch_size} has {len(patch_size)} axes, the image "
                         f"{image.shape} has {len(spatial)} spatial axes (image must be (C, *spatial))")
    if mode not in ("gaussian", "constant"):
        raise ValueError(f"sliding_window_inference: mode must be 'gaussian' or 'constant', got {mode!r}")
    pad = [(0, max(0, p - s)) for p, s in zip(patch_size, spatial)]
    if any(after for _, after in pad):
        image = np.pad(image, [(0, 0)] + pad, mode="edge")
    full = image.shape[1:]
    weight_patch = gaussian_importance(patch_size, sigma_scale) if mode == "gaussian" else np.ones(patch_size,
                                                                                                   np.float32)
    output = np.zeros((out_channels, *full), dtype=np.float32)
    weights = np.zeros(full, dtype=np.float32)
    corners = list(itertools.product(*[window_starts(s, p, overlap) for s, p in zip(full, patch_size)]))
    for b in range(0, len(corners), batch_size):  # a loop over windows (a handful), not voxels
        group = corners[b:b + batch_size]
        slices = [tuple(slice(c, c + p) for c, p in zip(corner, patch_size)) for corner in group]
        batch = np.stack([image[(slice(None),) + sl] for sl in slices])
        preds = np.asarray(predict(batch), dtype=np.float32)
        if preds.shape != (len(group), out_channels, *patch_size):
            raise ValueError(f"sliding_window_inference: predict returned shape {preds.shape}, expected "
                             f"{(len(group), out_channels, *patch_size)}")
        for sl, pred in zip(slices, preds):
            output[(slice(None),) + sl] += pred * weight_patch
            weights[sl] += weight_patch
    output /= weights
    return output[(slice(None),) + tuple(slice(0, s) for s in spatial)]


class PatchSampler:
    """Random patches of a list of images and label maps of possibly different sizes.

    images[i]: (C, *S_i) float32; labels[i]: (*S_i) int64. Images smaller than the patch are padded
    (edge values for images, 0 for labels). ``sample(n, rng)`` -> x (n, C, *patch), y (n, *patch).
    """

    def __init__(self, images, labels, patch_size, foreground_fraction: float = 0.33):
        if not 0.0 <= foreground_fraction <= 1.0:
            raise ValueError(f"PatchSampler: foreground_fraction must lie in [0, 1], got {foreground_fraction}")
        self.patch = tuple(int(p) for p in patch_size)
        self.foreground_fraction = foreground_fraction
        self.images, self.labels = [], []
        for im, lab in zip(images, labels):
            pad = [(0, max(0, p - s)) for p, s in zip(self.patch, lab.shape)]
            self.images.append(np.pad(im, [(0, 0)] + pad, mode="edge") if any(a for _, a in pad) else im)
            self.labels.append(np.pad(lab, pad) if any(a for _, a in pad) else lab)
        # foreground voxel coordinates of every image, concatenated, with per-image offsets
        fg = [np.argwhere(lab > 0) for lab in self.labels]
        self._fg = np.concatenate(fg) if fg else np.zeros((0, len(self.patch)), dtype=np.int64)
        self._fg_count = np.array([len(f) for f in fg])
        self._fg_offset = np.concatenate([[0], np.cumsum(self._fg_count)[:-1]]).astype(np.int64)
        self._shapes = np.array([lab.shape for lab in self.labels])  # (N, d)
        # images of one shape are stacked once, so a batch is a single gather
        self._same = len({lab.shape for lab in self.labels}) == 1
        if self._same:
            self._x = np.stack(self.images)
            self._y = np.stack(self.labels)

    def __len__(self):
        return len(self.labels)

    def _starts(self, which: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, patch = len(which), np.array(self.patch)
        high = self._shapes[which] - patch + 1  # (n, d) exclusive upper bound of a start
        starts = (rng.random((n, len(patch))) * high).astype(np.int64)
        want_fg = (rng.random(n) < self.foreground_fraction) & (self._fg_count[which] > 0)
        if want_fg.any():
            k = which[want_fg]
            pick = self._fg_offset[k] + (rng.random(len(k)) * self._fg_count[k]).astype(np.int64)
            centre = self._fg[pick]
            starts[want_fg] = np.clip(centre - patch // 2, 0, high[want_fg] - 1)
        return starts

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        which = rng.integers(0, len(self.labels), n)
        starts = self._starts(which, rng)
        if self._same:
            d = len(self.patch)
            # open index grids: (n, 1, ..) + (p_k,) per axis, broadcast to (n, *patch)
            grids = [(starts[:, k].reshape((-1,) + (1,) * d) +
                      np.arange(p).reshape((1,) + tuple(p if j == k else 1 for j in range(d))))
                     for k, p in enumerate(self.patch)]
            idx = which.reshape((-1,) + (1,) * d)
            y = self._y[(idx, *grids)]
            # the advanced indices around the channel slice put the patch axes first: (n, *patch, C)
            x = np.moveaxis(self._x[(idx, slice(None), *grids)], -1, 1)
            return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64)
        xs, ys = [], []
        for i, s in zip(which, starts):  # images of different sizes: one slice each
            sl = tuple(slice(a, a + p) for a, p in zip(s, self.patch))
            xs.append(self.images[i][(slice(None),) + sl])
            ys.append(self.labels[i][sl])
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.int64)


class PatchLoader:
    """An epoch of ``n_batches`` random patch batches (x, y), reproducible from (seed, epoch).

    Re-iterable (each pass is the next epoch) with ``state_dict``/``load_state_dict``, so a resumed
    run draws the same patches as an uninterrupted one.
    """

    def __init__(self, sampler: PatchSampler, batch_size: int, n_batches: int, seed: int = 0, transform=None):
        self.sampler, self.batch_size, self.n_batches = sampler, int(batch_size), int(n_batches)
        self.seed, self.epoch, self.transform = int(seed), 0, transform

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for _ in range(self.n_batches):
            x, y = self.sampler.sample(self.batch_size, rng)
            if self.transform is not None:
                x, y = self.transform(x, y, rng)
            yield x, y

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
